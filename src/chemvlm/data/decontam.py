"""Decontamination: remove every benchmark molecule from training sources by InChIKey first block.

Benchmark labels are read from the benchmark files themselves (`keys_from_benchmarks`) or from the key
list shipped with the package (`corpus/benchmark_keys.txt`, made from the same files), so a user without
the benchmark files still trains on clean data. Keys are one-way hashes: shipping them shares no data.
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

from chemvlm.chem.smiles import extract_smiles
from chemvlm.data.split import skeleton_key
from chemvlm.errors import InputError
from chemvlm.jsonl import text_lines

SHIPPED_KEYS = "benchmark_keys.txt"


def keys_from_benchmarks(root: str | Path) -> dict[str, str]:
    """{InChIKey first block: benchmark} from `root`: every labels.csv of ocsr-real, ocsr-dev (settings are
    chosen on it, so it is never trained on either) and trec-chem, and the ChemOCR JSONL."""
    root = Path(root)
    keys: dict[str, str] = {}
    tables = [*sorted(root.glob("ocsr-real/*/labels.csv")), *sorted(root.glob("ocsr-dev/*/labels.csv")),
              *sorted(root.glob("trec-chem/labels.csv"))]
    for labels in tables:
        with open(labels, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = skeleton_key(row.get("smiles") or "")
                if key:
                    keys.setdefault(key, labels.parent.relative_to(root).as_posix())
    for ocr in sorted(root.glob("chemvlm-original/mm_chem_ocr*.jsonl")):
        with open(ocr, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    answer = json.loads(line)["conversations"][-1]["value"]
                except (ValueError, KeyError, IndexError, TypeError):
                    raise ValueError(f"{ocr}:{number}: not an InternVL conversation line") from None
                key = skeleton_key(extract_smiles(answer) or "")
                if key:
                    keys.setdefault(key, "chemocr")
    return keys


def write_keys(keys: dict[str, str], path: str | Path) -> None:
    lines = [f"{key}\t{bench}" for key, bench in sorted(keys.items())]
    Path(path).write_text("# InChIKey first block<TAB>benchmark; molecules never to train on\n" + "\n".join(lines) + "\n")


class KeysFileError(InputError, ValueError):
    """A benchmark key file that cannot be read: "FILE:LINE: why"."""


def read_keys(path: str | Path | None = None) -> dict[str, str]:
    """Keys from a file written by `write_keys`; the shipped list when `path` is None."""
    if path is None:
        lines = resources.files("chemvlm.data.corpus").joinpath(SHIPPED_KEYS).read_text().splitlines()
    else:  # line by line, so that a byte that is not UTF-8 is named with its file and line
        lines = [line.rstrip("\r\n") for _, line in text_lines(path, error=KeysFileError)]
    keys = {}
    for line in lines:
        if line and not line.startswith("#"):
            key, _, bench = line.partition("\t")
            keys[key] = bench
    return keys


class Decontaminator:
    """Says whether a molecule or reaction touches a benchmark, and counts removals per benchmark."""

    def __init__(self, keys: dict[str, str]):
        self.keys = keys
        self.removed: dict[str, int] = {}

    def is_clean(self, smiles: str) -> bool:
        # every fragment counts: a salt or mixture that contains a benchmark molecule is contaminated
        for part in smiles.replace(">", ".").split("."):
            key = skeleton_key(part) if part else None
            if key in self.keys:
                bench = self.keys[key]
                self.removed[bench] = self.removed.get(bench, 0) + 1
                return False
        return True
