"""Molecule and reaction sources: CSV/SMILES files (plain or gzip), RDKit's shipped sets, and BRICS recombination.

Every source yields `Entry` records. A row that cannot be read or parsed never stops a build: it is
reported as a `BadRow` naming the file and line, and counted. A file that cannot be read at all (missing,
not gzip, no SMILES column) raises SourceError naming it.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import random
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rdkit import Chem, RDConfig
from rdkit.Chem import BRICS

from chemvlm.chem.smiles import parse_smiles
from chemvlm.errors import InputError


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


class SourceError(InputError, ValueError):
    """Sources that cannot be used: a file missing, not gzip or without a SMILES column, or no usable row
    in any of them. Names the file."""


@dataclass
class SourceReport:
    """What reading a source produced; `bad` keeps the first rows that failed with their line numbers,
    `by_file` the count and the first failure of each file."""

    read: int = 0
    bad_count: int = 0
    bad: list[BadRow] = field(default_factory=list)
    keep_bad: int = 50
    by_file: dict[str, dict] = field(default_factory=dict)

    def reject(self, path: str | Path, line: int, reason: str) -> None:
        self.read += 1
        self.bad_count += 1
        bad = BadRow(f"{path}:{line}", reason)
        if len(self.bad) < self.keep_bad:
            self.bad.append(bad)
        self.by_file.setdefault(str(path), {"count": 0, "first": str(bad)})["count"] += 1


# Bytes that are not UTF-8 are read as these lone surrogates ("surrogateescape"), so that one bad byte
# costs its row, not the file.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise SourceError(f"{path}: no such source file")
    # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first column's name
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8-sig", errors="surrogateescape", newline="")
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _is_reaction(smiles: str) -> bool:
    return smiles.count(">") == 2


def _valid(smiles: str) -> bool:
    if _is_reaction(smiles):
        sides = smiles.split(">")
        return bool(sides[0]) and bool(sides[2]) and all(parse_smiles(s) is not None for s in sides if s)
    return parse_smiles(smiles) is not None


def _problem(smiles: str, row: dict) -> str | None:
    """Why a row cannot be used, or None."""
    undecodable = _NOT_UTF8.search(smiles + "".join(v for v in row.values() if isinstance(v, str)))
    if undecodable:
        return f"not UTF-8 text (byte {ord(undecodable.group()) - 0xDC00:#04x})"
    if not smiles:
        return "empty SMILES"
    if not _valid(smiles):
        return f"invalid SMILES {smiles[:80]!r}"
    return None


def _csv_rows(handle, path: Path, delimiter: str, report: SourceReport) -> Iterator[tuple[int, str, dict]]:
    reader = csv.DictReader(handle, delimiter=delimiter)
    column = next((c for c in ("smiles", "rxn_smiles", "SMILES") if c in (reader.fieldnames or [])), None)
    if column is None:
        raise SourceError(f"{path}:1: no 'smiles' or 'rxn_smiles' column in header {reader.fieldnames}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # e.g. a field over csv's 131,072-character limit: that row only
            report.reject(path, reader.reader.line_num, f"unreadable CSV row ({err})")
            continue
        yield reader.line_num, row.get(column) or "", row


def _plain_rows(handle) -> Iterator[tuple[int, str, dict]]:
    for number, line in enumerate(handle, start=1):
        if line.strip() and not line.startswith("#"):
            smiles, *rest = line.split(maxsplit=1)
            yield number, smiles, {"name": (rest[0] if rest else "").strip()}


def read_file(path: str | Path, report: SourceReport | None = None, source: str | None = None) -> Iterator[Entry]:
    """Entries of a molecule or reaction file.

    `.csv`/`.csv.gz`/`.tsv` need a header with a `smiles` or `rxn_smiles` column (optional `source`, `name`);
    `.smi`/`.txt` take the first whitespace-separated token of each line as the SMILES, the rest as the name.
    Lines starting with `#` and blank lines are skipped. A bad row (invalid SMILES, bytes that are not
    UTF-8, a CSV error) is skipped and counted in `report`; a file that cannot be read raises SourceError.
    """
    path = Path(path)
    report = report if report is not None else SourceReport()
    default_source = source or path.name.split(".")[0]
    suffixes = "".join(path.suffixes[-2:]).replace(".gz", "")
    try:
        with _open_text(path) as handle:
            if suffixes.endswith((".csv", ".tsv")):
                rows = _csv_rows(handle, path, "\t" if suffixes.endswith(".tsv") else ",", report)
            else:
                rows = _plain_rows(handle)
            for number, smiles, row in rows:
                smiles = smiles.strip()
                problem = _problem(smiles, row)
                if problem:
                    report.reject(path, number, problem)
                    continue
                report.read += 1
                yield Entry(smiles, row.get("source") or default_source, row.get("name") or "", f"{path}:{number}")
    except (OSError, EOFError, zlib.error) as err:  # not gzip, truncated, unreadable: the whole file is bad
        raise SourceError(f"{path}: cannot be read ({err})") from None


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
