"""Molecule and reaction sources: CSV/SMILES files (plain or gzip), RDKit's shipped sets, and BRICS recombination.

Every source yields `Entry` records. A row that cannot be read or parsed never stops a build: it is
reported as a `BadRow` naming the file and line, and counted.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rdkit import Chem, RDConfig
from rdkit.Chem import BRICS

from chemvlm.chem.smiles import parse_smiles


@dataclass(frozen=True)
class Entry:
    smiles: str  # molecule SMILES, or reaction SMILES "reactants>agents>products"
    source: str
    name: str = ""
    origin: str = ""  # "file:line", for error messages further down


@dataclass
class BadRow:
    origin: str  # "file:line"
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass
class SourceReport:
    """What reading a source produced; `bad` keeps the first rows that failed with their line numbers."""

    read: int = 0
    bad_count: int = 0
    bad: list[BadRow] = field(default_factory=list)
    keep_bad: int = 50

    def reject(self, origin: str, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < self.keep_bad:
            self.bad.append(BadRow(origin, reason))


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such source file")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _is_reaction(smiles: str) -> bool:
    return smiles.count(">") == 2


def _valid(smiles: str) -> bool:
    if _is_reaction(smiles):
        sides = smiles.split(">")
        return bool(sides[0]) and bool(sides[2]) and all(parse_smiles(s) is not None for s in sides if s)
    return parse_smiles(smiles) is not None


def read_file(path: str | Path, report: SourceReport | None = None, source: str | None = None) -> Iterator[Entry]:
    """Entries of a molecule or reaction file.

    `.csv`/`.csv.gz`/`.tsv` need a header with a `smiles` or `rxn_smiles` column (optional `source`, `name`);
    `.smi`/`.txt` take the first whitespace-separated token of each line as the SMILES, the rest as the name.
    Lines starting with `#` and blank lines are skipped.
    """
    path = Path(path)
    report = report if report is not None else SourceReport()
    default_source = source or path.name.split(".")[0]
    suffixes = "".join(path.suffixes[-2:]).replace(".gz", "")
    with _open_text(path) as handle:
        if suffixes.endswith((".csv", ".tsv")):
            reader = csv.DictReader(handle, delimiter="\t" if suffixes.endswith(".tsv") else ",")
            column = next((c for c in ("smiles", "rxn_smiles", "SMILES") if c in (reader.fieldnames or [])), None)
            if column is None:
                raise ValueError(f"{path}:1: no 'smiles' or 'rxn_smiles' column in header {reader.fieldnames}")
            rows = ((reader.line_num, row.get(column) or "", row) for row in reader)
        else:
            def plain():
                for number, line in enumerate(handle, start=1):
                    if line.strip() and not line.startswith("#"):
                        smiles, *rest = line.split(maxsplit=1)
                        name = rest[0] if rest else ""
                        yield number, smiles, {"name": name.strip()}
            rows = plain()
        for number, smiles, row in rows:
            report.read += 1
            origin = f"{path}:{number}"
            smiles = smiles.strip()
            if not smiles:
                report.reject(origin, "empty SMILES")
            elif not _valid(smiles):
                report.reject(origin, f"invalid SMILES {smiles[:80]!r}")
            else:
                yield Entry(smiles, row.get("source") or default_source, row.get("name") or "", origin)


def rdkit_sets() -> Iterator[Entry]:
    """The 5,000 NCI molecules shipped inside RDKit (Data/NCI/first_5K.smi): more than the default corpus
    with no download. Run them through decontamination like any other source."""
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    if path.is_file():
        yield from read_file(path, source="rdkit-nci")


def brics_molecules(seeds: list[str], count: int, seed: int = 0, max_heavy: int = 40) -> Iterator[Entry]:
    """Novel molecules built by BRICS recombination of fragments of `seeds`: unlimited fresh structures
    that stay chemically reasonable because every bond made is a BRICS bond type seen in real molecules.

    BRICSBuild enumerates combinatorially, so it is run on small random fragment subsets (fast, varied).
    """
    fragments: set[str] = set()
    for smiles in seeds:
        mol = parse_smiles(smiles)
        if mol is not None:
            fragments.update(BRICS.BRICSDecompose(mol))
    pieces = sorted(fragments)  # sorted: set order is not stable across runs
    if len(pieces) < 2:
        raise ValueError(f"BRICS needs at least 2 fragments; the {len(seeds)} seed molecules gave {len(pieces)}")
    rng = random.Random(seed)
    seen: set[str] = set()
    stale = 0
    while len(seen) < count and stale < 200:
        subset = [Chem.MolFromSmiles(p) for p in rng.sample(pieces, min(20, len(pieces)))]
        before = len(seen)
        for product in itertools.islice(BRICS.BRICSBuild(subset, scrambleReagents=False, maxDepth=2), 20):
            try:
                product.UpdatePropertyCache(strict=False)
                Chem.SanitizeMol(product)
            except Exception:  # some recombinations give impossible valences; skip them
                continue
            smiles = Chem.MolToSmiles(product)
            if product.GetNumHeavyAtoms() > max_heavy or smiles in seen:
                continue
            seen.add(smiles)
            yield Entry(smiles, "brics", "", f"brics:{len(seen)}")
            if len(seen) >= count:
                return
        stale = stale + 1 if len(seen) == before else 0
