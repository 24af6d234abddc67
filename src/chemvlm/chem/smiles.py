"""Find, validate and canonicalise SMILES with RDKit.

Answers of chemistry VLMs are free text in Chinese or English ("…按SMILES来说是 CCO。",
"…with a SMILES representation is CCO."); `extract_smiles` recovers the SMILES from them (the one answer to
"which SMILES does this answer give", for scoring and serving alike); `looks_like_smiles` tells a bare SMILES
answer from a word or an option letter.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors, rdMolDescriptors

RDLogger.DisableLog("rdApp.*")  # invalid candidates are expected while scanning text; keep stderr clean

# Characters a SMILES may contain. Chinese text, spaces, commas, quotes and backticks end a candidate.
_CANDIDATE = re.compile(r"[A-Za-z0-9@+\-\[\]()=#$/\\%.:*~]+")
# Where an answer names its SMILES; the molecule follows the last mention.
_KEYWORD = re.compile(r"smiles", re.IGNORECASE)
# Answers that end in "." must not lose it into the SMILES; a SMILES never ends with "." or ":".
_TRAILING = ".:"


def parse_smiles(smiles: str) -> Chem.Mol | None:
    """RDKit molecule, or None for anything RDKit rejects (empty strings included)."""
    if not smiles or not smiles.strip():
        return None
    try:
        mol = Chem.MolFromSmiles(smiles.strip())
    except Exception:  # RDKit raises on a few pathological inputs instead of returning None
        return None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def unreadable_atoms(smiles: str) -> int:
    """`*` atoms bonded to two or more atoms: not an R group or an attachment point (those end a chain) but
    an atom the recogniser could not read, as osra writes them for letters, circles and other marks."""
    mol = parse_smiles(smiles) if smiles else None
    return 0 if mol is None else sum(a.GetAtomicNum() == 0 and a.GetDegree() >= 2 for a in mol.GetAtoms())


def looks_like_smiles(text: str) -> bool:
    """A bare SMILES answer, valid or not (an invalid one is worth a valid beam), as opposed to a word or an
    option letter: "CCO" and "C1CC(" are, "B", "Yes" and "Benzene" are not."""
    if not text or not text.isascii() or not _CANDIDATE.fullmatch(text):
        return False
    if any(ch in text for ch in "()=#[]@/\\%") or any(ch.isdigit() for ch in text):
        return True
    return len(text) > 1 and parse_smiles(text) is not None


def canonical_smiles(smiles: str, isomeric: bool = True) -> str | None:
    """RDKit canonical SMILES, or None when invalid. `isomeric=False` drops stereo."""
    mol = parse_smiles(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def _variants(token: str):
    """The candidate and the forms it takes once sentence punctuation is peeled off."""
    yield token
    stripped = token.rstrip(_TRAILING)
    if stripped != token:
        yield stripped
    if stripped.startswith("(") and stripped.endswith(")"):
        yield stripped[1:-1]
    elif stripped.endswith(")") and stripped.count(")") > stripped.count("("):
        yield stripped[:-1]  # "(… is CCO)" closes a parenthesis the SMILES did not open


def _valid_candidates(text: str):
    for match in _CANDIDATE.finditer(text):
        for variant in _variants(match.group()):
            if parse_smiles(variant) is not None:
                yield match.start(), variant
                break


def extract_smiles(text: str) -> str | None:
    """The SMILES in a free-text answer, as written (not canonicalised), or None.

    Looks after the last mention of "SMILES" first, then anywhere; among valid candidates the
    longest wins, so that short English words that happen to parse ("I", "CO") lose to the molecule.
    When nothing valid is there but the answer names a SMILES, the last SMILES-like token after
    that mention is returned as written, so that an invalid SMILES is reported (and scored) as invalid
    rather than as missing.
    """
    if not text:
        return None
    mentions = [m.end() for m in _KEYWORD.finditer(text)]
    regions = [text[mentions[-1]:], text] if mentions else [text]
    for region in regions:
        found = [smiles for _, smiles in _valid_candidates(region)]
        if found:
            return max(found, key=len)  # max keeps the first of equal length
    if mentions:
        tokens = [t.rstrip(_TRAILING) for t in _CANDIDATE.findall(text[mentions[-1]:])]
        tokens = [t for t in tokens if re.search(r"[A-Z\[]", t)]
        if tokens:
            return tokens[-1]
    return None


@dataclass(frozen=True)
class MoleculeInfo:
    """The chemistry view of one SMILES: what RDKit says about it."""

    smiles: str
    valid: bool
    canonical: str | None = None
    formula: str | None = None
    weight: float | None = None
    inchi: str | None = None
    inchikey: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def describe(smiles: str | None) -> MoleculeInfo:
    """Canonical SMILES, formula, average molecular weight, Standard InChI and InChIKey."""
    mol = parse_smiles(smiles or "")
    if mol is None:
        return MoleculeInfo(smiles=smiles or "", valid=False)
    inchi = Chem.MolToInchi(mol) or None
    return MoleculeInfo(
        smiles=smiles,
        valid=True,
        canonical=Chem.MolToSmiles(mol),
        formula=rdMolDescriptors.CalcMolFormula(mol),
        weight=round(Descriptors.MolWt(mol), 3),
        inchi=inchi,
        inchikey=Chem.InchiToInchiKey(inchi) if inchi else None,
    )
