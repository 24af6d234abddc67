"""Score predictions against benchmark items: ChemOCR metrics, multiple-choice accuracy, judged free
answers, each overall, per subset and per language."""

from __future__ import annotations

from collections import defaultdict

from chemvlm.bench.choice import extract_choice, options_in
from chemvlm.bench.items import BenchItem
from chemvlm.bench.metrics import (
    score_smiles,
    summarize_choice,
    summarize_smiles,
    summarize_verdicts,
)
from chemvlm.chem.smiles import extract_smiles
from chemvlm.record import Prediction


def _groups(items: list[BenchItem], values: list, summarize) -> dict:
    """{"overall": …, "by_subset": {…}, "by_language": {…}} with `summarize` applied to each group."""
    result = {"overall": summarize(values)}
    for key in ("subset", "language"):
        groups = defaultdict(list)
        for item, value in zip(items, values):
            groups[getattr(item, key) or "-"].append(value)
        if len(groups) > 1:
            result[f"by_{key}"] = {name: summarize(group) for name, group in sorted(groups.items())}
    return result


def score(items: list[BenchItem], predictions: list[Prediction], judge=None) -> dict:
    """Scores of the items that have a prediction. Free-form answers need a `judge` (bench.judge.Judge)."""
    by_id = {p.id: p for p in reversed(predictions)}  # reversed: the first record of an id wins
    answered = [i for i in items if i.id in by_id]
    result = {
        "items": len(items),
        "answered": len(answered),
        "errors": sum(1 for i in answered if by_id[i.id].error),
    }
    smiles = [i for i in answered if i.kind == "smiles"]
    if smiles:
        values = []
        for item in smiles:
            p = by_id[item.id]
            values.append(score_smiles(item.answer, p.smiles if p.smiles is not None else extract_smiles(p.answer)))
        result["smiles"] = _groups(smiles, values, summarize_smiles)
    choice = [i for i in answered if i.kind == "choice"]
    if choice:
        chosen = [(i.answer, extract_choice(by_id[i.id].answer, options_in(i.question))) for i in choice]
        result["choice"] = _groups(choice, chosen, lambda pairs: summarize_choice(*zip(*pairs)) if pairs else {})
    free = [i for i in answered if i.kind == "free"]
    if free:
        if judge is None:
            result["free"] = {"overall": {"n": len(free), "note": "not judged: pass --judge openai:URL#MODEL"}}
        else:
            verdicts = judge.verdicts([(i, by_id[i.id].answer) for i in free])
            result["free"] = _groups(free, verdicts, summarize_verdicts)
            result["judge"] = judge.name
    return result
