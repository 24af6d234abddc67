"""Words for synthetic document pages: compound identifiers, chemistry-like prose, captions, table cells,
reaction conditions and page furniture, all from templates and a seeded `random.Random`.

The prose names compounds, numbers and percentages on purpose ("Compound 12 was obtained in 85 % yield"),
so that a label matcher cannot take the first identifier-like word it sees.
"""

from __future__ import annotations

import random

ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV"]
REAGENTS = ["NaH", "K2CO3", "Cs2CO3", "Et3N", "DIPEA", "NaBH4", "LiAlH4", "Pd(PPh3)4", "Pd(OAc)2", "CuI",
            "TFA", "HCl", "m-CPBA", "DMAP", "EDC", "HATU", "Boc2O", "NBS", "TBAF", "DIBAL-H", "LDA", "n-BuLi"]
SOLVENTS = ["THF", "DMF", "DCM", "MeCN", "toluene", "dioxane", "MeOH", "EtOH", "DMSO", "Et2O", "EtOAc"]
TARGETS = ["EGFR", "JAK2", "BRD4", "PDE4", "CDK2", "HDAC6", "BTK", "PI3Kα", "MEK1", "p38"]
SOLIDS = ["white", "colourless", "pale yellow", "yellow", "off-white", "brown"]
JOURNALS = ["J. Org. Chem.", "J. Med. Chem.", "Org. Lett.", "Tetrahedron", "Eur. J. Org. Chem.", "ChemMedChem"]
TOPICS = ["the amination", "the cross-coupling", "the cyclisation", "the reduction", "the alkylation",
          "the Suzuki coupling", "the Mitsunobu reaction", "the oxidation"]


class Identifiers:
    """Compound identifiers of one page, unique on it, in the page's own numbering habit: papers number
    "12", "3a", "(S)-15"; patents write "Example 7", "Compound 3", "IV"; some pages mix them."""

    def __init__(self, rng: random.Random, kind: str):
        self.rng, self.kind, self.used = rng, kind, set()
        self.number = rng.randint(1, 40)
        self.mixed = rng.random() < 0.25

    def _one(self) -> str:
        rng, n = self.rng, self.number
        kind = rng.choice(["paper", "patent"]) if self.mixed else self.kind
        if kind == "paper":
            form = rng.choices(["n", "na", "stereo", "nstar"], [4, 5, 1, 0.5])[0]
            letter = "abcdefgh"[rng.randrange(8)]
            stereo = f"({rng.choice('RS')})-{n}{letter if rng.random() < 0.5 else ''}"
            return {"n": f"{n}", "na": f"{n}{letter}", "stereo": stereo, "nstar": f"{n}'"}[form]
        form = rng.choices(["example", "compound", "roman", "intermediate"], [4, 3, 2, 1])[0]
        return {"example": f"Example {n}", "compound": f"Compound {n}", "roman": ROMAN[n % len(ROMAN)],
                "intermediate": f"Intermediate {n}"}[form]

    def next(self) -> str:
        for _ in range(100):
            label = self._one()
            self.number += self.rng.choice([0, 1, 1, 1, 2])
            if label not in self.used:
                self.used.add(label)
                return label
        raise RuntimeError("no fresh identifier")  # never in practice: the number keeps growing

    def other(self) -> str:
        """An identifier-like word for the prose that need not be on the page."""
        return f"{self.rng.randint(1, 60)}{self.rng.choice(['', 'a', 'b', 'c'])}"


