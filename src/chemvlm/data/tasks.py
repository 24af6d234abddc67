"""Bilingual question-answer generators: one (question, answer) pair per molecule or reaction and task.

Phrasings live in `templates/{en,zh}.yaml`; facts come from RDKit (`chem.properties`). Four-option
multiple choice (`choice_question`) is a plain function of a stem, the right answer and distractors, so that
the benchmark harness can build MMChemBench-style items with it; `distractor_molecules` gives plausible wrong
answers (one-edit neighbours of the true molecule: same size, same look).
"""

from __future__ import annotations

import random
from functools import lru_cache
from importlib import resources

import yaml
from rdkit import Chem

from chemvlm.chem.properties import properties
from chemvlm.chem.smiles import parse_smiles

LANGUAGES = ("en", "zh")
MOLECULE_TASKS = ("ocr", "formula", "weight", "rings", "hbond", "groups", "lipinski", "describe", "choice")
REACTION_TASKS = ("reaction", "reactants", "products")
CHOICE_SUBJECTS = ("smiles", "formula", "weight", "rings", "description")
LETTERS = "ABCD"


@lru_cache(maxsize=None)
def templates(lang: str) -> dict:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return yaml.safe_load(resources.files("chemvlm.data").joinpath(f"templates/{lang}.yaml").read_text("utf-8"))


@lru_cache(maxsize=None)
def format_prompt(kind: str, lang: str) -> str:
    """LLaVA-1.5 short-answer instruction: kind "choice" or "short"."""
    formats = yaml.safe_load(resources.files("chemvlm.data").joinpath("templates/formats.yaml").read_text("utf-8"))
    return formats[kind][lang]


def choice_question(stem: str, correct: str, distractors: list[str], rng: random.Random, lang: str = "en") -> tuple[str, str]:
    """(question text with options A–D and the format prompt, letter of the right option).

    `distractors` must hold at least three answers different from `correct`; the first three distinct ones
    are used, and the four options are shuffled with `rng`.
    """
    wrong = list(dict.fromkeys(d for d in distractors if d != correct))[:3]
    if len(wrong) < 3:
        raise ValueError(f"need 3 distractors different from {correct!r}, got {wrong}")
    options = [correct, *wrong]
    rng.shuffle(options)
    lines = [stem] + [f"{letter}. {option}" for letter, option in zip(LETTERS, options)]
    return "\n".join(lines) + "\n" + format_prompt("choice", lang), LETTERS[options.index(correct)]


_SWAPS = {6: (7, 8), 7: (6, 8), 8: (7, 16), 16: (8,), 9: (17,), 17: (9, 35), 35: (17,)}


def distractor_molecules(smiles: str, rng: random.Random, count: int = 3, pool: list[str] = ()) -> list[str]:
    """Canonical SMILES of `count` valid molecules one edit away from `smiles` (an atom swapped for a
    neighbour in the periodic table, a methyl added or a terminal atom removed); `pool` fills any gap."""
    mol = parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES, no distractors: {smiles!r}")
    truth = Chem.MolToSmiles(mol)
    found: dict[str, None] = {}
    for _ in range(40 * count):
        if len(found) >= count:
            break
        edited = Chem.RWMol(mol)
        atom = edited.GetAtomWithIdx(rng.randrange(edited.GetNumAtoms()))
        move = rng.random()
        if move < 0.5 and atom.GetAtomicNum() in _SWAPS:
            atom.SetAtomicNum(rng.choice(_SWAPS[atom.GetAtomicNum()]))
            atom.SetNoImplicit(False)
            atom.SetNumExplicitHs(0)
        elif move < 0.8 and atom.GetTotalNumHs() > 0:
            new = edited.AddAtom(Chem.Atom(6))
            edited.AddBond(atom.GetIdx(), new, Chem.BondType.SINGLE)
        elif atom.GetDegree() == 1 and edited.GetNumAtoms() > 3:
            edited.RemoveAtom(atom.GetIdx())
        else:
            continue
        try:
            Chem.SanitizeMol(edited)
        except Exception:  # an edit that breaks valence or aromaticity is simply not a candidate
            continue
        if any(a.GetNumRadicalElectrons() for a in edited.GetAtoms()):
            continue  # an explicit H left behind made a radical: not a plausible answer
        candidate = Chem.MolToSmiles(edited)
        if candidate != truth and "." not in candidate and parse_smiles(candidate) is not None:
            found[candidate] = None
    for other in pool:
        if len(found) >= count:
            break
        if other != truth:
            found[other] = None
    return list(found)[:count]


