"""Load on `chemvlm serve`, two ways.

    python benchmarks/serve_load.py burst [--engine SPEC ...] [--queue-timeout 30] [--overload 3]
    python benchmarks/serve_load.py throughput [--engines tiny,osra] [--clients 16] [--requests 48] [--rounds 3]

`burst`: for each engine (default: osra, the bundled model, and the default engine, their ensemble), a real
`chemvlm serve` process (its memory is its own) gets bursts above its capacity: requests all at once, three
times as many as its queue timeout admits at the engine's pace (40 at least), a quarter of them from clients
that give up after 3 s (they disconnect); then 8 requests of four 3999x3999 PNGs each.
Every request must be answered, or refused with 429 before its client's time-out; the engine must compute
nothing for a client that left (the server's count of items computed against those answered); the
server's peak RSS (VmHWM) is reported. `--engine SPEC` measures one engine and keeps the others' rows.

`throughput`: for each engine, two in-process uvicorn servers on loopback (batch size B, and 1), run in
alternation for a few rounds so that both see the same background load; C concurrent clients send a fixed
number of chat completions (the bundled example image), then stop: median requests/s (and range), p50/p95
latency, engine calls, failures and 429s.

Each mode writes its own section of benchmarks/results/serve-load.md and keeps the other's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

from chemvlm.engines import load_engine
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve.background import serving

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "uspto-US07314934-C00124.png"
PICTURES = sorted((ROOT / "tests" / "fixtures" / "ocsr").glob("*.png")) + [EXAMPLE]
OUT = ROOT / "benchmarks" / "results" / "serve-load.md"
MAX_TOKENS = 16  # the tiny model's answers are random text; a fixed length makes runs comparable
BUNDLED = "src/chemvlm/assets/chemvlm-mini"
BURST_ENGINES = ["osra", BUNDLED, f"ensemble:osra,{BUNDLED}"]  # the last is the default engine


def write_section(path: Path, title: str, text: str) -> None:
    """Replace (or add) the `## title` section of the results file, keeping the others."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    parts = re.split(r"(?m)^(?=## )", old)
    head = parts[0] if parts and not parts[0].startswith("## ") else "# `chemvlm serve` under load\n\n"
    sections = {re.match(r"## (.*)", p).group(1): p for p in parts if p.startswith("## ")}
    sections[title] = f"## {title}\n\n{text.rstrip()}\n\n"
    path.write_text(head + "".join(sections.values()).rstrip() + "\n", encoding="utf-8")


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.1f} at the end (other jobs share the cores)")


# ---- burst: deadlines, disconnects, admission and memory, on a `chemvlm serve` process ---------------------

