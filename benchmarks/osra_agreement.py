"""Independent label check: Debian's osra reads ≥200 clean renders per style family; how often does it agree
with our label? A family far below the others points at a rendering or labelling problem.

    python benchmarks/osra_agreement.py [N_PER_FAMILY]   # ~1 s per image, one process
Writes benchmarks/results/osra_agreement.md and osra_agreement.csv (every image: label, osra, match).
"""

from __future__ import annotations

import csv
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from importlib import resources
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw

from chemvlm.bench.metrics import score_smiles
from chemvlm.data.render import FAMILIES, Style, render, sample_style
from chemvlm.data.sources import read_file
from chemvlm.engines.osra import parse_osra_output

RESULTS = Path(__file__).parent / "results"




def main(n: int = 200) -> None:
    corpus = [e.smiles for e in read_file(resources.files("chemvlm.data.corpus").joinpath("molecules.csv"))]
    rng = random.Random(2024)
    molecules = rng.sample(corpus, n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("MolToImage (reference)",) + FAMILIES:
            for i, smiles in enumerate(molecules):
                path = Path(tmp) / f"{family}-{i}.png"
                if family in FAMILIES:
                    style = sample_style(random.Random(i), family)
                    drawn = render(smiles, style)
                    drawn.image.save(path)
                else:  # RDKit's stock picture: what osra makes of RDKit drawings without any of our styling
                    style = None
                    drawn = render(smiles, Style("rdkit"))
                    Draw.MolToImage(Chem.MolFromSmiles(drawn.label), size=(448, 448)).save(path)
                done = subprocess.run(["osra", str(path)], capture_output=True, text=True, timeout=120)
                read = parse_osra_output(done.stdout)
                score = score_smiles(drawn.label, read)  # the harness's metrics (labels are always valid)
                rows.append({
                    "family": family, "i": i, "label": drawn.label, "osra": read,
                    "exact": score.exact,
                    "no_stereo": score.exact_nostereo,
                    "tanimoto": round(score.tanimoto, 3),
                    "stereo": "@" in drawn.label or "/" in drawn.label or "\\" in drawn.label,
                    "abbreviations": " ".join(drawn.abbreviations), "style": str(style.to_dict() if style else "MolToImage"),
                })
                print(family, i, rows[-1]["exact"], flush=True)
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "osra_agreement.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    by = defaultdict(list)
    for r in rows:
        by[r["family"]].append(r)
    pct = lambda rs, key: 100.0 * sum(bool(r[key]) for r in rs) / max(1, len(rs))
    lines = ["# osra agreement with the labels of clean renders", "",
             f"`python benchmarks/osra_agreement.py {n}`: the same {n} random molecules of the shipped corpus drawn "
             "in every style family without degradation, read by Debian osra, compared with the label "
             "(canonical SMILES; `no stereo` ignores stereo; Tanimoto on RDKit fingerprints). The first row is RDKit's stock "
             "`Draw.MolToImage` picture of the same molecules: osra's own ceiling on RDKit-drawn 448-px images.", "",
             "| family | images | exact % | no stereo % | mean Tanimoto | exact % on stereo labels |",
             "| --- | --- | --- | --- | --- | --- |"]
    for family, rs in by.items():
        stereo = [r for r in rs if r["stereo"]]
        lines.append(f"| {family} | {len(rs)} | {pct(rs, 'exact'):.1f} | {pct(rs, 'no_stereo'):.1f} | "
                     f"{sum(r['tanimoto'] for r in rs) / len(rs):.3f} | {pct(stereo, 'exact'):.1f} (n={len(stereo)}) |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "osra_agreement.md").write_text(text)
    print(text)


def factor_study(n: int = 20) -> None:
    """One style factor at a time on a black-and-white RDKit base style: which factor costs osra the most."""
    import dataclasses

    corpus = [e.smiles for e in read_file(resources.files("chemvlm.data.corpus").joinpath("molecules.csv"))]
    molecules = random.Random(2024).sample(corpus, 200)[:n]
    base = Style("rdkit", colour=False)
    variants = {"base": {}, "rotation 45": {"rotation": 45.0}, "aromatic dashed (kekule=False)": {"kekule": False},
                "line width 1.0": {"line_width": 1.0}, "Telex font": {"font": "Telex-Regular.ttf"},
                "font scale 1.3": {"font_scale": 1.3}, "font scale 0.8": {"font_scale": 0.8}}
    lines = ["| variant | osra exact |", "| --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, change in variants.items():
            style, ok = dataclasses.replace(base, **change), 0
            for smiles in molecules:
                drawn = render(smiles, style)
                drawn.image.save(Path(tmp) / "x.png")
                out = subprocess.run(["osra", str(Path(tmp) / "x.png")], capture_output=True, text=True, timeout=120)
                ok += score_smiles(drawn.label, parse_osra_output(out.stdout)).exact
            lines.append(f"| {name} | {ok}/{n} |")
            print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--factors"]:
        factor_study(*(int(a) for a in sys.argv[2:3]))
    else:
        main(*(int(a) for a in sys.argv[1:2]))
