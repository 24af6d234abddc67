"""`ensemble:A,B,...`: several engines propose SMILES, RDKit checks them, one answer is chosen per item.

The rule (measured in benchmarks/results/ensemble-ocsr.md):

1. every member gives its candidates (`Engine.candidates`: one per osra variant, one per beam, ...);
   candidates RDKit rejects are dropped and the rest are compared as canonical SMILES;
2. the molecule proposed by most members wins (one vote per member: a model's four beams or osra's variants
   that agree do not outvote another member);
3. a tie goes to the earliest candidate: the first member's first candidate (plain osra for `osra`).
   With the option `rerank=True`, a tie first goes to the candidate whose RDKit drawing best matches the image
   (`chem.rerank`); on ocsr-real that lost more items than it won, so it is off by default.

A member that fails on an item only loses its vote on that item; when every member fails, the item is a
failed record that names each member's error.

Options: the ensemble's own (`EnsembleOptions`) stay with it; every other option goes to each member that
takes it (`max_tiles` to a model, `timeout` to osra), and one that neither the ensemble nor any member takes
is refused (engines.registry.load_engine).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from chemvlm.chem import canonical_smiles
from chemvlm.chem.answer import answer_question
from chemvlm.chem.explain import language_of
from chemvlm.engines.base import Engine, Query
from chemvlm.engines.confidence import confidence, signals
from chemvlm.engines.recognition import read_structures
from chemvlm.record import Prediction
from chemvlm.vision import ImageLoadError, load_image


def member_labels(specs) -> list[str]:
    """A readable name per member; a spec used twice is numbered (`osra`, `osra#2`)."""
    seen: Counter = Counter()
    labels = []
    for spec in specs:
        seen[str(spec)] += 1
        labels.append(str(spec) if seen[str(spec)] == 1 else f"{spec}#{seen[str(spec)]}")
    return labels


# The osra runs an osra member of an ensemble makes (see engines.osra.VARIANTS), chosen by measurement:
# plain osra first (it wins ties), then `-j`, which mostly helps where plain osra finds nothing valid.
ENSEMBLE_VARIANTS = ("default", "jaggy")
# What members that take these options get inside an ensemble unless the caller says otherwise: osra reads
# labels with the extended table (engines.osra_labels) and gets benzenes completed (chem.benzene), both
# measured in benchmarks/results/osra-reading.md.
MEMBER_DEFAULTS = {"variants": ENSEMBLE_VARIANTS, "labels": "extended", "complete_benzenes": True}


def member_options(member_takes, options: dict) -> dict:
    """The options one member gets: each option it takes (`member_takes`, its option names), given or by
    the ensemble's default for members; the rest go to the members that take them."""
    return {name: value for name, value in {**MEMBER_DEFAULTS, **options}.items() if name in member_takes}


@dataclass(frozen=True)
class EnsembleOptions:
    rerank: bool = False  # break a tie by the drawing match (chem.rerank); off: it lost more than it won


def choose(candidates: dict[str, list[str]], image=None, rerank: bool = False) -> tuple[str, list[str], int]:
    """(canonical SMILES, members that proposed it, votes) from {member: [SMILES, ...]}, by the rule above.
    Raises ValueError when no candidate is valid."""
    votes: Counter = Counter()
    sources: dict[str, list[str]] = {}
    order: dict[str, int] = {}
    for member, smiles_list in candidates.items():
        for smiles in smiles_list:
            canonical = canonical_smiles(smiles)
            if canonical is None:
                continue  # RDKit rejects it: no vote
            sources.setdefault(canonical, [])
            if member not in sources[canonical]:
                sources[canonical].append(member)
                votes[canonical] += 1
            order.setdefault(canonical, len(order))
    if not votes:
        raise ValueError("no valid candidate")
    top = max(votes.values())
    tied = [c for c in votes if votes[c] == top]
    if len(tied) > 1 and rerank and image is not None:
        from chemvlm.chem.rerank import match_score

        scores = {c: match_score(image, c) for c in tied}
        best = max(scores.values())
        tied = [c for c in tied if scores[c] == best]
    chosen = min(tied, key=order.__getitem__)
    return chosen, sources[chosen], votes[chosen]


class EnsembleEngine(Engine):
    """Built by engines.registry.load_engine, which loads the members with their share of the options."""

    name = "ensemble"
    Options = EnsembleOptions

    def __init__(self, spec, members: list[Engine], **options):
        super().__init__(spec, **options)
        self.members = list(members)  # one per spec member; a spec named twice is the same engine twice
        self.labels = member_labels(spec.members)
        self.batch_size = max(getattr(m, "batch_size", 1) for m in self.members)
        # members whose candidates are independent runs (osra's variants): each agreeing one counts
        self.counts_variants = {label for label, m in zip(self.labels, self.members) if hasattr(m.options, "variants")}

    def _member_candidates(self, member: Engine, queries: list[Query]) -> list:
        """Candidates per query, or the exception for the queries that failed (a failing batch is retried
        item by item so that one bad item does not cost the others their candidates)."""
        try:
            return member.candidates(queries)
        except Exception as err:  # any member failure is recorded, never raised past the ensemble
            if len(queries) == 1:
                return [err]
            return [self._member_candidates(member, [query])[0] for query in queries]

    def predict(self, queries: list[Query]) -> list[Prediction]:
        return read_structures(self, self._read_pictures, queries)

    def _read_pictures(self, queries: list[Query]) -> list[Prediction]:
        start = time.perf_counter()
        done: dict[int, list] = {}
        for member in self.members:
            if id(member) not in done:
                done[id(member)] = self._member_candidates(member, queries)
        per_member = [done[id(member)] for member in self.members]
        seconds = (time.perf_counter() - start) / max(1, len(queries))
        return [
            self._decide(query, {label: found[i] for label, found in zip(self.labels, per_member)}, seconds)
            for i, query in enumerate(queries)
        ]

    def _decide(self, query: Query, found: dict, seconds: float) -> Prediction:
        began = time.perf_counter()
        errors = {label: value for label, value in found.items() if isinstance(value, Exception)}
        if len(errors) == len(found):
            if len({str(err) for err in errors.values()}) == 1:  # the same complaint (a bad file): say it once
                return self.failed(query, str(next(iter(errors.values()))), seconds)
            detail = "; ".join(f"{label}: {err}" for label, err in errors.items())
            return self.failed(query, f"every ensemble member failed ({detail})", seconds)
        candidates = {label: value for label, value in found.items() if label not in errors}
        image = None
        if self.options.rerank and len(query.images) == 1:
            try:
                image = load_image(query.images[0])
            except ImageLoadError:
                image = None  # members that could read it already voted; no re-ranking without the picture
        try:
            smiles, sources, votes = choose(candidates, image, self.options.rerank)
        except ValueError:
            smiles, sources, votes = "", [], 0
        sure = confidence(str(self.spec), signals(candidates, smiles, self.counts_variants)) if smiles else None
        language = language_of(query.question)
        answer = answer_question(smiles, query.question)
        total = len(candidates)
        if smiles:
            who = ", ".join(sources)
            answer += (f"（集成：{who} 提出，{total} 个成员中 {votes} 个一致）" if language == "zh"
                       else f" (ensemble: proposed by {who}; {votes} of {total} members agree)")
        record = Prediction.from_answer(
            id=query.id, image=query.image_label, question=query.question, answer=answer, smiles=smiles,
            engine=self.name, model=str(self.spec), seconds=seconds + time.perf_counter() - began,
        )
        record.confidence = sure
        record.answered_by = ",".join(sources) or None  # the members that proposed the answer
        return record


