"""Fit the default engine's confidence on ocsr-dev, then measure it on sets never fitted (ocsr-real, trec-chem).

    nice -n 15 python benchmarks/confidence.py [--data ../shared/benchmarks] [--model ensemble:osra,chemvlm-mini]
        [--dev-every N] [--trec-every N] [--sets ocsr-real trec-chem]

For every image of each set the members' candidates are collected once (osra runs are cached in
benchmarks/cache/osra/, the model's candidates in benchmarks/cache/confidence-SET.json), the ensemble's
choice is made as at run time (engines.ensemble.choose), and the answer's signals are noted
(engines.confidence.signals). ocsr-dev gives the logistic model, written to src/chemvlm/engines/confidence.json,
and, fitted on one half of its patents and measured on the other (both ways), an estimate on images the model
did not see; the other sets give the coverage-accuracy curve of the shipped model: the most confident answers,
and how many of those are exactly right. osra alone (plain osra with its own label table, the engine `osra`)
is reported beside it.
Writes benchmarks/results/confidence.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections import Counter
from pathlib import Path

from chemvlm.bench.benchmarks import load_bench
from chemvlm.chem import canonical_smiles
from chemvlm.engines import Query, load_engine
from chemvlm.engines.confidence import TABLE, fit, probability, signals
from chemvlm.engines.ensemble import choose
from osra_reading import answer as osra_alone  # benchmarks/ is on the path when this script runs

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results"
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
THRESHOLDS = (0.5, 0.8, 0.9, 0.95)


def candidates_of(engine, items, cache: Path) -> dict[str, dict]:
    """{item id: {member: [SMILES, ...]}} for the ensemble's members (a member error: no candidates). The model
    members' candidates are kept in `cache`; osra's are made again from its own run cache, so that a change of
    osra's options (variants, label table) is never hidden by this file."""
    kept = [(label, m) for label, m in zip(engine.labels, engine.members) if label not in engine.counts_variants]
    rerun = [(label, m) for label, m in zip(engine.labels, engine.members) if label in engine.counts_variants]
    found = json.loads(cache.read_text()) if cache.is_file() else {}
    found = {i: {label: c[label] for label, _ in kept if label in c} for i, c in found.items()}
    todo = [item for item in items if len(found.get(item.id, {})) < len(kept)]
    for start in range(0, len(todo), 16):
        add(engine, found, todo[start : start + 16], kept)
        cache.write_text(json.dumps(found))
        print(f"{cache.name}: {len(found)}/{len(items)}", flush=True)
    everything = {item.id: dict(found[item.id]) for item in items}
    for start in range(0, len(items), 16):
        add(engine, everything, items[start : start + 16], rerun)
    return {i: {label: c[label] for label in engine.labels} for i, c in everything.items()}  # the members' order


def add(engine, found: dict, batch, members) -> None:
    """Each member's candidates for a batch of items, into found[item id][member]."""
    queries = [Query(id=i.id, images=i.images, question=i.question) for i in batch]
    for label, member in members:
        for item, c in zip(batch, engine._member_candidates(member, queries)):
            found.setdefault(item.id, {})[label] = [] if isinstance(c, Exception) else list(c)


def decisions(engine, osra, items, found) -> list[dict]:
    """Per item: truth, the ensemble's answer and its signals, every candidate's signals, osra alone's answer.
    Items whose label RDKit rejects are left out, as the harness skips them."""
    out = []
    for item in items:
        truth = canonical_smiles(item.answer)
        if truth is None:
            continue
        candidates = found[item.id]
        try:
            chosen, _, _ = choose(candidates)
        except ValueError:
            chosen = ""
        molecules = sorted({c for c in (canonical_smiles(s) for found in candidates.values() for s in found) if c})
        out.append({"id": item.id, "truth": truth, "chosen": chosen, "subset": item.subset,
                    "signals": {m: signals(candidates, m, engine.counts_variants) for m in molecules},
                    "osra": osra_alone(osra, item.images[0])})
    return out


def training_rows(rows: list[dict]) -> list[tuple[dict, bool]]:
    return [(r["signals"][r["chosen"]], r["chosen"] == r["truth"]) for r in rows if r["chosen"]]


def scored(rows: list[dict], model: dict) -> list[tuple[float, bool]]:
    """(confidence, right) per image, most confident first; an image without an answer is never kept."""
    out = [(probability(model, r["signals"][r["chosen"]]) if r["chosen"] else -1.0, r["chosen"] == r["truth"])
           for r in rows]
    return sorted(out, key=lambda pair: -pair[0])


def coverage_table(pairs: list[tuple[float, bool]]) -> list[str]:
    lines = ["| most confident | answers kept | lowest confidence kept | exact among kept % |", "|---|---|---|---|"]
    for share in COVERAGES:
        kept = [p for p in pairs[: round(share * len(pairs))] if p[0] >= 0]
        if kept:
            lines.append(f"| {100 * share:.0f} % | {len(kept)} | {kept[-1][0]:.3f} | {100 * sum(r for _, r in kept) / len(kept):.2f} |")
    lines += ["", "| confidence at least | answers kept | coverage % | exact among kept % |", "|---|---|---|---|"]
    for threshold in THRESHOLDS:
        kept = [right for sure, right in pairs if sure >= threshold]
        lines.append(f"| {threshold:.2f} | {len(kept)} | {100 * len(kept) / len(pairs):.1f} | "
                     f"{100 * sum(kept) / max(1, len(kept)):.2f} |")
    return lines


