"""Calibrate the default engine's confidence on ocsr-dev, then measure it on ocsr-real and trec-chem.

    nice -n 15 python benchmarks/confidence.py [--data ../shared/benchmarks] [--model ensemble:osra,chemvlm-mini]

For every image of each set the members' candidates are collected once (osra runs are cached in
benchmarks/cache/osra/, the members' candidates in benchmarks/cache/confidence-SET.json), the ensemble's
choice is made as at run time (engines.ensemble.choose), and its agreement is noted (engines.confidence).
ocsr-dev gives the calibration table, written to src/chemvlm/engines/confidence.json; ocsr-real and trec-chem
(never used for fitting) give the coverage-accuracy curve: answers at or above each confidence, and how many
of those are exactly right. osra alone (plain osra, the same runs) is reported beside it. Writes
benchmarks/results/confidence.md.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

from chemvlm.bench.benchmarks import load_bench
from chemvlm.chem import canonical_smiles
from chemvlm.engines import Query, load_engine
from chemvlm.engines.confidence import TABLE, agreement, confidence
from chemvlm.engines.ensemble import choose

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results"
THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)


def candidates_of(engine, items, cache: Path) -> dict[str, dict]:
    """{item id: {member: [SMILES, ...]}} for the ensemble's members, cached (a member error: no candidates)."""
    found = json.loads(cache.read_text()) if cache.is_file() else {}
    todo = [item for item in items if item.id not in found]
    for start in range(0, len(todo), 16):
        batch = todo[start : start + 16]
        queries = [Query(id=i.id, images=i.images, question=i.question) for i in batch]
        per_member = {label: engine._member_candidates(member, queries)
                      for label, member in zip(engine.labels, engine.members)}
        for k, item in enumerate(batch):
            found[item.id] = {label: ([] if isinstance(c[k], Exception) else list(c[k])) for label, c in per_member.items()}
        cache.write_text(json.dumps(found))
        print(f"{cache.name}: {len(found)}/{len(items)}", flush=True)
    return found


def decisions(engine, items, found) -> list[dict]:
    """Per item: truth, the ensemble's answer and agreement, and plain osra's answer."""
    out = []
    for item in items:
        candidates = found[item.id]
        try:
            chosen, _, _ = choose(candidates)
        except ValueError:
            chosen = ""
        osra = next((c[0] for label, c in candidates.items() if label in engine.counts_variants and c), "")
        out.append({"truth": canonical_smiles(item.answer), "chosen": chosen, "subset": item.subset,
                    "key": agreement(candidates, chosen, engine.counts_variants) if chosen else None,
                    "osra": canonical_smiles(osra) if osra else None})
    return out


def fit(rows: list[dict]) -> dict[str, list[int]]:
    cells: dict[str, list[int]] = {}
    for row in rows:
        if row["key"]:
            cell = cells.setdefault(row["key"], [0, 0])
            cell[0] += row["chosen"] == row["truth"]
            cell[1] += 1
    return dict(sorted(cells.items()))


def curve(rows: list[dict], spec: str, table: dict) -> list[tuple[float, int, int, float]]:
    """(threshold, answers kept, of all, % exact among kept) per threshold."""
    scored = [(confidence(spec, r["key"], table) if r["key"] else None, r["chosen"] == r["truth"]) for r in rows]
    out = []
    for threshold in THRESHOLDS:
        kept = [right for sure, right in scored if sure is not None and sure >= threshold]
        out.append((threshold, len(kept), len(rows), 100 * sum(kept) / max(1, len(kept))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CHEMVLM_BENCH_DIR", "../shared/benchmarks"))
    parser.add_argument("--model", default="ensemble:osra,chemvlm-mini")
    parser.add_argument("--sets", nargs="+", default=["ocsr-real", "trec-chem"], help="sets to measure on")
    parser.add_argument("--dev-every", type=int, default=1, help="calibrate on every N-th ocsr-dev image only")
    args = parser.parse_args()
    os.chdir(ROOT)
    engine = load_engine(args.model, cache_dir=str(CACHE / "osra"), workers=1, timeout=120)
    spec = str(engine.spec)
    dev = load_bench("ocsr-dev", args.data)[:: args.dev_every]
    dev_rows = decisions(engine, dev, candidates_of(engine, dev, CACHE / "confidence-ocsr-dev.json"))
    cells = fit(dev_rows)
    table_path = ROOT / "src" / "chemvlm" / "engines" / TABLE
    table = json.loads(table_path.read_text()) if table_path.is_file() else {}
    table[spec] = cells
    table_path.write_text(json.dumps(table, indent=1) + "\n")
    lines = ["# Confidence of the default engine: calibrated on ocsr-dev, measured on sets never fitted", "",
             f"`python benchmarks/confidence.py --model {spec} --dev-every {args.dev_every} --sets {' '.join(args.sets)}`. An answer's agreement is how many of its readers "
             "gave that molecule (plain osra, `osra -j`, the model's beams); its confidence is the share of "
             "ocsr-dev answers with the same agreement that were exactly right, smoothed (engines/confidence.py).", "",
             f"## Calibration on ocsr-dev ({len(dev)} images" + (f", one in {args.dev_every}" if args.dev_every > 1 else "") + ")", "", "| agreement | answers | exactly right | confidence |",
             "|---|---|---|---|"]
    lines += [f"| {key} | {n} | {right} | {confidence(spec, key, table):.3f} |" for key, (right, n) in cells.items()]
    for name in args.sets:
        items = load_bench(name, args.data)
        rows = decisions(engine, items, candidates_of(engine, items, CACHE / f"confidence-{name}.json"))
        osra_right = sum(r["osra"] == r["truth"] for r in rows)
        lines += ["", f"## {name} ({len(rows)} images)", "",
                  f"Exact over all images: ensemble {100 * sum(r['chosen'] == r['truth'] for r in rows) / len(rows):.2f} %, "
                  f"plain osra {100 * osra_right / len(rows):.2f} %.", "",
                  "| confidence at least | answers kept | coverage % | exact among kept % |", "|---|---|---|---|"]
        lines += [f"| {t:.2f} | {kept} | {100 * kept / total:.1f} | {exact:.2f} |" for t, kept, total, exact in curve(rows, spec, table)]
        by_subset = Counter(r["subset"] for r in rows)
        if len(by_subset) > 1:
            lines += ["", "| subset | images | exact % (ensemble) | exact % (plain osra) |", "|---|---|---|---|"]
            for subset, n in by_subset.items():
                part = [r for r in rows if r["subset"] == subset]
                lines.append(f"| {subset} | {n} | {100 * sum(r['chosen'] == r['truth'] for r in part) / n:.2f} | "
                             f"{100 * sum(r['osra'] == r['truth'] for r in part) / n:.2f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "confidence.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
