"""A ChemVLM model in this process: batched generation through ChemVLM.ask_batch."""

from __future__ import annotations

import time

from chemvlm.chat.engine import ChemVLM
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


class LocalEngine(Engine):
    name = "chemvlm"

    def __init__(self, spec, batch_size: int = 8, max_tiles: int | None = None, max_new_tokens: int = 256,
                 num_candidates: int = 4, min_likelihood: float = MIN_LIKELIHOOD, **generation):
        super().__init__(spec)
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
        self.batch_size = batch_size
        self.options = dict(max_tiles=max_tiles, max_new_tokens=max_new_tokens, **generation)
        self.num_candidates = max(1, num_candidates)
        # only a structure reader's answers are all SMILES, so only there a likelihood decides "none"
        self.min_likelihood = min_likelihood if self.vlm.settings.ink_view else 0.0

    def predict(self, queries: list[Query]) -> list[Prediction]:
        if self.vlm.settings.ink_view:  # a structure reader (chemvlm-mini): reaction schemes molecule by molecule
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
        for start in range(0, len(ready), self.batch_size):
            chunk = ready[start : start + self.batch_size]
            began = time.perf_counter()
            items = [(images, query.question, query.history or None) for _, query, images in chunk]
            answers = self.vlm.ask_batch(items, **self.options)
            texts = [answer.text.strip() for answer in answers]
            likelihoods = [answer.likelihood for answer in answers]
            # an answer that never ended is a loop, not a reading: no beams are spent on it
            ran_on = {i for i, a in enumerate(answers) if a.new_tokens >= self.options["max_new_tokens"]}
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

    def _record(self, query: Query, text: str, seconds: float) -> Prediction:
        """A bare-SMILES answer (what chemvlm-mini gives) is explained with RDKit's facts in the question's
        language; any other answer is kept as the model wrote it."""
        smiles = text.strip()
        if not looks_like_smiles(smiles):  # a sentence or an option letter: kept as it is
            return Prediction.from_answer(id=query.id, image=query.image_label, question=query.question,
                                          answer=text, engine=self.name, model=str(self.spec), seconds=seconds)
        return Prediction.from_answer(id=query.id, image=query.image_label, question=query.question,
                                      answer=answer_question(smiles, query.question),
                                      smiles=smiles, engine=self.name, model=str(self.spec), seconds=seconds)

    def candidates(self, queries: list[Query]) -> list[list[str]]:
        """The SMILES of the `num_candidates` best beams per query, best first; beams without a valid SMILES
        and beams below the likelihood threshold are left out."""
        return [[smiles for smiles, likelihood in found if likelihood >= self.min_likelihood]
                for found in self._beams(queries)]

    def _beams(self, queries: list[Query]) -> list[list[tuple[str, float]]]:
        """(SMILES, likelihood) of the valid ones of the `num_candidates` best beams per query, best first."""
        k = self.num_candidates
        found = []
        for start in range(0, len(queries), self.batch_size):
            chunk = queries[start : start + self.batch_size]
            try:
                items = [([load_image(i) for i in q.images], q.question, q.history or None) for q in chunk]
            except ImageLoadError as err:
                raise EngineError(str(err)) from None
            options = {**self.options, "num_beams": k, "num_return_sequences": k, "do_sample": False}
            beams = self.vlm.ask_batch(items, **options)
            beams = [[b] for b in beams] if k == 1 else beams
            found.extend([(a.smiles, a.likelihood) for a in answers if a.molecule.valid] for answers in beams)
        return found
