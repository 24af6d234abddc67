"""Turn a recognised structure into a short bilingual explanation (used by recognition-only engines)."""

from __future__ import annotations

import re

from chemvlm.chem.smiles import MoleculeInfo

_CJK = re.compile(r"[\u4e00-\u9fff]")


def language_of(text: str) -> str:
    """'zh' when the text has any CJK ideograph, else 'en'."""
    return "zh" if _CJK.search(text or "") else "en"


def explain(info: MoleculeInfo, language: str = "en") -> str:
    """One answer in the paper's style, naming the SMILES, then the facts RDKit computes."""
    if not info.smiles:
        return "图中没有识别出化学结构。" if language == "zh" else "No chemical structure was recognised in the image."
    if not info.valid:
        if language == "zh":
            return f"图中结构按SMILES来说是 {info.smiles}，但RDKit无法解析该SMILES。"
        return f"The structure in the image has the SMILES representation {info.smiles}, which RDKit cannot parse."
    # Markush structures (R groups, "*") have no InChI: leave the key out rather than print "None", and say
    # what the "*" atoms are, so that a placeholder is not taken for a compound.
    placeholders = info.canonical.count("*")
    if language == "zh":
        key = f"，InChIKey {info.inchikey}" if info.inchikey else ""
        markush = f"含 {placeholders} 个取代基占位符（*）：这是马库什结构，不是单一化合物，分子量不计占位符。" if placeholders else ""
        return (
            f"依据我的观察，这个图片展示的分子式，按SMILES来说是 {info.canonical}。"
            f"分子式 {info.formula}，分子量 {info.weight:.2f} g/mol{key}。{markush}"
        )
    key = f", InChIKey {info.inchikey}" if info.inchikey else ""
    markush = (f" It has {placeholders} R-group or attachment placeholder(s) (*): a Markush structure, not one "
               "compound; the weight counts nothing for them.") if placeholders else ""
    return (
        f"The molecule in the image has the SMILES representation {info.canonical}. "
        f"Formula {info.formula}, molecular weight {info.weight:.2f} g/mol{key}.{markush}"
    )
