"""A ChemVLM model in this process: batched generation through ChemVLM.ask_batch, streaming through
ChemVLM.stream."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterator

from transformers import StoppingCriteria, StoppingCriteriaList

from chemvlm.chat.vlm import ChemVLM
from chemvlm.chem.answer import answer_question
from chemvlm.chem.smiles import looks_like_smiles, parse_smiles
from chemvlm.engines.base import Engine, EngineError, Query
from chemvlm.engines.recognition import no_structure, read_structures
from chemvlm.model.build import build_config, parameter_counts
from chemvlm.model.presets import load_preset
from chemvlm.record import Prediction
from chemvlm.vision import ImageLoadError, load_image

# A preset builds random weights in memory; beyond this it is a shape, not something to run.
MAX_PRESET_PARAMETERS = 200_000_000
# A structure reader's SMILES below this likelihood is not given: on pictures without a structure the
# bundled model's best valid beam stayed below 0.88, its right answers on real drawings lay above 0.91
# (benchmarks/results/no-structure.md).
MIN_LIKELIHOOD = 0.9


@dataclass(frozen=True)
class LocalOptions:
    batch_size: int = 8  # questions per generate call
    max_tiles: int | None = None  # tiles per image; None: the checkpoint's own setting
    max_new_tokens: int = 256  # longest answer, unless a query sets its own
    num_candidates: int = 4  # beams for the ensemble and for repairing a SMILES RDKit rejects
    min_likelihood: float = MIN_LIKELIHOOD  # a structure reader's SMILES below it is "no structure"
    graph: bool = True  # read structures with the checkpoint's graph head first, when it has one
    min_graph_probability: float = 0.5  # a graph read less surely than this leaves the picture to generation


def _may_become_smiles(text: str) -> bool:
    """Whether more text could still make `text` a bare SMILES answer: it has only SMILES characters."""
    return looks_like_smiles(text + "1")  # a digit makes any run of SMILES characters SMILES-shaped


class _StopWhen(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return self.event.is_set()


class LocalEngine(Engine):
    name = "chemvlm"
    Options = LocalOptions

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        if spec.kind == "preset":
            preset = load_preset(spec.target)
            if "vocab_size" in preset.text and parameter_counts(build_config(preset))["total"] > MAX_PRESET_PARAMETERS:
                raise EngineError(
                    f"{spec}: a preset has no trained weights; convert a released checkpoint with "
                    "`chemvlm convert` and pass its directory instead"
                )
            self.vlm = ChemVLM.from_preset(spec.target)
        else:
            self.vlm = ChemVLM.from_pretrained(spec.target)
        self.batch_size = self.options.batch_size
        self.num_candidates = max(1, self.options.num_candidates)
        # only a structure reader's answers are all SMILES, so only there a likelihood decides "none"
        self.min_likelihood = self.options.min_likelihood if self.reads_structures else 0.0

    @property
    def reads_structures(self) -> bool:
        """A structure reader (chemvlm-mini): every answer is a SMILES, read one structure per picture."""
        return self.vlm.processor.ink_view

    @property
    def streams_tokens(self) -> bool:
        # a structure reader's raw tokens are a SMILES before the drawing check, the likelihood threshold,
        # beam repair and the RDKit explanation: it answers whole, through predict
        return not self.reads_structures

    def _budget(self, query: Query) -> int:
        return query.max_tokens or self.options.max_new_tokens

    def _chunks(self, items: list, query_of=lambda item: item):
        """`items` in generate calls: at most batch_size each, one answer budget per call."""
        budgets = sorted({self._budget(query_of(item)) for item in items})
        for budget in budgets:
            same = [item for item in items if self._budget(query_of(item)) == budget]
            for start in range(0, len(same), self.batch_size):
                yield budget, same[start : start + self.batch_size]

    def predict(self, queries: list[Query]) -> list[Prediction]:
        if self.reads_structures:  # reaction schemes molecule by molecule, pictures without a drawing refused
            return read_structures(self, self._read_pictures, queries)
        return self._read_pictures(queries)

    def _read_pictures(self, queries: list[Query]) -> list[Prediction]:
        results: dict[int, Prediction] = {}
        ready = []
        for index, query in enumerate(queries):
            try:
                images = [load_image(image) for image in query.images]  # bad inputs fail alone, not the batch
            except ImageLoadError as err:
                results[index] = self.failed(query, str(err))
                continue
            ready.append((index, query, images))
        ready = self._read_as_graphs(ready, results)
        for budget, chunk in self._chunks(ready, lambda item: item[1]):
            began = time.perf_counter()
            items = [(images, query.question, query.history or None) for _, query, images in chunk]
            answers = self.vlm.ask_batch(items, max_new_tokens=budget, max_tiles=self.options.max_tiles)
            texts = [answer.text.strip() for answer in answers]
            likelihoods = [answer.likelihood for answer in answers]
            # an answer that never ended is a loop, not a reading: no beams are spent on it
            ran_on = {i for i, a in enumerate(answers) if a.new_tokens >= budget}
            # a SMILES-shaped answer RDKit rejects: the best valid beam replaces it (one beam search per chunk)
            broken = [i for i, t in enumerate(texts)
                      if i not in ran_on and looks_like_smiles(t) and parse_smiles(t) is None]
            if broken and self.num_candidates > 1:
                beams = self._beams([chunk[i][1] for i in broken])
                for i, found in zip(broken, beams):
                    texts[i], likelihoods[i] = found[0] if found else (texts[i], likelihoods[i])
            seconds = (time.perf_counter() - began) / len(chunk)
            for i, ((index, query, _), text, likelihood) in enumerate(zip(chunk, texts, likelihoods)):
                if i in ran_on and self.min_likelihood > 0:
                    results[index] = no_structure(self, query, "the model's answer ran on without ending", seconds)
                elif looks_like_smiles(text) and likelihood < self.min_likelihood:
                    results[index] = no_structure(self, query, f"the model is unsure of what it read (likelihood "
                                                               f"{likelihood:.2f}, below {self.min_likelihood:.2f})", seconds)
                else:
                    results[index] = self._record(query, text, seconds)
        return [results[i] for i in range(len(queries))]

    @property
    def reads_graphs(self) -> bool:
        return self.reads_structures and self.options.graph and self.vlm.graph_head is not None

    def _sure_graphs(self, images: list) -> list[tuple[str | None, float]]:
        """(SMILES, probability) of each picture's graph; no SMILES when the head is less sure than
        min_graph_probability or the graph makes no molecule."""
        readings = self.vlm.read_graphs(images)
        return [(r.smiles if r.smiles and r.probability >= self.options.min_graph_probability else None, r.probability)
                for r in readings]

    def _read_as_graphs(self, ready: list, results: dict) -> list:
        """Pictures whose graph the head reads surely enough get their record from it (in `results`); the
        rest (and questions about several pictures) are returned, for generation."""
        if not self.reads_graphs:
            return ready
        left = [item for item in ready if len(item[2]) != 1]
        single = [item for item in ready if len(item[2]) == 1]
        for start in range(0, len(single), self.batch_size):
            chunk = single[start : start + self.batch_size]
            began = time.perf_counter()
            found = self._sure_graphs([images[0] for _, _, images in chunk])
            seconds = (time.perf_counter() - began) / len(chunk)
            for (index, query, images), (smiles, probability) in zip(chunk, found):
                if smiles is None:
                    left.append((index, query, images))
                    continue
                record = self._record(query, smiles, seconds)
                record.confidence, record.answered_by = round(probability, 3), "graph"
                results[index] = record
        return left

    def _record(self, query: Query, text: str, seconds: float) -> Prediction:
        """A bare-SMILES answer (what chemvlm-mini gives) is explained with RDKit's facts in the question's
        language; any other answer is kept as the model wrote it."""
        smiles = text.strip()
        if not looks_like_smiles(smiles):  # a sentence or an option letter: kept as it is
            return Prediction.from_answer(id=query.id, image=query.image_label, question=query.question,
                                          answer=text, engine=self.name, model=str(self.spec), seconds=seconds)
        record = Prediction.from_answer(id=query.id, image=query.image_label, question=query.question,
                                        answer=answer_question(smiles, query.question),
                                        smiles=smiles, engine=self.name, model=str(self.spec), seconds=seconds)
        record.answered_by = "generation"
        return record

    def stream(self, query: Query) -> Iterator[str]:
        """A general chat model's answer token by token. Text is held back while it could still become a bare
        SMILES (only SMILES characters so far): such an answer is checked, repaired and explained by predict,
        whose answer is then given whole. A structure reader answers whole, through predict."""
        if self.reads_structures:
            return (yield from super().stream(query))
        began = time.perf_counter()
        try:
            images = [load_image(image) for image in query.images]
        except ImageLoadError as err:
            return self.failed(query, str(err))
        stop = threading.Event()
        pieces = self.vlm.stream(images, query.question, query.history or None, max_new_tokens=self._budget(query),
                                 max_tiles=self.options.max_tiles,
                                 stopping_criteria=StoppingCriteriaList([_StopWhen(stop)]))
        text, sent = "", 0
        try:
            for piece in pieces:
                text += piece
                ready = text.strip()  # predict's answer is stripped: so is what is sent
                if not _may_become_smiles(ready):  # prose: predict keeps it as the model writes it
                    yield ready[sent:]
                    sent = len(ready)
                else:
                    yield ""  # held back, but the caller may stop here
        finally:
            stop.set()  # a caller that stops early ends the generation at the next token
            for _ in pieces:
                pass
        text = text.strip()
        if not sent and looks_like_smiles(text):  # greedy: predict generates the same text, then checks it
            return (yield from super().stream(query))
        if text[sent:]:
            yield text[sent:]
        return self._record(query, text, time.perf_counter() - began)

    def candidates(self, queries: list[Query]) -> list[list[str]]:
        """The SMILES of the `num_candidates` best beams per query, best first; beams without a valid SMILES
        and beams below the likelihood threshold are left out."""
        beams = [[smiles for smiles, likelihood in found if likelihood >= self.min_likelihood]
                 for found in self._beams(queries)]
        if not self.reads_graphs:
            return beams
        graphs = [None] * len(queries)
        single = [i for i, q in enumerate(queries) if len(q.images) == 1]
        if single:
            try:
                sure = self._sure_graphs([load_image(queries[i].images[0]) for i in single])
            except ImageLoadError as err:
                raise EngineError(str(err)) from None
            for i, (smiles, _) in zip(single, sure):
                graphs[i] = smiles
        # the graph's reading first; a beam that agrees adds nothing new to the candidates
        return [([g] if g else []) + [b for b in found if b != g] for g, found in zip(graphs, beams)]

    def _beams(self, queries: list[Query]) -> list[list[tuple[str, float]]]:
        """(SMILES, likelihood) of the valid ones of the `num_candidates` best beams per query, best first."""
        k = self.num_candidates
        found = {}
        for budget, chunk in self._chunks(list(enumerate(queries)), lambda item: item[1]):
            try:
                items = [([load_image(i) for i in q.images], q.question, q.history or None) for _, q in chunk]
            except ImageLoadError as err:
                raise EngineError(str(err)) from None
            beams = self.vlm.ask_batch(items, max_new_tokens=budget, max_tiles=self.options.max_tiles,
                                       num_beams=k, num_return_sequences=k, do_sample=False)
            beams = [[b] for b in beams] if k == 1 else beams
            for (index, _), answers in zip(chunk, beams):
                found[index] = [(a.smiles, a.likelihood) for a in answers if a.molecule.valid]
        return [found[i] for i in range(len(queries))]
