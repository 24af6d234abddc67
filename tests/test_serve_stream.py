"""The server reaches its engine through the Engine interface only, against the real uvicorn server on
loopback: a streamed request is the engine's `stream`, a plain one its `predict`, a request's max_tokens
arrives on its query (no shared setting changes), and a client that leaves mid-stream stops the stream."""

import json
import threading
from dataclasses import dataclass

import httpx

from chemvlm.engines import Engine, Query
from chemvlm.record import Prediction
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve.background import serving
from chemvlm.spec import ModelSpec

WORDS = ["Ethanol", " is", " CCO", "."]


@dataclass(frozen=True)
class ScriptOptions:
    max_new_tokens: int = 100  # a shared setting that no request may change


class Scripted(Engine):
    """Answers every question with WORDS; streams them one by one, or forever when asked `forever`."""

    name = "scripted"
    Options = ScriptOptions
    streams_tokens = True

    def __init__(self):
        super().__init__(ModelSpec("osra", text="scripted"))
        self.budgets: list = []  # max_tokens of every query seen
        self.closed = threading.Event()  # a stream was stopped before its end

    def _record(self, query: Query, answer: str) -> Prediction:
        return Prediction.from_answer(id=query.id, image=query.image_label, question=query.question, answer=answer,
                                      engine=self.name, model="scripted", seconds=0.0)

    def predict(self, queries):
        self.budgets += [q.max_tokens for q in queries]
        return [self._record(q, "".join(WORDS)) for q in queries]

    def stream(self, query):
        self.budgets.append(query.max_tokens)
        try:
            while True:
                yield from WORDS
                if query.question != "forever":
                    return self._record(query, "".join(WORDS))
        except GeneratorExit:
            self.closed.set()
            raise


def ask(url: str, question: str, **extra) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": question}], **extra}


def streamed(url: str, payload: dict) -> tuple[list[str], dict]:
    """The content pieces of a streamed answer and its last chunk."""
    pieces, last = [], None
    with httpx.stream("POST", url + "/v1/chat/completions", json=payload, timeout=30) as reply:
        for line in reply.iter_lines():
            if line.startswith("data: {"):
                last = json.loads(line[len("data: "):])
                pieces.append(last["choices"][0]["delta"].get("content") or "")
    return [p for p in pieces if p], last


def test_streamed_requests_are_the_engines_stream_and_plain_ones_its_predict():
    engine = Scripted()
    with serving(create_app(engine, ServeConfig(model_name="m"))) as url:
        plain = httpx.post(url + "/v1/chat/completions", json=ask(url, "what?", max_tokens=7), timeout=30).json()
        pieces, last = streamed(url, ask(url, "what?", max_tokens=9, stream=True))
        default = httpx.post(url + "/v1/chat/completions", json=ask(url, "what?"), timeout=30).json()
    assert pieces == WORDS  # piece by piece, as the engine gave them
    assert "".join(pieces) == plain["choices"][0]["message"]["content"] == "Ethanol is CCO."
    assert last["choices"][0]["finish_reason"] == "stop" and last["chemistry"]["canonical_smiles"] == "CCO"
    assert default["choices"][0]["message"]["content"] == "Ethanol is CCO."
    assert engine.budgets == [7, 9, 256]  # each request's own budget (256: the server's default)
    assert engine.options == ScriptOptions()  # the server changed no shared setting


def test_a_client_that_leaves_mid_stream_stops_the_engines_stream():
    engine = Scripted()
    with serving(create_app(engine, ServeConfig(model_name="m"))) as url:
        with httpx.stream("POST", url + "/v1/chat/completions", json=ask(url, "forever", stream=True),
                          timeout=30) as reply:
            lines = reply.iter_lines()
            while "Ethanol" not in next(lines):  # the answer is coming; the client leaves
                pass
        assert engine.closed.wait(10)
        # the engine is free again for the next request
        assert httpx.post(url + "/v1/chat/completions", json=ask(url, "what?"), timeout=30).status_code == 200
