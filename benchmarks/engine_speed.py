"""Seconds per image of the default engine beside osra alone, on the same real patent images, nothing cached.

    nice python benchmarks/engine_speed.py [--images 40] [--data ../shared/benchmarks]

The first N images of ocsr-real (a third from each subset, in order), read in batches of 16 as `chemvlm ocr`
reads them, by `osra` and by the default engine (`ensemble:osra,chemvlm-mini`: plain osra, `osra -j` and the
bundled model). The model is loaded before the clock starts. Writes benchmarks/results/engine-speed.md.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from pathlib import Path

from chemvlm.bench.benchmarks import load_bench
from chemvlm.engines import Query, load_engine

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = ("osra", "ensemble:osra,chemvlm-mini")


def seconds_per_image(spec: str, items) -> float:
    engine = load_engine(spec)  # no cache_dir: every osra run is made
    started = time.perf_counter()
    for start in range(0, len(items), 16):
        engine.predict([Query(id=i.id, images=i.images, question=i.question) for i in items[start : start + 16]])
    return (time.perf_counter() - started) / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--data", default=os.environ.get("CHEMVLM_BENCH_DIR", "../shared/benchmarks"))
    args = parser.parse_args()
    by_subset = defaultdict(list)
    for item in load_bench("ocsr-real", args.data):
        by_subset[item.subset].append(item)
    per = -(-args.images // len(by_subset))
    items = [item for found in by_subset.values() for item in found[:per]]
    timing = {spec: seconds_per_image(spec, items) for spec in ENGINES}
    ratio = timing[ENGINES[1]] / timing[ENGINES[0]]
    lines = ["# Speed of the default engine beside osra alone", "",
             f"`python benchmarks/engine_speed.py --images {args.images}`: {len(items)} ocsr-real images ({per} per subset), "
             f"batches of 16, nothing cached, {os.cpu_count()} CPU cores.", "",
             "| engine | s / image |", "|---|---|"]
    lines += [f"| {spec} | {s:.2f} |" for spec, s in timing.items()]
    lines += ["", f"The default engine takes {ratio:.2f} times osra's time per image (target: at most 1.5)."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine-speed.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
