"""Label check of the graph reader's training pictures: does Debian's osra read them as it reads real patent
drawings? A look far below the real drawings is unlike them or mislabelled.

    nice python benchmarks/graph_looks.py [--per-band 70] [--data ../shared/data]

Molecules: a seeded sample of the data engine's molecule corpus, the same number in each size band (up to
20, 21-40, 41-60 heavy atoms), each drawn by data.graphs.draw_graph as training draws it (its look from
graph_look): clean at the size drawn, then clean and with the training's scan degradations scaled so that
its bonds are as long as the real drawings' (osra reads small drawings worse, and the graph head sees
every picture scaled into its tile anyway). Reference: as many real USPTO drawings of the same bands
(data/real/uspto, labels from their MOL files, bond length from fitting them). osra's main structure is
compared with the label (canonical SMILES, bench.metrics). Writes benchmarks/results/graph-looks.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from rdkit import Chem, RDLogger

from chemvlm.bench.metrics import score_smiles
from chemvlm.chem.graph import GraphError
from chemvlm.data.graphs import draw_graph, graph_look, molfile_graph
from chemvlm.engines.osra import parse_osra_output

RESULTS = Path(__file__).resolve().parent / "results"
BANDS = ((1, 20), (21, 40), (41, 60))


def band(smiles: str) -> str | None:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    atoms = mol.GetNumHeavyAtoms()
    return next((f"{lo}-{hi}" for lo, hi in BANDS if lo <= atoms <= hi), None)


def sample_by_band(smiles: list[str], per_band: int, rng: random.Random) -> list[tuple[str, str]]:
    """(SMILES, band) pairs, `per_band` of each band, in a seeded random order."""
    rng.shuffle(smiles)
    chosen: dict[str, list] = defaultdict(list)
    for s in smiles:
        b = band(s)
        if b and len(chosen[b]) < per_band:
            chosen[b].append(s)
        if len(chosen) == len(BANDS) and all(len(v) == per_band for v in chosen.values()):
            break
    return [(s, b) for b, found in sorted(chosen.items()) for s in found]


def bond_length(graph) -> float:
    points = np.asarray(graph.points)
    return float(np.median([np.linalg.norm(points[b[0]] - points[b[1]]) for b in graph.bonds])) if graph.bonds else 0.0


def scaled(image: Image.Image, factor: float) -> Image.Image:
    """The picture `factor` times as large, back to black and white (the drawings are 1-bit or grey)."""
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.convert("L").resize(size, Image.LANCZOS).point(lambda v: 0 if v < 160 else 255)


def osra_reads(path: Path) -> str:
    done = subprocess.run(["osra", str(path)], capture_output=True, text=True, timeout=120)
    return parse_osra_output(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-band", type=int, default=70)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    RDLogger.DisableLog("rdApp.*")
    with gzip.open(args.data / "molecules.csv.gz", "rt", encoding="utf-8") as handle:
        corpus = [row["smiles"] for row in csv.DictReader(handle)]
    molecules = sample_by_band(corpus, args.per_band, random.Random(2026))
    real_dir = args.data / "real" / "uspto"
    with (real_dir / "labels.csv").open(newline="", encoding="utf-8") as handle:
        real = {row["smiles"]: (real_dir / row["file"], real_dir / row["ref_molfile"]) for row in csv.DictReader(handle)
                if row.get("ref_molfile")}
    real_sample = sample_by_band(list(real), args.per_band, random.Random(2026))
    bonds = []
    for smiles, _ in real_sample:
        picture, molfile = real[smiles]
        try:
            with Image.open(picture) as image:
                bonds.append(bond_length(molfile_graph(image, molfile)[0]))
        except (GraphError, OSError):
            continue  # a drawing its MOL file does not fit says nothing about the bond length
    real_bond = float(np.median(bonds))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "picture.png"
        for i, (smiles, size) in enumerate(molecules):
            style, patent = graph_look(random.Random(i))
            look = f"{style.family}{', patent look' if patent else ''}"
            clean, graph, label = draw_graph(smiles, random.Random(i), degrade_strength=0.0)
            degraded, _, _ = draw_graph(smiles, random.Random(i), degrade_strength=0.5)
            factor = real_bond / max(1.0, bond_length(graph))  # degradations keep the geometry: the same bonds
            pictures = {"as drawn": clean, "clean": scaled(clean, factor), "degraded": scaled(degraded, factor)}
            for condition, image in pictures.items():
                image.save(path)
                exact = bool(score_smiles(label, osra_reads(path)).exact)
                rows.append({"source": "drawn", "look": look, "band": size, "condition": condition, "exact": exact})
            print(i, look, size, [r["exact"] for r in rows[-3:]], flush=True)
        for smiles, size in real_sample:
            exact = bool(score_smiles(smiles, osra_reads(real[smiles][0])).exact)
            rows.append({"source": "real", "look": "real USPTO drawing", "band": size, "condition": "as published",
                         "exact": exact})
    write(args, rows, real_bond)


def share(rows: list[dict]) -> str:
    return f"{100 * sum(r['exact'] for r in rows) / len(rows):.1f} (n={len(rows)})" if rows else "-"


def write(args, rows: list[dict], real_bond: float) -> None:
    drawn = [r for r in rows if r["source"] == "drawn"]
    real = [r for r in rows if r["source"] == "real"]
    pick = lambda rs, **want: [r for r in rs if all(r[k] == v for k, v in want.items())]
    lines = ["# osra on the graph reader's training pictures, beside real patent drawings", "",
             f"`python benchmarks/graph_looks.py --per-band {args.per_band}`: {args.per_band} molecules of the corpus per "
             "size band drawn as the graph loss draws them (data.graphs.draw_graph), clean and with the training's "
             "degradations, and as many real USPTO drawings per band; osra exact % (canonical SMILES, its main "
             f"structure). Clean and degraded pictures are scaled to the real drawings' median bond, {real_bond:.1f} px.",
             "", "## By look", "", "| look | clean, as drawn | clean | degraded |", "|---|---|---|---|"]
    conditions = ("as drawn", "clean", "degraded")
    for look in sorted({r["look"] for r in drawn}):
        lines.append(f"| {look} | " + " | ".join(share(pick(drawn, look=look, condition=c)) for c in conditions) + " |")
    lines.append("| all drawn | " + " | ".join(share(pick(drawn, condition=c)) for c in conditions) + " |")
    lines += ["", "## By size (heavy atoms)", "", "| band | drawn, clean, as drawn | drawn, clean | drawn, degraded | real USPTO |",
              "|---|---|---|---|---|"]
    for lo, hi in BANDS:
        b = f"{lo}-{hi}"
        lines.append(f"| {b} | " + " | ".join(share(pick(drawn, band=b, condition=c)) for c in conditions)
                     + f" | {share(pick(real, band=b))} |")
    lines.append("| all | " + " | ".join(share(pick(drawn, condition=c)) for c in conditions) + f" | {share(real)} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "graph-looks.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
