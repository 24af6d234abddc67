"""The graph head alone on real drawings, with osra alone on the same images in the same run.

    nice python benchmarks/graph_reader.py --model runs/graph/checkpoint-N [--sets ocsr-dev/jpo,ocsr-real/uspto]
        [--limit 100] [--data ../shared/benchmarks] [--out benchmarks/results/graph-reader.md]

Per set: exact canonical SMILES of the head's graph (chem.graph), the share with no molecule (the head
gives no answer), exact among readings with probability >= 0.5 and their coverage, seconds per image; and
plain osra's exact on the same images (its runs are cached in benchmarks/cache/osra, as the other scripts').
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from chemvlm.bench.benchmarks import load_bench
from chemvlm.chat.vlm import ChemVLM
from chemvlm.chem import canonical_smiles
from chemvlm.engines import Query, load_engine

ROOT = Path(__file__).resolve().parent.parent


def exact(truth: str, smiles: str | None) -> bool:
    return bool(smiles) and canonical_smiles(smiles) == canonical_smiles(truth)


def measure(vlm: ChemVLM, osra, items, batch: int = 8) -> dict:
    readings, began = [], time.perf_counter()
    for start in range(0, len(items), batch):
        readings += vlm.read_graphs([item.images[0] for item in items[start : start + batch]])
    seconds = (time.perf_counter() - began) / max(1, len(items))
    ours = [exact(item.answer, r.smiles) for item, r in zip(items, readings)]
    sure = [(ok, r) for ok, r in zip(ours, readings) if r.smiles and r.probability >= 0.5]
    records = osra.predict([Query(id=item.id, images=item.images, question="SMILES?") for item in items]) if osra else []
    return {"n": len(items), "exact": sum(ours) / len(items), "none": sum(r.smiles is None for r in readings) / len(items),
            "sure_cover": len(sure) / len(items), "sure_exact": (sum(ok for ok, _ in sure) / len(sure)) if sure else 0.0,
            "seconds": seconds,
            "osra": (sum(exact(item.answer, r.canonical) for item, r in zip(items, records)) / len(items)) if osra else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint with graph_head.pt")
    parser.add_argument("--sets", default="ocsr-dev/clef2012,ocsr-dev/jpo,ocsr-real/clef2012,ocsr-real/jpo,ocsr-real/uspto")
    parser.add_argument("--limit", type=int, default=100, help="images per set")
    parser.add_argument("--data", default=None)
    parser.add_argument("--no-osra", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "graph-reader.md")
    args = parser.parse_args()
    vlm = ChemVLM.from_pretrained(args.model)
    osra = None if args.no_osra else load_engine("osra")
    lines = ["| set | images | graph head exact % | no molecule % | probability >= 0.5: share % | its exact % | s / image | osra alone exact % |",
             "|---|---|---|---|---|---|---|---|"]
    for name in args.sets.split(","):
        items = load_bench(name, args.data)[: args.limit]
        r = measure(vlm, osra, items)
        osra_cell = "-" if r["osra"] is None else f"{100 * r['osra']:.1f}"
        lines.append(f"| {name} | {r['n']} | {100 * r['exact']:.1f} | {100 * r['none']:.1f} | {100 * r['sure_cover']:.1f} | "
                     f"{100 * r['sure_exact']:.1f} | {r['seconds']:.2f} | {osra_cell} |")
        print(lines[-1], flush=True)
    text = "\n".join(["# Graph head alone on real drawings", "",
                      f"Measured with `python benchmarks/graph_reader.py --model {args.model} --sets {args.sets} --limit {args.limit}`"
                      " (2 CPU cores shared with other work; first images of each set).", "", *lines, ""])
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
