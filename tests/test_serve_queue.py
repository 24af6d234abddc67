"""The queue's deadlines and admission, against the real uvicorn server on loopback, with an engine the test
holds busy (a gate), so that what the server computes is known exactly: a client that leaves or waits past
the deadline is never computed, an overloaded server refuses at once by the expected wait, and images are
decoded only for admitted requests, in their batch."""

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from chemvlm.engines import Engine
from chemvlm.record import Prediction
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve import images as serve_images
from chemvlm.serve.background import serving
from chemvlm.spec import ModelSpec


class GatedEngine(Engine):
    """Answers each question with its own text; a call waits until the test opens the gate."""

    name = "gated"

    def __init__(self):
        super().__init__(ModelSpec("osra", text="gated"))
        self.gate = threading.Event()
        self.busy = threading.Event()  # set when a call has begun
        self.seen: list[str] = []  # the questions computed, in order
        self.calls: list[int] = []  # items per call

    def predict(self, queries):
        self.seen += [q.question for q in queries]
        self.calls.append(len(queries))
        self.busy.set()
        assert self.gate.wait(20), "the test never opened the gate"
        return [Prediction.from_answer(id=q.id, image=q.image_label, question=q.question, smiles="",
                                       answer=f"answer to {q.question}", engine=self.name, model="gated", seconds=0.0)
                for q in queries]


def png(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, "PNG")
    return buffer.getvalue()


def body(question: str, images: int = 1, raw: bytes | None = None, **extra) -> dict:
    url = "data:image/png;base64," + base64.b64encode(raw or png()).decode()
    parts = [{"type": "image_url", "image_url": {"url": url}} for _ in range(images)]
    messages = [{"role": "user", "content": parts + [{"type": "text", "text": question}]}]
    return {"model": "m", "messages": messages, **extra}


def health(url: str) -> dict:
    return httpx.get(url + "/health").json()


def until(condition, url: str, seconds: float = 10.0) -> dict:
    """/health once `condition(health)` holds (polled; fails after `seconds`)."""
    deadline = time.monotonic() + seconds
    while not condition(state := health(url)):
        assert time.monotonic() < deadline, state
        time.sleep(0.02)
    return state


@pytest.fixture
def gated():
    engine = GatedEngine()
    yield engine
    engine.gate.set()  # never leave the server's engine thread waiting


def post(url: str, payload: dict, timeout: float = 30.0) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=payload, timeout=timeout)


def test_a_client_that_leaves_while_queued_is_never_computed(gated):
    with serving(create_app(gated, ServeConfig(model_name="m", batch_size=1))) as url, ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, url, body("first"))
        assert gated.busy.wait(10)
        with pytest.raises(httpx.ReadTimeout):  # queued behind "first"; the client gives up
            post(url, body("second"), timeout=0.3)
        until(lambda h: h["withdrawn"] == 1 and h["queued"] == 0, url)
        gated.gate.set()
        assert first.result().json()["choices"][0]["message"]["content"] == "answer to first"
        state = health(url)
    assert gated.seen == ["first"]
    assert state["batched_requests"] == state["answered"] == 1 and state["abandoned"] == 0


def test_a_stream_whose_client_leaves_while_queued_is_never_computed(gated):
    with serving(create_app(gated, ServeConfig(model_name="m", batch_size=1))) as url, ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, url, body("first"))
        assert gated.busy.wait(10)
        with httpx.stream("POST", url + "/v1/chat/completions", json=body("second", stream=True), timeout=30) as reply:
            assert next(reply.iter_lines()).startswith("data: ")  # the stream began; the client leaves
        until(lambda h: h["withdrawn"] == 1, url)
        gated.gate.set()
        assert first.result().status_code == 200
    assert gated.seen == ["first"]


def test_a_request_still_queued_at_its_deadline_gets_429_and_is_never_computed(gated):
    config = ServeConfig(model_name="m", batch_size=1, queue_timeout=0.5)
    with serving(create_app(gated, config)) as url, ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, url, body("first"))
        assert gated.busy.wait(10)
        late = post(url, body("second"))
        assert late.status_code == 429 and int(late.headers["Retry-After"]) >= 1
        assert "waited 0.5 s without reaching the engine" in late.json()["error"]["message"]
        gated.gate.set()
        assert first.result().status_code == 200
        state = health(url)
    assert gated.seen == ["first"] and state["expired"] == 1