def patent(item_id: str) -> str:
    """The document an image comes from (CLEF and JPO ids name it before `_p`): halves never share one."""
    return item_id.split("_p")[0]


def held_out(rows: list[dict]) -> tuple[list[tuple[float, bool]], int]:
    """Two-fold estimate on ocsr-dev: (confidence, right) of every image from the model fitted on the other
    half of the patents, and how many images choosing the most confident candidate (instead of the vote)
    would read exactly."""
    documents = sorted({patent(r["id"]) for r in rows})
    random.Random(0).shuffle(documents)
    half = {d: k % 2 for k, d in enumerate(documents)}
    pairs, by_confidence = [], 0
    for fold in (0, 1):
        model = fit(training_rows([r for r in rows if half[patent(r["id"])] != fold]))
        test = [r for r in rows if half[patent(r["id"])] == fold]
        pairs += scored(test, model)
        by_confidence += sum(max(r["signals"], key=lambda m: probability(model, r["signals"][m])) == r["truth"]
                             for r in test if r["signals"])
    return sorted(pairs, key=lambda pair: -pair[0]), by_confidence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CHEMVLM_BENCH_DIR", "../shared/benchmarks"))
    parser.add_argument("--model", default="ensemble:osra,chemvlm-mini")
    parser.add_argument("--sets", nargs="+", default=["ocsr-real", "trec-chem"], help="sets to measure on")
    parser.add_argument("--dev-every", type=int, default=1, help="fit on every N-th ocsr-dev image only")
    parser.add_argument("--trec-every", type=int, default=1, help="measure on every N-th trec-chem image only")
    args = parser.parse_args()
    os.chdir(ROOT)
    engine = load_engine(args.model, cache_dir=str(CACHE / "osra"), workers=2, timeout=120)
    osra = load_engine("osra", cache_dir=str(CACHE / "osra"), timeout=120)  # the baseline: osra alone
    spec = str(engine.spec)
    dev = load_bench("ocsr-dev", args.data)[:: args.dev_every]
    dev_rows = decisions(engine, osra, dev, candidates_of(engine, dev, CACHE / "confidence-ocsr-dev.json"))
    model = fit(training_rows(dev_rows))
    table_path = ROOT / "src" / "chemvlm" / "engines" / TABLE
    table = json.loads(table_path.read_text()) if table_path.is_file() else {}
    table[spec] = model
    table_path.write_text(json.dumps(table, indent=1) + "\n")
    pairs, by_confidence = held_out(dev_rows)
    voted = sum(r["chosen"] == r["truth"] for r in dev_rows)
    lines = ["# Confidence of the default engine: fitted on ocsr-dev, measured on sets never fitted", "",
             f"`python benchmarks/confidence.py --model {spec} --dev-every {args.dev_every} --trec-every {args.trec_every} --sets {' '.join(args.sets)}`. "
             "An answer's confidence is a logistic model of its signals (engines/confidence.py): how many of osra's "
             "variant runs and whether the model gave it, whether a member gave nothing or another molecule, and "
             "what the molecule is (R groups, charge, stereo, pieces, rare elements, size).", "",
             f"## ocsr-dev ({len(dev_rows)} images with a label RDKit reads, of {len(dev)}" + (f", one in {args.dev_every}" if args.dev_every > 1 else "") + ")", "",
             f"The model fitted on all of them (written to src/chemvlm/engines/{TABLE}, {model['answers']} answers, "
             f"{model['right']} right):", "", "| signal | weight |", "|---|---|"]
    lines += [f"| {name} | {weight:+.3f} |" for name, weight in model["weights"].items()] + [f"| (bias) | {model['bias']:+.3f} |"]
    lines += ["", "Measured on images the model was not fitted on (two halves by patent, each scored by the model "
              f"fitted on the other). Exact over all images: ensemble {100 * voted / len(dev_rows):.2f} %, plain osra "
              f"{100 * sum(r['osra'] == r['truth'] for r in dev_rows) / len(dev_rows):.2f} %; choosing the most "
              f"confident candidate instead of the vote: {100 * by_confidence / len(dev_rows):.2f} %.", ""]
    lines += coverage_table(pairs)
    for name in args.sets:
        items = load_bench(name, args.data)[:: args.trec_every if name == "trec-chem" else 1]
        rows = decisions(engine, osra, items, candidates_of(engine, items, CACHE / f"confidence-{name}.json"))
        lines += ["", f"## {name} ({len(rows)} images with a label RDKit reads, of {len(items)})", "",
                  f"Exact over all images: ensemble {100 * sum(r['chosen'] == r['truth'] for r in rows) / len(rows):.2f} %, "
                  f"plain osra {100 * sum(r['osra'] == r['truth'] for r in rows) / len(rows):.2f} %.", ""]
        lines += coverage_table(scored(rows, model))
        by_subset = Counter(r["subset"] for r in rows)
        if len(by_subset) > 1:
            lines += ["", "| subset | images | exact % (ensemble) | exact % (plain osra) | exact % of its most confident half |",
                      "|---|---|---|---|---|"]
            for subset, n in by_subset.items():
                part = [r for r in rows if r["subset"] == subset]
                half = scored(part, model)[: n // 2]
                lines.append(f"| {subset} | {n} | {100 * sum(r['chosen'] == r['truth'] for r in part) / n:.2f} | "
                             f"{100 * sum(r['osra'] == r['truth'] for r in part) / n:.2f} | "
                             f"{100 * sum(right for _, right in half) / max(1, len(half)):.2f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "confidence.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