def _sentence(rng: random.Random, name: str, other: str) -> str:
    r = rng
    templates = [
        f"Treatment of {other} with {r.choice(REAGENTS)} ({r.randint(1, 5)}.{r.randint(0, 9)} equiv) in "
        f"{r.choice(SOLVENTS)} at {r.choice([-78, 0, 25, 60, 80, 110])} °C gave {name} in {r.randint(35, 98)}% yield.",
        f"Compound {name} showed an IC50 of {r.randint(2, 900)} nM against {r.choice(TARGETS)}, about "
        f"{r.randint(2, 40)}-fold more potent than {other}.",
        f"The crude product was purified by column chromatography (hexane/EtOAc {r.randint(1, 10)}:1) to afford "
        f"{name} as a {r.choice(SOLIDS)} solid ({r.randint(12, 480)} mg, {r.randint(40, 96)}%).",
        f"1H NMR (400 MHz, CDCl3) δ {r.uniform(6.5, 8.2):.2f} (d, J = {r.uniform(1.5, 9.0):.1f} Hz, 2H), "
        f"{r.uniform(3.0, 4.5):.2f} (s, 3H), {r.uniform(0.8, 2.5):.2f} (m, {r.randint(1, 6)}H).",
        f"As shown in Table {r.randint(1, 4)}, entries {r.randint(1, 4)}–{r.randint(5, 12)} gave conversions "
        f"above {r.randint(60, 95)}% within {r.randint(1, 24)} h.",
        f"Replacing the ester of {other} by an amide lowered the solubility to {r.randint(1, 90)} μg/mL at pH 7.4.",
        f"Example {r.randint(1, 120)} was prepared from {other} following the general procedure B "
        f"({r.randint(50, 95)}%, {r.randint(90, 99)}.{r.randint(0, 9)}% purity by HPLC).",
        f"Scheme {r.randint(1, 5)} outlines the route to {name}, which needs {r.randint(3, 9)} steps "
        f"and one chromatographic purification.",
        f"MS (ESI) m/z {r.uniform(150, 650):.1f} [M+H]+; mp {r.randint(80, 260)}–{r.randint(261, 280)} °C.",
        f"The reaction tolerates halides, ethers and esters, while free amines such as {other} "
        f"gave less than {r.randint(5, 30)}% of product.",
    ]
    return r.choice(templates)


def paragraph(rng: random.Random, names: list[str], ids: Identifiers, sentences: int) -> list[str]:
    """Words of one paragraph; `names` are identifiers drawn on the page, mentioned among others."""
    words = []
    for _ in range(sentences):
        name = rng.choice(names) if names and rng.random() < 0.6 else ids.other()
        words += _sentence(rng, name, ids.other()).split()
    return words


def caption(rng: random.Random, kind: str, number: int, names: list[str]) -> list[str]:
    subject = f"{names[0]}" if names else "the products"
    topic = rng.choice(TOPICS)
    topic += "" if rng.random() < 0.5 else " with " + rng.choice(REAGENTS)
    text = {"Scheme": f"Scheme {number}. Synthesis of {subject}",
            "Table": f"Table {number}. Scope of {topic}",
            "Figure": f"Figure {number}. Structures of {', '.join(names) if names else 'the leads'}"}[kind]
    return (text + ("." if rng.random() < 0.7 else f" ({rng.randint(2, 9)} examples).")).split()


def conditions(rng: random.Random) -> list[str]:
    """One or two short lines above a reaction arrow."""
    first = f"{rng.choice(REAGENTS)}, {rng.choice(SOLVENTS)}"
    second = f"{rng.choice([0, 25, 60, 80, 100])} °C, {rng.randint(1, 24)} h"
    return [first, second] if rng.random() < 0.7 else [first]


def header(rng: random.Random, kind: str, page: int) -> tuple[str, str]:
    if kind == "patent":
        number = f"US {rng.randint(2005, 2023)}/{rng.randint(0, 399999):07d} A1"
        return number, f"{rng.choice(['Jan.', 'Mar.', 'Jun.', 'Oct.'])} {rng.randint(1, 28)}, {rng.randint(2005, 2023)}"
    year = rng.randint(1998, 2023)
    start = rng.randint(100, 9000)
    journal = f"{rng.choice(JOURNALS)} {year}, {rng.randint(10, 90)}, {start}−{start + rng.randint(8, 20)}"
    return journal, f"Page {page}"


def numeric_table(rng: random.Random, rows: int) -> tuple[list[str], list[list[str]]]:
    head = ["entry", "catalyst", "solvent", "T (°C)", "time (h)", "yield (%)"]
    body = [[str(i + 1), rng.choice(REAGENTS), rng.choice(SOLVENTS), str(rng.choice([0, 25, 40, 60, 80, 100])),
             str(rng.randint(1, 48)), str(rng.randint(0, 99))] for i in range(rows)]
    return head, body
