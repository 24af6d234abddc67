"""Pictures without a chemical structure: how often each engine rightly answers "none".

    nice -n 15 python benchmarks/no_structure.py [--n 300] [--seed 1] [--model SPEC ...]

The pictures are made by the data engine (chemvlm.data.negatives) from the seed, the same every run: text,
captions, tables, plots, arrows with conditions, logos, blank paper, noise, textures, degenerate sizes.
Prints a table per kind and writes benchmarks/results/no-structure.md.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path

from chemvlm.data.negatives import KINDS, non_structure_images
from chemvlm.engines import Query, load_engine

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What is the SMILES of the molecule in the image?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)  # seed 0 chose the thresholds
    parser.add_argument("--model", action="append", default=None,
                        help="engines to measure (default: osra, chemvlm-mini and the default engine)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "no-structure.md")
    args = parser.parse_args()
    specs = args.model or ["osra", "chemvlm-mini", "ensemble:osra,chemvlm-mini"]
    pictures = list(non_structure_images(args.n, args.seed))
    kinds = Counter(kind for kind, _ in pictures)
    rows, invented = {}, {}
    for spec in specs:
        engine = load_engine(spec)
        began = time.perf_counter()
        queries = [Query(id=f"{i}-{kind}", images=[image], question=QUESTION) for i, (kind, image) in enumerate(pictures)]
        step = max(1, engine.batch_size)
        predictions = [p for start in range(0, len(queries), step) for p in engine.predict(queries[start : start + step])]
        none = defaultdict(int)
        invented[spec] = []
        for (kind, _), prediction in zip(pictures, predictions):
            if prediction.valid:
                invented[spec].append(f"{prediction.id}: {prediction.canonical}")
            else:
                none[kind] += 1
        rows[spec] = (none, time.perf_counter() - began)
        print(f"{spec}: none on {sum(none.values())} of {len(pictures)} ({time.perf_counter() - began:.0f} s)")
    header = "| kind | pictures | " + " | ".join(f"{s}: none %" for s in specs) + " |"
    lines = [header, "|" + "---|" * (len(specs) + 2)]
    for kind in KINDS:
        cells = [f"{100 * rows[s][0][kind] / kinds[kind]:.1f}" for s in specs]
        lines.append(f"| {kind} | {kinds[kind]} | " + " | ".join(cells) + " |")
    total = [f"**{100 * sum(rows[s][0].values()) / len(pictures):.1f}**" for s in specs]
    lines.append(f"| all | {len(pictures)} | " + " | ".join(total) + " |")
    table = "\n".join(lines)
    print(table)
    text = [
        "# No structure, no answer",
        "",
        f"{len(pictures)} pictures without a chemical structure (`chemvlm.data.negatives`, seed {args.seed}), each asked "
        f"\"{QUESTION}\". A picture counts as \"none\" when the engine gives no RDKit-valid SMILES.",
        "Measured with `python benchmarks/no_structure.py` on 2 CPU cores.",
        "",
        table,
        "",
        "Seconds for all pictures: " + ", ".join(f"{s} {rows[s][1]:.0f}" for s in specs) + ".",
        "",
        "## Structures given where there is none",
        "",
    ]
    for spec in specs:
        text.append(f"- {spec}: " + ("; ".join(f"`{x}`" for x in invented[spec]) if invented[spec] else "none"))
    args.out.write_text("\n".join(text) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
