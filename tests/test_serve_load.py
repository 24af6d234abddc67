"""Batching and back-pressure under concurrent load: N clients on loopback, a fixed number of requests,
every one accounted for (answered, or refused with 429 and Retry-After)."""

import base64
import math
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from chemvlm.engines import load_engine
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve.background import serving

EXAMPLE = "examples/uspto-US07314934-C00124.png"
CANONICAL = "CSc1nc(-c2ccccc2F)c2ccc(=O)n(C)c2n1"


@pytest.fixture(scope="module")
def messages(request):
    url = "data:image/png;base64," + base64.b64encode((request.config.rootpath / EXAMPLE).read_bytes()).decode()
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                          {"type": "text", "text": "What is the SMILES of this molecule?"}]}]


@pytest.fixture(scope="module")
def tiny_engine(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-checkpoint")
    tiny.save_pretrained(path)
    return load_engine(str(path), max_tiles=1)


def run_clients(url: str, messages, count: int, clients: int, max_tokens: int = 6):
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)

    def one(_):
        return client.chat.completions.create(model="m", messages=messages, max_tokens=max_tokens)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.parametrize("batch_size", [4, 1])
def test_concurrent_requests_reach_the_engine_in_ceil_n_over_batch_calls(tiny_engine, messages, batch_size):
    # A long batch wait makes the count exact however slowly the clients start; the default is 20 ms.
    config = ServeConfig(model_name="m", batch_size=batch_size, batch_wait=5.0, max_tokens=8)
    with serving(create_app(tiny_engine, config)) as url:
        replies = run_clients(url, messages, count=8, clients=8)
        health = httpx.get(url + "/health").json()
    assert len(replies) == 8
    assert len({r.choices[0].message.content for r in replies}) == 1  # same input, same greedy answer
    assert health["batched_requests"] == 8
    assert health["engine_calls"] == math.ceil(8 / batch_size)
    assert health["largest_batch"] == batch_size


def test_a_full_queue_refuses_with_429_and_retry_after_and_loses_nothing(messages):
    # osra takes about a second a picture: one request runs, one waits, the rest arrive while both are busy.
    config = ServeConfig(model_name="osra", batch_size=1, queue_size=1)
    with serving(create_app(load_engine("osra"), config)) as url:
        body = {"model": "osra", "messages": messages}
        with ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(lambda _: httpx.post(url + "/v1/chat/completions", json=body, timeout=120), range(10)))
        statuses = [r.status_code for r in responses]
        refused = [r for r in responses if r.status_code == 429]
        answered = [r for r in responses if r.status_code == 200]
        assert set(statuses) <= {200, 429} and len(answered) >= 2 and refused
        for response in refused:
            assert int(response.headers["Retry-After"]) >= 1
            assert "queue is full" in response.json()["error"]["message"]
        assert all(r.json()["chemistry"]["canonical_smiles"] == CANONICAL for r in answered)
        health = httpx.get(url + "/health").json()
        assert health["rejected"] == len(refused) and health["batched_requests"] == len(answered)
        # the server is still healthy and answers once the queue drained
        again = httpx.post(url + "/v1/chat/completions", json=body, timeout=120)
        assert again.status_code == 200


def test_a_burst_with_short_client_timeouts_is_answered_or_refused_and_nothing_is_computed_for_departed_clients(
        fixtures):
    # osra (0.6 s or more an item here), one item per call, 3 waiting at most. Two patient requests keep the
    # engine busy; then 6 clients that give up after 0.3 s arrive together, and 6 that wait right after them.
    # Every patient client hears 200 or 429 (none times out waiting for a verdict), and the engine computes
    # exactly the requests answered: nothing for a client that left.
    images = ["data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
              for p in sorted((fixtures / "ocsr").glob("*.png"))]
    body = lambda i: {"model": "osra", "messages": [{"role": "user", "content": [  # noqa: E731
        {"type": "image_url", "image_url": {"url": images[i % len(images)]}}, {"type": "text", "text": "SMILES?"}]}]}
    config = ServeConfig(model_name="osra", batch_size=1, queue_size=3)
    with serving(create_app(load_engine("osra"), config)) as url:
        def send(i: int, timeout: float):
            try:
                return httpx.post(url + "/v1/chat/completions", json=body(i), timeout=timeout)
            except httpx.TimeoutException:
                return None

        def arrived(count: int) -> None:  # the server has seen `count` requests besides the warm-up
            while True:
                h = httpx.get(url + "/health").json()
                if h["in_engine"] + h["queued"] + h["rejected"] + h["withdrawn"] + h["answered"] - 1 >= count:
                    return
                time.sleep(0.01)

        assert send(0, 60).status_code == 200  # warm-up: the server learns the engine's pace
        with ThreadPoolExecutor(16) as pool:
            blockers = [pool.submit(send, i, 60) for i in range(2)]
            arrived(2)
            impatient = [pool.submit(send, i, 0.3) for i in range(6)]
            arrived(8)
            patient = [pool.submit(send, i, 60) for i in range(6)]
            patient = [f.result() for f in blockers + patient]
            impatient = [f.result() for f in impatient]
        health = httpx.get(url + "/health").json()

    assert all(r is not None and r.status_code in (200, 429) for r in patient)
    assert all(r is None or r.status_code == 429 for r in impatient)
    refused = [r for r in patient + impatient if r is not None and r.status_code == 429]
    assert refused and all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert any(r is None for r in impatient)  # some gave up while queued
    answered = 1 + sum(r.status_code == 200 for r in patient)
    assert health["abandoned"] == 0 and health["batched_requests"] == health["answered"] == answered