def data_url(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def big_png(side: int = 3999) -> bytes:
    """A structure drawing blown up to side x side: 16 MP, 48 MB of RGB pixels, small as a PNG."""
    image = Image.open(EXAMPLE).convert("L").resize((side, side), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def chat(urls: list[str]) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return {"model": "m", "messages": [{"role": "user", "content": parts + [{"type": "text", "text": "What is the SMILES?"}]}]}


class Server:
    """`chemvlm serve` in its own process, on a free port; its memory is read from /proc."""

    def __init__(self, spec: str, queue_timeout: float):
        command = [sys.executable, "-m", "chemvlm", "serve", "--model", spec, "--name", "m", "--port", "0",
                   "--queue-timeout", str(queue_timeout)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = ""
        while not (match := re.search(r"running on (http://127\.0\.0\.1:\d+)", seen)):
            line = self.process.stderr.readline()
            if not line:
                raise RuntimeError(f"the server for {spec} exited: {seen}")
            seen += line
        self.url = match.group(1)
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep the pipe from filling

    def memory_mb(self, field: str) -> float:
        """VmRSS (now) or VmHWM (peak so far) of the server process, in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) / 1024

    def health(self) -> dict:
        return httpx.get(self.url + "/health", timeout=30).json()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def at_once(url: str, requests: list[tuple[dict, float]]) -> list[tuple[str, float]]:
    """Send (body, client time-out) requests all at once, one connection each; per request (outcome, seconds):
    the HTTP status, or "timeout" when the client gave up and closed its connection."""
    async def run():
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits) as client:
            async def one(body, timeout):
                began = time.perf_counter()
                try:
                    status = str((await client.post(url + "/v1/chat/completions", json=body, timeout=timeout)).status_code)
                except httpx.TimeoutException:
                    status = "timeout"
                return status, time.perf_counter() - began

            return await asyncio.gather(*(one(body, timeout) for body, timeout in requests))

    return asyncio.run(run())


def burst_engine(spec: str, args) -> dict:
    small = [chat([data_url(p.read_bytes())]) for p in PICTURES]
    huge = chat([data_url(big_png())] * 4)
    server = Server(spec, args.queue_timeout)
    try:
        # warm-up: one request (the cold start), then two full batches, so that the pace the server learns
        # (the median of its last calls) is that of full batches, as under load
        at_once(server.url, [(small[0], 600)])
        batch = server.health()["batch_size"]
        for _ in range(2):
            at_once(server.url, [(small[i % len(small)], 600) for i in range(batch)])
        before, rss = server.health(), server.memory_mb("VmRSS")
        # above capacity: `overload` times the items the deadline admits at that pace
        count = max(args.min_requests, math.ceil(args.overload * args.queue_timeout / before["seconds_per_item"]))
        impatient = [i % 4 == 3 for i in range(count)]
        began = time.perf_counter()
        outcomes = at_once(server.url, [(small[i % len(small)], args.impatient_timeout if impatient[i] else
                                         args.client_timeout) for i in range(count)])
        results = [(imp, *outcome) for imp, outcome in zip(impatient, outcomes)]
        burst_seconds = time.perf_counter() - began
        peak_burst = server.memory_mb("VmHWM")
        big = at_once(server.url, [(huge, args.client_timeout)] * args.big)
        peak_big = server.memory_mb("VmHWM")
        while (after := server.health())["in_engine"] or after["queued"]:  # let the last call finish
            time.sleep(0.2)
    finally:
        server.close()
    delta = {k: after[k] - before[k] for k in ("batched_requests", "answered", "abandoned", "withdrawn", "expired",
                                               "rejected")}
    patient = [(o, t) for imp, o, t in results if not imp]
    impatient = [(o, t) for imp, o, t in results if imp]
    verdicts = [t for o, t in patient + big if o != "timeout"]
    return {
        "engine": spec, "batch": after["batch_size"], "pace": before["seconds_per_item"],
        "sent": len(results), "ok": sum(o in ("200", "422") for o, _ in patient + impatient + big),
        "429": sum(o == "429" for o, _ in patient + impatient + big),
        "other": sum(o not in ("200", "422", "429", "timeout") for o, _ in patient + impatient + big),
        "patient_timeouts": sum(o == "timeout" for o, _ in patient + big),
        "departed": sum(o == "timeout" for o, _ in impatient),
        "slowest": max(verdicts), "burst_seconds": burst_seconds,
        "big": len(big), "big_outcomes": ", ".join(f"{n} x {o}" for o, n in sorted(Counter(o for o, _ in big).items())),
        "rss": rss, "peak_burst": peak_burst, "peak_big": peak_big, **delta,
    }


def merged(path: Path, rows: list[dict], table: str) -> tuple[str, str]:
    """The table rows (and big-image lines) of this run, with those of other engines kept from the results file."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    measured = {r["engine"] for r in rows}
    kept_rows = [line + "\n" for line in old.splitlines() if line.startswith("| `") and line.split("`")[1] not in measured]
    kept_big = [line for line in old.splitlines() if line.startswith("- `") and line.split("`")[1] not in measured]
    lines = sorted(kept_rows + table.splitlines(keepends=True), key=_engine_order)
    big = sorted(kept_big + [f"- `{r['engine']}`: {r['big_outcomes']}" for r in rows], key=_engine_order)
    return "".join(lines), "\n".join(big)


def _engine_order(line: str) -> int:
    engine = line.split("`")[1]
    return BURST_ENGINES.index(engine) if engine in BURST_ENGINES else len(BURST_ENGINES)


def burst(args) -> None:
    rows = []
    for spec in args.engine or BURST_ENGINES:
        row = burst_engine(spec, args)
        rows.append(row)
        print(f"{spec}: {row['ok']} answered, {row['other']} other errors, {row['429']} x 429 ({row['rejected']} at "
              f"once, {row['expired']} at the deadline), {row['patient_timeouts']} patient time-outs, "
              f"{row['departed']} departed; engine computed "
              f"{row['batched_requests']} items, answered {row['answered']}, {row['abandoned']} for departed clients, "
              f"{row['withdrawn']} withdrawn; slowest verdict {row['slowest']:.1f} s; RSS {row['rss']:.0f} MB -> peak "
              f"{row['peak_burst']:.0f} / {row['peak_big']:.0f} MB; big: {row['big_outcomes']}", flush=True)
    header = ("| engine | batch | s/item at warm-up | requests | answered | other errors | 429 at once / at deadline | patient time-outs "
              "| departed: while queued / during their call | items computed / answered | slowest verdict s "
              "| RSS MB: idle, burst peak, big-image peak |\n"
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    table = "".join(
        f"| `{r['engine']}` | {r['batch']} | {r['pace']:.2f} | {r['sent']} + {r['big']} | {r['ok']} | {r['other']} | "
        f"{r['rejected']} / {r['expired']} | {r['patient_timeouts']} | {r['withdrawn']} / {r['abandoned']} | "
        f"{r['batched_requests']} / {r['answered']} | {r['slowest']:.1f} | "
        f"{r['rss']:.0f}, {r['peak_burst']:.0f}, {r['peak_big']:.0f} |\n" for r in rows)
    table, big = merged(args.out, rows, table)
    text = (
        f"`python benchmarks/serve_load.py burst` (rows measured one engine at a time, `--engine SPEC`) on "
        f"{machine()}, {time.strftime('%Y-%m-%d')}.\n\n"
        f"Per engine, a fresh `chemvlm serve --queue-timeout {args.queue_timeout:g}` process (other settings default) "
        "gets a warm-up (one request, then two full batches at once: the server learns the engine's pace, seconds "
        f"per item), then a burst of requests at once, one connection each, {args.overload:g} times as many as the "
        f"{args.queue_timeout:g}-s deadline admits at that pace ({args.min_requests} at least; the pictures of "
        f"tests/fixtures/ocsr and the bundled example): every fourth client gives up after {args.impatient_timeout:g} s "
        f"and disconnects (*departed*), the others wait up to {args.client_timeout:g} s (*patient*). Then {args.big} "
        "requests of four 3999x3999 PNGs each (a drawing blown up: 16 MP, 48 MB of pixels, a small PNG) arrive at once. "
        "Counts are over both bursts; *answered*: the engine's answer (200, or 422 when it could not read the input). "
        "*429 at once*: refused on arrival (the queue's expected wait, measured engine seconds per item x requests "
        f"ahead, was over {args.queue_timeout:g} s); *at deadline*: still queued after {args.queue_timeout:g} s. "
        "*Departed*: the server's count of clients that left while queued (withdrawn, never computed) and during "
        "the engine call that held their item (it could not be stopped; the result went to nobody). *Items "
        "computed / answered*: the server's own counts (`/health`) over the bursts; the difference is the "
        "second kind of departure. *Slowest verdict*: "
        "the longest a patient client waited for its answer or 429. RSS is the server process's: after the warm-up, "
        "and its peak (VmHWM) after each burst.\n\n" + header + table +
        f"\nThe big-image requests:\n\n{big}\n\nEach engine here reads one structure picture per question and "
        "answers four with a 422, after the four were decoded in the engine's batch: the big-image peak is what "
        "decoding admitted requests costs. A batch holds at most the pixels of one largest request (4 x 16 MP), so "
        "these requests reach the engine one at a time whatever its batch size; queued ones hold their PNG bytes "
        "only.\n"
    )
    write_section(args.out, "Bursts above capacity: deadlines, disconnects, memory", text)
    print(f"-> {args.out}")


# ---- throughput: batched server against batch-of-1 ---------------------------------------------------------

def engine_for(name: str, workdir: Path):
    """(engine, batch size of the batched server)"""
    if name == "tiny":
        from chemvlm.chat.vlm import ChemVLM

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


def throughput(args) -> None:
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
    text = (
        f"`python benchmarks/serve_load.py throughput --engines {args.engines} --clients {args.clients} "
        f"--requests {args.requests} --rounds {args.rounds}` on {machine()}, {time.strftime('%Y-%m-%d')}.\n\n"
        f"Per run, {args.clients} concurrent clients on 127.0.0.1 send {args.requests} chat completions in all (the bundled example "
        f"image, `max_tokens` {MAX_TOKENS}) to a real uvicorn server, then stop; one warm-up request is not counted. "
        "Latency is per request, from send to full answer. `tiny` is the randomly initialised tiny preset "
        "(1 tile per image): its speed, not its text, is what is measured. `osra` runs one subprocess per item, "
        "as many at once as its engine's batch size. The two servers of an engine run in alternation, "
        f"{args.rounds} rounds each; ok, 429 and failed are totals over the rounds, the rest medians.\n\n" + header + table
    )
    write_section(args.out, "Throughput: batched server against batch-of-1", text)
    print(f"-> {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    modes = parser.add_subparsers(dest="mode", required=True)
    b = modes.add_parser("burst", help="bursts above capacity with time-outs and disconnects; memory")
    b.add_argument("--engine", action="append", help=f"a model spec; repeat for several (default: {BURST_ENGINES})")
    b.add_argument("--queue-timeout", type=float, default=30.0, help="the server's --queue-timeout (its default)")
    b.add_argument("--min-requests", type=int, default=40)
    b.add_argument("--overload", type=float, default=3.0,
                   help="requests sent, as a multiple of those the queue timeout admits at the warm-up pace")
    b.add_argument("--client-timeout", type=float, default=60.0)
    b.add_argument("--impatient-timeout", type=float, default=3.0)
    b.add_argument("--big", type=int, default=8, help="requests of four 3999x3999 PNGs")
    t = modes.add_parser("throughput", help="batched server against batch-of-1")
    t.add_argument("--engines", default="tiny,osra")
    t.add_argument("--clients", type=int, default=16)
    t.add_argument("--requests", type=int, default=48)
    t.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    burst(args) if args.mode == "burst" else throughput(args)


if __name__ == "__main__":
    main()
