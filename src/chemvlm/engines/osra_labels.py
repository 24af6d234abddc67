"""The label table osra reads abbreviations with (`osra -a FILE`): osra's own, corrected and extended.

osra turns each text label of a drawing into a group by its superatom table (label, SMILES whose first atom
bonds to the drawing). The table Debian installs has wrong entries (`iPr` as n-propyl, `PrNH` bonded by its
far carbon, sodium sulfonate with a five-valent sulfur), lacks common protecting groups, and maps every R
group to a bare `*`, so `R1` and `R2` come out alike. This table fixes those entries, adds the groups of
`chem.abbreviations` and a few more, and writes numbered R groups as numbered attachment points (`[1*]`),
as an MDL R# atom or CLEF's references give them. osra's SMILES writer drops the number of an isotope, so
each numbered R group goes through osra as a placeholder element that never occurs in a drawing (Pa, Np,
...) and `restore_r_groups` turns it back into `[n*]`.

The installed table is read, not copied: it is osra's (GPL), found next to the osra program.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from rdkit import Chem

from chemvlm.chem.abbreviations import GROUPS

# osra's entries that are wrong (the first atom must be the one bonded to the drawing)
CORRECTIONS = {
    "iPr": "C(C)C",
    "PrNH": "NCCC",
    "SO3Na": "S(=O)(=O)O[Na]",
    "Me2NO2S": "S(=O)(=O)N(C)C",
    "HONH": "NO",
}

# groups osra's table lacks that patents draw often, beyond chem.abbreviations' (same convention)
EXTRA = {
    "OTBS": "O[Si](C)(C)C(C)(C)C",
    "TBSO": "O[Si](C)(C)C(C)(C)C",
    "TBS": "[Si](C)(C)C(C)(C)C",
    "OTBDMS": "O[Si](C)(C)C(C)(C)C",
    "TBDMSO": "O[Si](C)(C)C(C)(C)C",
    "OTIPS": "O[Si](C(C)C)(C(C)C)C(C)C",
    "TIPS": "[Si](C(C)C)(C(C)C)C(C)C",
    "OTf": "OS(=O)(=O)C(F)(F)F",
    "TfO": "OS(=O)(=O)C(F)(F)F",
    "OTs": "OS(=O)(=O)c1ccc(C)cc1",
    "TsO": "OS(=O)(=O)c1ccc(C)cc1",
    "OMs": "OS(=O)(=O)C",
    "OBn": "OCc1ccccc1",
    "OBz": "OC(=O)c1ccccc1",
    "Bz": "C(=O)c1ccccc1",
    "COPh": "C(=O)c1ccccc1",
    "OPh": "Oc1ccccc1",
    "NHBoc": "NC(=O)OC(C)(C)C",
    "BocHN": "NC(=O)OC(C)(C)C",
    "NBoc": "NC(=O)OC(C)(C)C",
    "CO2tBu": "C(=O)OC(C)(C)C",
    "CO2Bn": "C(=O)OCc1ccccc1",
    "OtBu": "OC(C)(C)C",
    "OiPr": "OC(C)C",
    "iBu": "CC(C)C",
    "sBu": "C(C)CC",
    "nPr": "CCC",
    "NEt2": "N(CC)CC",
    "NHMe": "NC",
    "SO2NH2": "S(=O)(=O)N",
    "SO2Ph": "S(=O)(=O)c1ccccc1",
    "CH2OH": "CO",
    "PMB": "Cc1ccc(OC)cc1",
    "MOM": "COC",
    "OMOM": "OCOC",
}

# numbered R groups, R1..R20, each through osra as one of these elements: none occurs in a drawing of an
# organic compound, and none reads like a label (not Am, amyl; No, NO; U or Th, letters of osra's OCR)
PLACEHOLDERS = ("Pa", "Np", "Pu", "Cm", "Bk", "Fm", "Md", "Lr", "Rf", "Db",
                "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Fr", "Po", "Tc")
_NUMBER_OF = {Chem.GetPeriodicTable().GetAtomicNumber(element): n for n, element in enumerate(PLACEHOLDERS, start=1)}


def installed_table(executable: str) -> Path | None:
    """osra's own superatom table, in the share/osra folder beside the program's bin folder, if there."""
    path = Path(executable).resolve().parent.parent / "share" / "osra" / "superatom.txt"
    return path if path.is_file() else None


def superatom_table(installed: Path) -> str:
    """The text of the table: osra's entries with the corrections, then the added groups and R groups."""
    entries: dict[str, str] = {}
    for line in installed.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#"):
            entries.setdefault(fields[0], fields[1])  # osra keeps the first of a label given twice
    entries.update(CORRECTIONS)
    for label, group in GROUPS.items():
        entries.setdefault(label, group.replace("*", "", 1))  # chem.abbreviations writes the bond as `*`
    for label, group in EXTRA.items():
        entries.setdefault(label, group)
    for number, element in enumerate(PLACEHOLDERS, start=1):
        entries[f"R{number}"] = f"[{element}]"
    return "".join(f"{label} {smiles}\n" for label, smiles in entries.items())


def table_file(executable: str) -> Path | None:
    """The table written once to a file named by its content (so a cache of osra runs keyed by the
    arguments changes when the table does); None where osra's own table is not found, so that osra keeps it
    rather than lose its entries to a table of ours alone."""
    installed = installed_table(executable)
    if installed is None:
        return None
    text = superatom_table(installed)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"chemvlm-osra-superatoms-{digest}.txt"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}.part")  # one per process: others may write the same table
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # atomic: a reader never sees half a table
    return path


def restore_r_groups(smiles: str) -> str:
    """osra's SMILES with each placeholder element turned back into its numbered R group (`[Np]` -> `[2*]`);
    unchanged when it has none or RDKit cannot read it."""
    if not smiles or not any(f"[{element}" in smiles for element in PLACEHOLDERS):  # not "Cn" of Cn1ccnc1
        return smiles
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        return smiles
    for atom in mol.GetAtoms():
        number = _NUMBER_OF.get(atom.GetAtomicNum())
        if number is not None:
            atom.SetAtomicNum(0)
            atom.SetIsotope(number)
            atom.SetNumExplicitHs(0)
            atom.SetNoImplicit(True)
            atom.SetFormalCharge(0)
    return Chem.MolToSmiles(mol)
