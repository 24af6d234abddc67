"""Reaction schemes for engines that read one structure per picture (osra, chemvlm-mini, their ensemble):
each molecule of the scheme (vision.scheme) is read as a picture of its own and the answer is the reaction
SMILES, reactants>>products. Reagents drawn above or below the arrow are counted, not read."""

from __future__ import annotations

from typing import Callable

from PIL import Image

from chemvlm.chem.explain import language_of
from chemvlm.chem.smiles import describe
from chemvlm.engines.base import Query
from chemvlm.record import Prediction
from chemvlm.vision.scheme import Scheme, split_scheme

_MOLECULE_QUESTION = {"en": "What is the SMILES of this molecule?", "zh": "这个分子的SMILES是什么？"}


def read_schemes(predict: Callable[[list[Query]], list[Prediction]], queries: list[Query],
                 loaded: list[Image.Image]) -> list[Prediction]:
    """`predict` (an engine reading pictures one structure each) on one-image `queries`, whose pictures are
    `loaded`, except that a picture of a reaction scheme is read molecule by molecule. All pictures go to
    `predict` in one call, so the engine batches them as usual."""
    plan, pictures = [], []
    for query, picture in zip(queries, loaded):
        scheme = split_scheme(picture)
        plan.append((query, scheme))
        if scheme is None:
            pictures.append(query)
            continue
        question = _MOLECULE_QUESTION[language_of(query.question)]
        pictures += [Query(id=f"{query.id}/{i}", images=[crop], question=question, max_tokens=query.max_tokens)
                     for i, crop in enumerate(scheme.reactants + scheme.products)]
    read = iter(predict(pictures))
    answers = []
    for query, scheme in plan:
        if scheme is None:
            answers.append(next(read))
        else:
            parts = [next(read) for _ in range(len(scheme.reactants) + len(scheme.products))]
            answers.append(_reaction(query, scheme, parts))
    return answers


def _reaction(query: Query, scheme: Scheme, parts: list[Prediction]) -> Prediction:
    return reaction_record(query, parts[: len(scheme.reactants)], parts[len(scheme.reactants) :], scheme.agents)


def reaction_record(query: Query, reactants: list[Prediction], products: list[Prediction], agents: int = 0) -> Prediction:
    """The reaction reactants>>products of records read one molecule each (unread ones left out of the SMILES
    and named in the answer); `agents`: drawings above or below the arrow that were not read."""
    zh = language_of(query.question) == "zh"
    parts, sides = reactants + products, (reactants, products)
    smiles = ">>".join(".".join(p.smiles for p in side if p.valid) for side in sides)
    described = []
    for side in sides:
        items = []
        for number, part in enumerate(side, 1):
            if part.valid:
                items.append(f"{part.smiles} ({describe(part.smiles).formula})")
            else:
                items.append(f"第 {number} 个未识别" if zh else f"number {number} not recognised")
        described.append(("，" if zh else ", ").join(items))
    if zh:
        answer = f"图中反应的SMILES为 {smiles}。反应物：{described[0]}；产物：{described[1]}。"
        if agents:
            answer += f"箭头上下的 {agents} 处试剂或条件未识别。"
    else:
        answer = f"The reaction SMILES of the scheme is {smiles}. Reactants: {described[0]}; products: {described[1]}."
        if agents:
            answer += f" {agents} drawing(s) above or below the arrow (reagents, conditions) were not read."
    errors = [f"molecule {i + 1}: {p.error}" for i, p in enumerate(parts) if p.error]
    return Prediction.from_answer(
        id=query.id, image=query.image_label, question=query.question, answer=answer, smiles=smiles,
        engine=parts[0].engine, model=parts[0].model, seconds=sum(p.seconds for p in parts),
        error="; ".join(errors) if len(errors) == len(parts) else None,
    )
