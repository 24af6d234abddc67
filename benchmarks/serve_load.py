"""Load on `chemvlm serve`: the batched server against a batch-of-1 server, same engine, same run.

    python benchmarks/serve_load.py [--engines tiny,osra] [--clients 16] [--requests 48] [--rounds 3]

For each engine, two real uvicorn servers on loopback (batch size B, and 1), run in alternation for a few
rounds so that both see the same background load; C concurrent clients send a fixed number of chat
completions (the bundled example image), then stop. Prints each run and writes
benchmarks/results/serve-load.md: median requests/s (and range), p50/p95 latency, engine calls,
failures and 429s.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from chemvlm.engines import load_engine
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve.background import serving

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "uspto-US07314934-C00124.png"
OUT = ROOT / "benchmarks" / "results" / "serve-load.md"
MAX_TOKENS = 16  # the tiny model's answers are random text; a fixed length makes runs comparable


def engine_for(name: str, workdir: Path):
    """(engine, batch size of the batched server)"""
    if name == "tiny":
        from chemvlm.chat.engine import ChemVLM

        path = workdir / "tiny"
        ChemVLM.from_preset("tiny", seed=0).save_pretrained(path)
        return load_engine(str(path), max_tiles=1, max_new_tokens=MAX_TOKENS), 8
    return load_engine(name), None  # osra: its own batch size, one subprocess per core


def load(url: str, clients: int, requests: int) -> dict:
    image = "data:image/png;base64," + base64.b64encode(EXAMPLE.read_bytes()).decode()
    body = {"model": "m", "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": "What is the SMILES?"}]}]}
    http = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=clients))

    def one(_):
        began = time.perf_counter()
        response = http.post(url + "/v1/chat/completions", json=body)
        return response.status_code, time.perf_counter() - began

    http.post(url + "/v1/chat/completions", json=body)  # warm-up, not counted
    calls_before = http.get(url + "/health").json()["engine_calls"]
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - began
    health = http.get(url + "/health").json()
    latencies = sorted(seconds for status, seconds in results if status == 200)
    return {
        "ok": len(latencies), "429": sum(s == 429 for s, _ in results),
        "failed": sum(s not in (200, 429) for s, _ in results),
        "rps": len(latencies) / wall, "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "calls": health["engine_calls"] - calls_before, "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="tiny,osra")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.engines.split(","):
            engine, batch = engine_for(name, Path(tmp))
            runs = {batch or engine.batch_size: [], 1: []}
            for _ in range(args.rounds):
                for size in runs:
                    config = ServeConfig(model_name="m", batch_size=size, queue_size=4 * args.clients, max_tokens=MAX_TOKENS)
                    with serving(create_app(engine, config)) as url:
                        result = load(url, args.clients, args.requests)
                    runs[size].append(result)
                    print(f"{name:5} batch {size}: {result['rps']:.2f} req/s, p50 {result['p50']:.2f} s, "
                          f"p95 {result['p95']:.2f} s, {result['calls']} engine calls, {result['ok']} ok, "
                          f"{result['429']} x 429, {result['failed']} failed", flush=True)
            for size, results in runs.items():
                median = lambda key: statistics.median(r[key] for r in results)  # noqa: E731
                rows.append({"engine": name, "batch": size, "ok": sum(r["ok"] for r in results),
                             "429": sum(r["429"] for r in results), "failed": sum(r["failed"] for r in results),
                             "calls": median("calls"), "rps": median("rps"), "lo": min(r["rps"] for r in results),
                             "hi": max(r["rps"] for r in results), "p50": median("p50"), "p95": median("p95")})

    header = ("| engine | server batch | ok | 429 | failed | engine calls per run | req/s (median, range) | p50 s | p95 s |\n"
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    table = "".join(
        f"| {r['engine']} | {r['batch']} | {r['ok']} | {r['429']} | {r['failed']} | {r['calls']:g} | "
        f"{r['rps']:.2f} ({r['lo']:.2f}–{r['hi']:.2f}) | {r['p50']:.2f} | {r['p95']:.2f} |\n" for r in rows
    )
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
               f"load average {os.getloadavg()[0]:.1f} at the end (other jobs share the cores)")
    args.out.write_text(
        "# `chemvlm serve` under load: batched server against batch-of-1\n\n"
        f"`python benchmarks/serve_load.py --engines {args.engines} --clients {args.clients} --requests {args.requests} "
        f"--rounds {args.rounds}`"
        f" on {machine}, {time.strftime('%Y-%m-%d')}.\n\n"
        f"Per run, {args.clients} concurrent clients on 127.0.0.1 send {args.requests} chat completions in all (the bundled example "
        f"image, `max_tokens` {MAX_TOKENS}) to a real uvicorn server, then stop; one warm-up request is not counted. "
        "Latency is per request, from send to full answer. `tiny` is the randomly initialised tiny preset "
        "(1 tile per image): its speed, not its text, is what is measured. `osra` runs one subprocess per item, "
        "as many at once as its engine's batch size. The two servers of an engine run in alternation, "
        f"{args.rounds} rounds each; ok, 429 and failed are totals over the rounds, the rest medians.\n\n" + header + table,
        encoding="utf-8",
    )
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
