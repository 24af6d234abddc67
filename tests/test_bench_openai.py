"""The OpenAI-compatible engine and the LLM judge against a real HTTP server on the loopback interface."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chemvlm.bench.items import BenchItem
from chemvlm.bench.judge import Judge, parse_verdict
from chemvlm.bench.scoring import score
from chemvlm.engines import EngineError, Query, load_engine
from chemvlm.engines.openai import ServerUnreachable
from chemvlm.record import Prediction


class ChatServer:
    """A chat-completions server on 127.0.0.1 (random port); `reply(body) -> (status, text)` answers."""

    def __init__(self, reply, models=("served-model",)):
        self.reply, self.models, self.requests = reply, models, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, payload) -> None:
                data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                status, text = server.reply(body)
                if status != 200:
                    return self._send(status, {"error": {"message": text}})
                self._send(200, {"id": "c", "object": "chat.completion", "model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def text_of(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else next(p["text"] for p in content if p["type"] == "text")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_engine_sends_images_and_key_and_reads_answers(molecule_png, monkeypatch):
    monkeypatch.setenv("CHEMVLM_API_KEY", "secret-key")
    answers = {"first": "The SMILES representation is CC(=O)Oc1ccccc1C(=O)O.", "second": "按SMILES来说是 CCO。"}
    with ChatServer(lambda body: (200, answers[text_of(body)])) as server:
        engine = load_engine(f"openai:{server.url}#served-model", concurrency=2)
        out = engine.predict([Query("1", [molecule_png], "first"), Query("2", [molecule_png], "second")])
    assert [p.canonical for p in out] == ["CC(=O)Oc1ccccc1C(=O)O", "CCO"] and [p.id for p in out] == ["1", "2"]
    assert all(p.engine == "openai" and p.error is None for p in out)
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer secret-key"
    assert request["body"]["model"] == "served-model" and request["body"]["temperature"] == 0.0
    image = request["body"]["messages"][0]["content"][0]["image_url"]["url"]
    assert image.startswith("data:image/png;base64,")


def test_model_name_comes_from_the_server_when_not_given(monkeypatch):
    monkeypatch.delenv("CHEMVLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer(lambda body: (200, "ok"), models=("vllm-served",)) as server:
        engine = load_engine(f"openai:{server.url}")
        engine.predict([Query("1", [], "hello")])
    assert server.requests[0]["body"]["model"] == "vllm-served" and server.requests[0]["auth"] is None


def test_transient_errors_are_retried_and_client_errors_are_recorded():
    calls = []

    def flaky(body):
        calls.append(1)
        if text_of(body) == "bad":
            return 400, "unsupported"
        return (503, "busy") if len(calls) < 3 else (200, "CCO")

    with ChatServer(flaky) as server:
        engine = load_engine(f"openai:{server.url}#m", retries=3, backoff=0.01, concurrency=1)
        good = engine.predict([Query("1", [], "good")])[0]
        bad = engine.predict([Query("2", [], "bad")])[0]
    assert good.answer == "CCO" and len(calls) == 4  # two 503s, then the answer; the 400 is not retried
    assert bad.error and "HTTP 400" in bad.error and not bad.valid


def test_unreachable_server_is_one_clear_error():
    engine = load_engine(f"openai:http://127.0.0.1:{free_port()}/v1#m", retries=1, backoff=0.01)
    with pytest.raises(ServerUnreachable) as info:
        engine.predict([Query("1", [], "q")])
    assert isinstance(info.value, EngineError)
    message = str(info.value)
    assert "cannot connect" in message and "2 attempts" in message and "\n" not in message


def test_unreadable_image_is_a_failed_item_not_a_crash(tmp_path):
    with ChatServer(lambda body: (200, "CCO")) as server:
        engine = load_engine(f"openai:{server.url}#m")
        out = engine.predict([Query("1", [str(tmp_path / "missing.png")], "q")])
    assert out[0].error and "missing.png" in out[0].error and server.requests == []


def judge_reply(body):
    """Plays the judge: CORRECT when the student's final answer equals the reference answer."""
    prompt = text_of(body)
    reference = re.search(r"Reference answer:\n(.*?)\n\n", prompt, re.S).group(1).strip()
    student = re.search(r"Student's answer:\n(.*?)\n\nReply", prompt, re.S).group(1).strip()
    return 200, "CORRECT" if student.endswith(reference) else "INCORRECT."


def test_judge_scores_free_form_answers_through_the_server():
    items = [BenchItem(id=str(n), question=f"q{n}", answer=a, kind="free", analysis="because")
             for n, a in enumerate(["28.6", "H2O", "NaCl"])]
    answers = ["计算得 28.6", "CO2", ""]
    predictions = [Prediction.from_answer(id=i.id, image="", question=i.question, answer=a, engine="x",
                                          model="x", seconds=0) for i, a in zip(items, answers)]
    with ChatServer(judge_reply) as server:
        result = score(items, predictions, judge=Judge(f"openai:{server.url}#judge"))
    assert result["free"]["overall"] == {"n": 3, "accuracy": 33.33, "unjudged": 0}
    assert result["judge"].endswith("#judge")
    assert "Reference explanation:\nbecause" in text_of(server.requests[0]["body"])


def test_verdict_words():
    assert parse_verdict("CORRECT") is True and parse_verdict("incorrect.") is False
    assert parse_verdict("正确") is True and parse_verdict("不正确") is False and parse_verdict("hmm") is None
