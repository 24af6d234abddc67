"""The OpenAI-compatible API, through the official `openai` client and raw HTTP, against the real
uvicorn server on loopback: osra for real recognition, the tiny model for token streaming."""

import base64
import http.server
import io
import json
import re
import signal
import subprocess
import sys
import threading
from functools import partial

import httpx
import openai
import pytest
from PIL import Image

from chemvlm.engines import load_engine
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve.background import serving

EXAMPLE = "examples/uspto-US07314934-C00124.png"
CANONICAL = "CSc1nc(-c2ccccc2F)c2ccc(=O)n(C)c2n1"
KEY = "test-key"


def data_url(raw: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(raw).decode()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def example_url(request) -> str:
    return data_url((request.config.rootpath / EXAMPLE).read_bytes())


def user(text: str, *images: str) -> list[dict]:
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return [{"role": "user", "content": parts + [{"type": "text", "text": text}]}]


@pytest.fixture(scope="module")
def osra_url():
    config = ServeConfig(model_name="osra", api_key=KEY, max_images=2, max_pixels=2_000_000,
                         max_body_bytes=3_000_000, max_tokens=64)
    with serving(create_app(load_engine("osra"), config)) as url:
        yield url


@pytest.fixture(scope="module")
def client(osra_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=osra_url + "/v1", api_key=KEY, max_retries=0)


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list()] == ["osra"]


def test_answer_names_the_structure_and_the_chemistry_extension_describes_it(client, example_url):
    reply = client.chat.completions.create(model="osra", messages=user("What is this molecule?", example_url))
    assert CANONICAL in reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    chem = reply.chemistry
    assert chem["canonical_smiles"] == CANONICAL and chem["valid"] is True
    assert chem["formula"] == "C15H12FN3OS" and chem["inchikey"] == "UZUXRXGWSAQAEQ-UHFFFAOYSA-N"
    assert abs(chem["molecular_weight"] - 301.35) < 0.01
    assert "<svg" in chem["svg"] and "</svg>" in chem["svg"]


def test_chinese_question_gets_the_engines_chinese_answer(client, example_url, request):
    reply = client.chat.completions.create(model="osra", messages=user("这是什么分子？", example_url))
    answer = reply.choices[0].message.content
    assert f"按SMILES来说是 {CANONICAL}。分子式 C15H12FN3OS，分子量 301.35 g/mol" in answer
    from chemvlm.engines import Query

    direct = load_engine("osra").predict([Query("1", [str(request.config.rootpath / EXAMPLE)], "这是什么分子？")])[0]
    assert answer == direct.answer and reply.chemistry["canonical_smiles"] == direct.canonical == CANONICAL


def test_follow_up_question_refers_to_the_earlier_image(client, example_url):
    messages = user("What is this?", example_url) + [{"role": "assistant", "content": "A molecule."},
                                                      {"role": "user", "content": "And its formula?"}]
    reply = client.chat.completions.create(model="osra", messages=messages)
    assert reply.chemistry["formula"] == "C15H12FN3OS"


def test_stream_gives_the_same_answer_and_ends_with_the_chemistry(client, example_url):
    plain = client.chat.completions.create(model="osra", messages=user("SMILES?", example_url))
    chunks = list(client.chat.completions.create(model="osra", messages=user("SMILES?", example_url), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].chemistry["canonical_smiles"] == CANONICAL


def test_api_key_is_checked_on_every_route_but_health(osra_url, example_url):
    wrong = openai.OpenAI(base_url=osra_url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="API key"):
        wrong.models.list()
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="osra", messages=user("SMILES?", example_url))
    bare = httpx.post(osra_url + "/v1/chat/completions", json={"model": "osra", "messages": user("x", example_url)})
    assert bare.status_code == 401 and "Authorization: Bearer" in bare.json()["error"]["message"]
    assert httpx.get(osra_url + "/health").json()["status"] == "ok"


