"""Samples per second of the data engine at 448 px on 2 processes: plain `Draw.MolToImage`, our render alone,
and render + the full degradation chain (lazy path: PIL images, no PNG encode; and materialised: + PNG encode).

    python benchmarks/data_speed.py [N] [WORKERS]   # writes benchmarks/results/data_speed.md
"""

from __future__ import annotations

import io
import multiprocessing
import os
import platform
import random
import sys
import time
from importlib import resources
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw

from chemvlm.data.rows import Row, render_row
from chemvlm.data.sources import read_file

FAMILIES = {"rdkit": 4, "rdkit-abbrev": 2, "rdkit-hand": 1, "indigo": 3}  # the example config's mix


def _plain(smiles_list):
    for smiles in smiles_list:
        Draw.MolToImage(Chem.MolFromSmiles(smiles), size=(448, 448))
    return len(smiles_list)


def _rows(rows, encode=False):
    for row in rows:
        image, _ = render_row(row)
        if encode:
            image.save(io.BytesIO(), "PNG", compress_level=1)
    return len(rows)


def _rows_encoded(rows):
    return _rows(rows, encode=True)


def _run(fn, chunks, workers):
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        done = sum(pool.map(fn, chunks))
    return done / (time.perf_counter() - start)


def main(n: int = 1200, workers: int = 2) -> None:
    corpus = resources.files("chemvlm.data.corpus").joinpath("molecules.csv")
    smiles = [e.smiles for e in read_file(corpus)][:n]
    rng = random.Random(0)
    names = sorted(FAMILIES)

    def rows(augment, family=None):
        return [Row(f"r{i}", s, "ocr", "en", family or rng.choices(names, [FAMILIES[k] for k in names])[0],
                    rng.getrandbits(63), augment) for i, s in enumerate(smiles)]

    chunk = lambda items: [items[i::workers * 4] for i in range(workers * 4)]
    results = [("plain `Draw.MolToImage` loop", _run(_plain, chunk(smiles), workers))]
    results.append(("render, RDKit family only, no augmentation", _run(_rows, chunk(rows(0.0, "rdkit")), workers)))
    results.append(("render, Indigo family only, no augmentation", _run(_rows, chunk(rows(0.0, "indigo")), workers)))
    results.append(("render, style mix, no augmentation (lazy path)", _run(_rows, chunk(rows(0.0)), workers)))
    results.append(("render + full augmentation chain, style mix (lazy path)", _run(_rows, chunk(rows(1.0)), workers)))
    results.append(("render + full augmentation + PNG encode (materialised)", _run(_rows_encoded, chunk(rows(1.0)), workers)))

    load = os.getloadavg()[0]
    lines = [
        "# Data engine speed", "",
        f"`python benchmarks/data_speed.py {n} {workers}`: {n} molecules of the shipped corpus, 448 px, "
        f"{workers} worker processes, OCR task; Python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"(load average {load:.1f} at the end: the machine was shared, so these are lower bounds).", "",
        "| pipeline | samples/s |", "| --- | --- |",
        *[f"| {name} | {rate:.0f} |" for name, rate in results], "",
        "Style mix = rdkit 4 : rdkit-abbrev 2 : rdkit-hand 1 : indigo 3 (the example config). The full chain applies",
        "each RanDepict-style step with its probability (perspective, stray marks, paper, ink, rescale, blur,",
        "binarise, noise, salt-and-pepper, JPEG); 20% of a real build stays clean, here none does.", "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results" / "data_speed.md"
    out.write_text(text)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