def _join(items: list[str], lang: str) -> str:
    words = templates(lang)["words"]
    if not items:
        return words["no_groups"]
    if lang == "zh":
        return "、".join(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {words['and']} " + items[-1]


def facts(smiles: str, lang: str, name: str = "") -> dict:
    """Every value a molecule template may use, as text in `lang`."""
    mol = parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES: {smiles!r}")
    p = properties(mol)
    words = templates(lang)["words"]
    values = p.to_dict() | {"smiles": smiles, "weight": f"{p.weight:.2f}", "violations": p.lipinski_violations}
    values["groups"] = _join(list(p.groups_zh if lang == "zh" else p.groups_en), lang)
    values["verdict"] = words["lipinski_pass"] if p.lipinski_pass else words["lipinski_fail"]
    values["verdict_lower"] = values["verdict"][0].lower() + values["verdict"][1:] if lang == "en" else values["verdict"]
    description = words["describe"].format(**values)
    if name:
        description += (" " if lang == "en" else "") + words["named"].format(name=name)
    values["description"] = description
    values["description_lower"] = description[0].lower() + description[1:] if lang == "en" else description
    return values


def molecule_qa(task: str, smiles: str, lang: str, rng: random.Random, name: str = "", pool: list[str] = ()) -> tuple[str, str]:
    """(question, answer) for one molecule. `smiles` is the label of the image (what is drawn)."""
    if task not in MOLECULE_TASKS:
        raise ValueError(f"unknown molecule task {task!r}: use one of {', '.join(MOLECULE_TASKS)}")
    t = templates(lang)[task]
    values = {"smiles": smiles} if task == "ocr" else facts(smiles, lang, name)  # OCR needs no RDKit facts
    if task != "choice":
        return rng.choice(t["questions"]), rng.choice(t["answers"]).format(**values)
    subject = rng.choice(CHOICE_SUBJECTS)
    neighbours = distractor_molecules(smiles, rng, 3, pool)
    key = "weight" if subject == "weight" else subject
    correct = str(values[key])
    wrong = [str(facts(n, lang)[key]) for n in neighbours]
    if subject == "rings":  # many neighbours share the ring count: numbers near the truth instead
        wrong = [str(int(correct) + d) for d in rng.sample([-2, -1, 1, 2, 3], 5) if int(correct) + d >= 0]
    if subject == "description" and name:
        correct = facts(smiles, lang)["description"]  # a name would give the answer away
    stem = rng.choice(t["questions"]).format(what=t["subjects"][subject])
    try:
        question, letter = choice_question(stem, correct, wrong, rng, lang)
    except ValueError:  # too few distinct wrong values (tiny molecules): ask for the SMILES instead
        stem = rng.choice(t["questions"]).format(what=t["subjects"]["smiles"])
        question, letter = choice_question(stem, smiles, neighbours + list(pool), rng, lang)
    return question, rng.choice(t["answers"]).format(letter=letter)


def reaction_qa(task: str, reaction: str, lang: str, rng: random.Random) -> tuple[str, str]:
    """(question, answer) for a reaction image labelled `reaction` ("reactants>agents>products")."""
    if task not in REACTION_TASKS:
        raise ValueError(f"unknown reaction task {task!r}: use one of {', '.join(REACTION_TASKS)}")
    reactants, _, products = reaction.split(">")
    t = templates(lang)[task]
    values = {"reaction": reaction, "reactants": reactants, "products": products}
    return rng.choice(t["questions"]), rng.choice(t["answers"]).format(**values)