def test_an_overloaded_server_refuses_at_once_by_the_expected_wait(gated):
    # The engine's measured pace is >= 1 s an item; with one item just started a newcomer would wait
    # about that long, over the 0.3-s deadline: refused on arrival, not after waiting.
    config = ServeConfig(model_name="m", batch_size=1, queue_timeout=0.3)
    with serving(create_app(gated, config)) as url, ThreadPoolExecutor(2) as pool:
        warm = pool.submit(post, url, body("warm-up"))
        assert gated.busy.wait(10)
        time.sleep(1.0)
        gated.gate.set()
        assert warm.result().status_code == 200 and health(url)["seconds_per_item"] >= 1.0
        gated.gate.clear()
        gated.busy.clear()
        first = pool.submit(post, url, body("first"))
        assert gated.busy.wait(10)
        refused = post(url, body("second"))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "the expected wait" in refused.json()["error"]["message"]
        gated.gate.set()
        assert first.result().status_code == 200
        state = health(url)
    assert gated.seen == ["warm-up", "first"] and state["rejected"] == 1 and state["expired"] == 0


def test_images_are_decoded_only_for_admitted_requests_in_their_batch(gated, monkeypatch):
    decoded = []
    real = serve_images.load_image
    monkeypatch.setattr(serve_images, "load_image", lambda data, **kw: decoded.append(len(data)) or real(data, **kw))
    config = ServeConfig(model_name="m", batch_size=1, queue_size=2, max_pixels=16_000_000)
    big = png(3999, 3999)  # 16 MP, 48 MB of pixels, a few kB encoded
    with serving(create_app(gated, config)) as url, ThreadPoolExecutor(3) as pool:
        first = pool.submit(post, url, body("first"))
        assert gated.busy.wait(10)
        queued = [pool.submit(post, url, body(f"queued {i}", images=4, raw=big)) for i in range(2)]
        until(lambda h: h["queued"] == 2, url)
        assert len(decoded) == 1  # only the image of the request in the engine
        refused = post(url, body("refused", images=4, raw=big))
        assert refused.status_code == 429 and len(decoded) == 1  # refused without decoding
        gated.gate.set()
        assert first.result().status_code == 200 and all(q.result().status_code == 200 for q in queued)
    assert len(decoded) == 1 + 2 * 4


def test_huge_requests_reach_the_engine_one_at_a_time_and_small_ones_together(gated):
    # A batch holds the pixels of one largest request (here 4 images of 1 MP): decoded memory stays that of
    # one request however large the batch size, and small pictures still share a call.
    config = ServeConfig(model_name="m", batch_size=4, max_pixels=1_000_000, max_images=4)
    big = png(1000, 1000)
    with serving(create_app(gated, config)) as url, ThreadPoolExecutor(5) as pool:
        first = pool.submit(post, url, body("first"))
        assert gated.busy.wait(10)
        queued = []
        for i, payload in enumerate([body("big 1", 4, big), body("big 2", 4, big), body("small 1"), body("small 2")]):
            queued.append(pool.submit(post, url, payload))
            until(lambda h, n=i + 1: h["queued"] == n, url)  # in this order
        gated.gate.set()
        assert all(f.result().status_code == 200 for f in [first, *queued])
    assert gated.seen == ["first", "big 1", "big 2", "small 1", "small 2"]
    assert gated.calls == [1, 1, 1, 2]


def test_an_image_that_fails_to_decode_after_admission_is_a_400_naming_it(gated):
    gated.gate.set()
    broken = png(300, 300)[:-60]  # the header is fine, the pixels are cut short
    with serving(create_app(gated, ServeConfig(model_name="m"))) as url:
        reply = post(url, body("what?", raw=broken))
    assert reply.status_code == 400
    message = reply.json()["error"]["message"]
    assert message.startswith("messages[0].content[0].image_url: ") and "\n" not in message
    assert gated.seen == []