def _bad_requests(example):
    huge = data_url(png(2000, 1500))  # 3 MP, over the 2 MP limit of the test server
    ask = lambda *images, **extra: {"model": "osra", "messages": user("SMILES?", *images), **extra}  # noqa: E731
    return {
        "file path": (ask("/etc/passwd"), 400, "messages[0].content[0].image_url: file paths"),
        "file URL": (ask("file:///etc/hostname"), 400, "file paths"),
        "remote URL": (ask("https://example.org/a.png"), 400, "remote image URLs are disabled"),
        "not an image": (ask(data_url(b"hello world")), 400, "messages[0].content[0].image_url: data:image"),
        "bad base64": (ask("data:image/png;base64,@@@"), 400, "bad base64"),
        "too many pixels": (ask(huge), 400, "2000x1500 pixels is over the limit"),
        "too many images": (ask(example, example, example), 400, "3 images is over the limit of 2"),
        "two images for osra": (ask(example, example), 422, "per question, got 2"),
        "max_tokens": (ask(example, max_tokens=65), 400, "max_tokens: 65 is outside 1..64"),
        "unknown model": ({**ask(example), "model": "gpt-4o"}, 404, "'gpt-4o' is not served here"),
        "n": (ask(example, n=2), 400, "n: only n=1"),
        "no messages": ({"model": "osra"}, 400, "messages: Field required"),
        "bad role": ({"model": "osra", "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role"),
        "last is assistant": ({"model": "osra", "messages": [{"role": "assistant", "content": "x"}]}, 400,
                              "the last message must be the user's question"),
        "part type": ({"model": "osra", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}, 400,
                      "messages[0].content[0].type: 'audio' is not supported"),
        "empty question": ({"model": "osra", "messages": [{"role": "user", "content": " "}]}, 400, "question is empty"),
    }


@pytest.mark.parametrize("case", list(_bad_requests("x")))
def test_bad_request_gets_a_one_line_json_error_naming_the_input(osra_url, example_url, case):
    body, status, message = _bad_requests(example_url)[case]
    response = httpx.post(osra_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"] and "\n" not in error["message"]


@pytest.mark.parametrize("body,status,message", [
    (b"{not json", 400, "JSON"),
    (b"x" * 3_100_000, 413, "over the limit of 3000000 bytes"),
    (b"[]", 400, "body"),
])
def test_unreadable_or_oversized_body(osra_url, body, status, message):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    response = httpx.post(osra_url + "/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_a_body_not_declared_json_gets_one_line_naming_the_header(osra_url, content_type):
    # curl -d sends a form type; a bare fetch() sends none. The server does not guess (see docs/serve.md).
    body = json.dumps({"model": "gpt-4o", "messages": user("SMILES?")})
    headers = {"Authorization": f"Bearer {KEY}", **({"Content-Type": content_type} if content_type else {})}
    response = httpx.post(osra_url + "/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == 415
    message = response.json()["error"]["message"]
    assert message.startswith("Content-Type: send the body as JSON with the header 'Content-Type: application/json'")
    assert (content_type or "no Content-Type") in message and "\n" not in message
    headers["Content-Type"] = "application/json; charset=utf-8"  # the same body declared JSON gets past it
    assert httpx.post(osra_url + "/v1/chat/completions", content=body, headers=headers).status_code == 404


def test_chunked_body_without_length_is_cut_at_the_limit(osra_url):
    chunks = (b"x" * 100_000 for _ in range(40))  # 4 MB with no Content-Length
    response = httpx.post(osra_url + "/v1/chat/completions", content=chunks, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 413 and "over the limit of 3000000 bytes" in response.json()["error"]["message"]


def test_unknown_route_is_a_json_404(osra_url):
    response = httpx.get(osra_url + "/v1/nothing", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404 and "/v1/nothing" in response.json()["error"]["message"]


def test_remote_images_are_fetched_only_when_enabled(request):
    root = request.config.rootpath / "examples"
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{files.server_address[1]}"
    try:
        config = ServeConfig(model_name="osra", allow_remote_images=True)
        with serving(create_app(load_engine("osra"), config)) as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
            reply = client.chat.completions.create(model="osra", messages=user("SMILES?", f"{base}/uspto-US07314934-C00124.png"))
            assert reply.chemistry["canonical_smiles"] == CANONICAL
            with pytest.raises(openai.BadRequestError, match="HTTP 404"):
                client.chat.completions.create(model="osra", messages=user("SMILES?", f"{base}/missing.png"))
            with pytest.raises(openai.BadRequestError, match="file paths"):
                client.chat.completions.create(model="osra", messages=user("SMILES?", str(root / "x.png")))
    finally:
        files.shutdown()


# ---- the local model: token streaming ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_client(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-checkpoint")
    tiny.save_pretrained(path)
    engine = load_engine(str(path), max_tiles=1)
    with serving(create_app(engine, ServeConfig(model_name="tiny", max_tokens=12))) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def test_local_model_streams_token_by_token_and_matches_the_plain_answer(tiny_client, example_url):
    messages = user("What is this molecule?", example_url)
    plain = tiny_client.chat.completions.create(model="tiny", messages=messages, max_tokens=12)
    chunks = list(tiny_client.chat.completions.create(model="tiny", messages=messages, max_tokens=12, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 1  # streamed in pieces, not sent whole at the end
    assert "".join(pieces) == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop" and "chemistry" in chunks[-1].model_extra


def test_local_model_answers_a_question_without_image(tiny_client):
    reply = tiny_client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "What is benzene?"}],
                                                max_tokens=4)
    assert reply.choices[0].message.role == "assistant"
    assert reply.chemistry["engine"] == "chemvlm"


# ---- the command --------------------------------------------------------------------------------------------

def test_serve_command_runs_the_server_until_interrupted():
    command = [sys.executable, "-m", "chemvlm", "serve", "--model", "osra", "--port", "0", "--api-key", "k"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not (match := re.search(r"running on (http://127\.0\.0\.1:\d+)", "".join(lines))):
            line = server.stderr.readline()
            assert line, "the server exited: " + "".join(lines)
            lines.append(line)
        url = match.group(1)
        assert httpx.get(url + "/health").json()["engine"] == "osra"
        assert httpx.get(url + "/v1/models").status_code == 401
        assert httpx.get(url + "/v1/models", headers={"Authorization": "Bearer k"}).json()["data"][0]["id"] == "osra"
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()


def test_serve_command_refuses_a_bad_model_spec_in_one_line():
    done = subprocess.run([sys.executable, "-m", "chemvlm", "serve", "--model", "no-such-model"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "no-such-model" in done.stderr and "Traceback" not in done.stderr


def test_earlier_turns_reach_the_model_as_history(tiny_client, tiny, example_url, request):
    image = (request.config.rootpath / EXAMPLE).read_bytes()
    messages = user("What is this molecule?", example_url) + [
        {"role": "assistant", "content": "CCO"}, {"role": "user", "content": "And its formula?"}]
    for stream in (False, True):
        reply = tiny_client.chat.completions.create(model="tiny", messages=messages, max_tokens=12, stream=stream)
        text = reply.choices[0].message.content if not stream else "".join(
            c.choices[0].delta.content or "" for c in reply).strip()
        expected = tiny.ask(image, "And its formula?", history=[("What is this molecule?", "CCO")], max_new_tokens=12, max_tiles=1)
        assert text == expected.text
    without = tiny.ask(image, "And its formula?", max_new_tokens=12, max_tiles=1)
    assert without.text != expected.text  # the history changes the prompt the model sees


# ---- the bundled structure reader: the streamed answer is the plain answer ----------------------------------

@pytest.fixture(scope="module")
def mini_engine():
    return load_engine("chemvlm-mini")


@pytest.fixture(scope="module")
def mini_client(mini_engine):
    with serving(create_app(mini_engine, ServeConfig(model_name="chemvlm-mini"))) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def ask_both_ways(client, messages) -> tuple[str, str, dict]:
    """(plain answer, streamed answer, the stream's chemistry) of one question to the server."""
    plain = client.chat.completions.create(model="chemvlm-mini", messages=messages)
    chunks = list(client.chat.completions.create(model="chemvlm-mini", messages=messages, stream=True))
    return plain.choices[0].message.content, "".join(c.choices[0].delta.content or "" for c in chunks), \
        chunks[-1].chemistry


# A real patent drawing (JPO) the bundled model reads as a SMILES, and the USPTO example, of which it is unsure.
JPO = "tests/fixtures/ocsr/2008056680_159_chem.png"


def test_on_real_images_the_bundled_model_streams_the_plain_answer_of_its_engine(mini_client, mini_engine, request):
    from chemvlm.chem import describe
    from chemvlm.engines import Query

    for image, question in ((JPO, "What is this molecule?"), (JPO, "这是什么分子？"), (EXAMPLE, "What is this molecule?")):
        path = request.config.rootpath / image
        plain, streamed, chemistry = ask_both_ways(mini_client, user(question, data_url(path.read_bytes())))
        direct = mini_engine.predict([Query("1", [str(path)], question)])[0]
        assert streamed == plain == direct.answer
        assert chemistry.get("canonical_smiles") == direct.canonical
        if image == JPO:  # a valid SMILES, checked and explained by RDKit
            assert direct.valid and describe(direct.smiles).formula in plain and direct.canonical in plain
        else:  # below the likelihood threshold: no structure, and none invented
            assert not direct.valid and "the model is unsure of what it read" in plain


def test_the_bundled_model_streams_the_same_checked_answer_as_the_plain_api(mini_client):
    from chemvlm.chem import draw_molecule

    drawing = data_url(draw_molecule("CC(C)Cc1ccc(cc1)C(C)C(=O)O", size=(300, 300)))  # a clean drawing it reads
    messages = user("What is this molecule?", drawing)
    plain = mini_client.chat.completions.create(model="chemvlm-mini", messages=messages)
    chunks = list(mini_client.chat.completions.create(model="chemvlm-mini", messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == plain.choices[0].message.content
    assert "CC(C)Cc1ccc(C(C)C(=O)O)cc1" in streamed and "C13H18O2" in streamed  # RDKit-checked and explained
    assert chunks[-1].chemistry["canonical_smiles"] == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"


def test_a_text_only_question_to_a_structure_reader_gets_no_invented_structure(mini_client):
    reply = mini_client.chat.completions.create(
        model="chemvlm-mini", messages=[{"role": "user", "content": "What is the SMILES of ethanol?"}])
    assert "no image" in reply.choices[0].message.content.lower()
    assert not reply.chemistry.get("canonical_smiles")
