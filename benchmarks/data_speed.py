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
import statistics
import sys
import time
from importlib import resources
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw

from chemvlm.data.degrade import STEPS, degrade
from chemvlm.data.rows import Row, render_row
from chemvlm.data.sources import read_file

ROUNDS = 3
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


def _warm(barrier):
    """Pay each worker's one-off costs (Indigo session, fonts, noise banks) before the clock starts, as a
    training loader's long-lived workers do, then wait for the others."""
    for i, family in enumerate(FAMILIES):
        image, _ = render_row(Row("warm", "OC(=O)c1ccccc1N", "ocr", "en", family, i, 0.0))
        degrade(image, random.Random(i), steps=list(STEPS))
    barrier.wait()


def _run(fn, chunks, workers):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers + 1)
    with context.Pool(workers, initializer=_warm, initargs=(barrier,)) as pool:
        barrier.wait()
        start = time.perf_counter()
        done = sum(pool.map(fn, chunks, chunksize=1))
        elapsed = time.perf_counter() - start
    return done / elapsed


def main(n: int = 1200, workers: int = 2) -> None:
    corpus = resources.files("chemvlm.data.corpus").joinpath("molecules.csv")
    smiles = [e.smiles for e in read_file(corpus)][:n]
    rng = random.Random(0)
    names = sorted(FAMILIES)

    def rows(augment, family=None):
        return [Row(f"r{i}", s, "ocr", "en", family or rng.choices(names, [FAMILIES[k] for k in names])[0],
                    rng.getrandbits(63), augment) for i, s in enumerate(smiles)]

    # small tasks: a worker that finishes early takes the next one instead of idling through the tail
    chunk = lambda items: [items[i : i + 10] for i in range(0, len(items), 10)]
    pipelines = [
        ("plain `Draw.MolToImage` loop", _plain, smiles),
        ("render, RDKit family only, no augmentation", _rows, rows(0.0, "rdkit")),
        ("render, Indigo family only, no augmentation", _rows, rows(0.0, "indigo")),
        ("render, style mix, no augmentation (lazy path)", _rows, rows(0.0)),
        ("render + full augmentation chain, style mix (lazy path)", _rows, rows(1.0)),
        ("render + full augmentation + PNG encode (materialised)", _rows_encoded, rows(1.0)),
    ]
    # rounds over all pipelines, median per pipeline: a burst of other work on the machine hits one round
    rates = [[_run(fn, chunk(items), workers) for _, fn, items in pipelines] for _ in range(ROUNDS)]
    results = [(name, statistics.median(r[i] for r in rates)) for i, (name, _, _) in enumerate(pipelines)]

    load = os.getloadavg()[0]
    lines = [
        "# Data engine speed", "",
        f"`python benchmarks/data_speed.py {n} {workers}`: {n} molecules of the shipped corpus, 448 px, "
        f"{workers} worker processes, OCR task; Python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"(load average {load:.1f} at the end: the machine was shared, so these are lower bounds). Each worker "
        f"renders once before the clock starts (Indigo session, fonts, noise banks: paid once per training "
        f"worker), work goes out in tasks of 10 samples, and each figure is the median of {ROUNDS} rounds.", "",
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
