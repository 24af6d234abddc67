"""Any OpenAI-compatible chat-completions server (vLLM, lmdeploy, GPT-4o) as an engine, over httpx.

Images travel as base64 PNG data URLs. The API key comes from the environment (CHEMVLM_API_KEY, then
OPENAI_API_KEY, or a variable the caller names). Transient failures (connection errors, timeouts, 429,
5xx) are retried with exponential back-off; a server that stays unreachable stops the run with one line.
"""

from __future__ import annotations

import base64
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from chemvlm.engines.base import Engine, EngineError, Query
from chemvlm.record import Prediction

KEY_VARIABLES = ("CHEMVLM_API_KEY", "OPENAI_API_KEY")
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class ServerUnreachable(EngineError):
    """No answer from the server at all: every later item would fail the same way, so the run stops."""


def image_url(image) -> str:
    """A data URL for any image the loader accepts; data URLs pass through unchanged."""
    if isinstance(image, str) and image.startswith("data:"):
        return image
    from chemvlm.vision import (
        load_image,  # only when there is an image: the vision package loads torch
    )

    buffer = io.BytesIO()
    load_image(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def user_message(question: str, images: list) -> dict:
    content = [{"type": "image_url", "image_url": {"url": image_url(i)}} for i in images]
    content.append({"type": "text", "text": question})
    return {"role": "user", "content": content}


@dataclass(frozen=True)
class OpenAIOptions:
    api_key: str | None = None  # else from the environment: api_key_env, then KEY_VARIABLES
    api_key_env: str | None = None
    concurrency: int = 4  # requests at once
    retries: int = 3  # of a transient failure, with exponential back-off
    timeout: float = 120.0  # seconds per request
    backoff: float = 1.0  # seconds before the first retry
    max_tokens: int = 1024  # longest answer, unless a query sets its own
    temperature: float = 0.0  # greedy, as the paper evaluates


class OpenAIEngine(Engine):
    name = "openai"
    Options = OpenAIOptions

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        options = self.options
        self.base_url = spec.target
        variables = (options.api_key_env,) + KEY_VARIABLES if options.api_key_env else KEY_VARIABLES
        self.api_key = options.api_key or next((os.environ[v] for v in variables if os.environ.get(v)), None)
        self.retries, self.backoff = max(0, options.retries), options.backoff
        self.max_tokens, self.temperature = options.max_tokens, options.temperature
        self.batch_size = max(1, options.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=options.timeout)
        self._model = spec.model

    @property
    def model(self) -> str:
        """The served model: from the spec (`openai:URL#MODEL`), else the server's first listed model."""
        if self._model is None:
            models = self._request("GET", "/models").get("data") or []
            if not models:
                raise EngineError(f"{self.base_url}: the server lists no models; name one as openai:URL#MODEL")
            self._model = models[0]["id"]
        return self._model

    def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        error, unreachable = "no attempt", False
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self.client.request(method, path, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                error, unreachable = f"cannot connect ({err})", True
                continue
            except httpx.TimeoutException:
                error, unreachable = f"no answer within {self.client.timeout.read:g} s", False
                continue
            except httpx.HTTPError as err:
                error, unreachable = f"{type(err).__name__}: {err}", False
                continue
            if response.status_code in _RETRY_STATUS:
                error, unreachable = f"HTTP {response.status_code}: {response.text[:200]}", False
                continue
            if response.status_code >= 400:
                raise EngineError(f"{self.base_url}{path}: HTTP {response.status_code}: {response.text[:200]}")
            try:
                return response.json()
            except ValueError:
                raise EngineError(f"{self.base_url}{path}: the answer is not JSON: {response.text[:100]!r}") from None
        kind = ServerUnreachable if unreachable else EngineError
        raise kind(f"{self.base_url}: {error} after {self.retries + 1} attempts")

    def chat(self, messages: list[dict], max_tokens: int | None = None) -> str:
        """The assistant's text for one conversation."""
        payload = {"model": self.model, "messages": messages, "temperature": self.temperature,
                   "max_tokens": max_tokens or self.max_tokens}
        answer = self._request("POST", "/chat/completions", payload)
        try:
            return answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise EngineError(f"{self.base_url}: not a chat-completions answer: {str(answer)[:100]}") from None

    def _one(self, query: Query) -> Prediction:
        start = time.perf_counter()
        try:
            earlier = [{"role": role, "content": text} for q, a in query.history for role, text in (("user", q), ("assistant", a))]
            text = self.chat(earlier + [user_message(query.question, query.images)], query.max_tokens)
        except ServerUnreachable:
            raise
        except (EngineError, ValueError) as err:  # ValueError: an unreadable image (ImageLoadError)
            return self.failed(query, str(err), time.perf_counter() - start)
        return Prediction.from_answer(
            id=query.id, image=query.image_label, question=query.question, answer=text,
            engine=self.name, model=str(self.spec), seconds=time.perf_counter() - start,
        )

    def predict(self, queries: list[Query]) -> list[Prediction]:
        with ThreadPoolExecutor(self.batch_size) as pool:  # requests wait on the network: one thread each
            return list(pool.map(self._one, queries))

    def close(self) -> None:
        self.client.close()
