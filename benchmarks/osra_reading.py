"""How the ensemble's osra member reads, against osra as it is, on real images.

    nice -n 15 python benchmarks/osra_reading.py [--data ../shared/benchmarks] [--dev-every 2] [--trec-every 2]

Plain osra (`osra -p IMAGE`; the answer: the longest structure it prints, as `osra` alone answers) three ways:
as installed; with the extended label table (`-a FILE`, engines.osra_labels); and with that table and broken
benzenes completed (chem.benzene), as the default engine's osra member reads. On ocsr-dev (where both were
chosen), ocsr-real and trec-chem; scored as the harness scores: exact canonical SMILES, items whose label RDKit
cannot read left out. osra runs are cached in benchmarks/cache/osra/. Writes benchmarks/results/osra-reading.md.
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chemvlm.bench.benchmarks import load_bench
from chemvlm.chem import canonical_smiles
from chemvlm.engines import load_engine
from chemvlm.engines.base import EngineError
from chemvlm.vision import ImageLoadError

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / "cache" / "osra"
RESULTS = ROOT / "benchmarks" / "results"
READINGS = {  # name: osra engine options
    "osra as installed": {},
    "extended labels": {"labels": "extended"},
    "extended labels, benzenes completed": {"labels": "extended", "complete_benzenes": True},
}


def answer(engine, image) -> str | None:
    """The answer `osra` alone gives: the longest structure, none where it has atoms osra could not read."""
    try:
        found = engine.scored_candidates(image)
    except (EngineError, ImageLoadError):
        return None  # osra failed on it: no answer, as the harness scores a failed record
    return canonical_smiles(found[0][1]) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CHEMVLM_BENCH_DIR", "../shared/benchmarks"))
    parser.add_argument("--dev-every", type=int, default=1, help="every N-th ocsr-dev image only")
    parser.add_argument("--trec-every", type=int, default=1, help="every N-th trec-chem image only")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    engines = {name: load_engine("osra", cache_dir=str(CACHE), timeout=120, **o) for name, o in READINGS.items()}
    every = {"ocsr-dev": args.dev_every, "ocsr-real": 1, "trec-chem": args.trec_every}
    names = list(READINGS)
    lines = ["# How the ensemble's osra member reads, against osra as installed", "",
             f"`python benchmarks/osra_reading.py --dev-every {args.dev_every} --trec-every {args.trec_every}`: plain osra "
             "(the longest structure it prints), exact canonical SMILES % over the images whose label RDKit reads. "
             "`gained` / `lost`: images the last reading (the default engine's osra member) reads exactly where osra "
             "as installed does not, and the reverse.", "",
             "| set | subset | images | " + " | ".join(names) + " | gained | lost |", "|---|---|---|" + "---|" * len(names) + "---|---|"]
    for name, step in every.items():
        items = [i for i in load_bench(name, args.data)[::step] if canonical_smiles(i.answer)]
        with ThreadPoolExecutor(args.workers) as pool:
            read = {t: list(pool.map(lambda item, e=e: answer(e, item.images[0]), items)) for t, e in engines.items()}
        by_subset = defaultdict(list)
        for k, item in enumerate(items):
            truth = canonical_smiles(item.answer)
            by_subset[item.subset].append([read[t][k] == truth for t in names])
        for subset, rows in by_subset.items():
            n = len(rows)
            exact = " | ".join(f"{100 * sum(r[i] for r in rows) / n:.2f}" for i in range(len(names)))
            gained, lost = sum(r[-1] and not r[0] for r in rows), sum(r[0] and not r[-1] for r in rows)
            lines.append(f"| {name}{f' (1 in {step})' if step > 1 else ''} | {subset} | {n} | {exact} | {gained} | {lost} |")
        print("\n".join(lines[-len(by_subset):]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "osra-reading.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
