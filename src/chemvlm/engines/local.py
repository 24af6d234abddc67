"""A ChemVLM model in this process: batched generation through ChemVLM.ask_batch."""

from __future__ import annotations

import time

from chemvlm.chat.engine import ChemVLM
from chemvlm.chem.answer import answer_question
from chemvlm.chem.smiles import parse_smiles
from chemvlm.engines.base import Engine, EngineError, Query
from chemvlm.model.build import build_config, parameter_counts
from chemvlm.model.presets import load_preset
from chemvlm.record import Prediction
from chemvlm.vision import ImageLoadError, load_image

# A preset builds random weights in memory; beyond this it is a shape, not something to run.
MAX_PRESET_PARAMETERS = 200_000_000


def looks_like_smiles(text: str) -> bool:
    # an invalid SMILES is still a SMILES-shaped answer (worth a valid beam); a sentence is not
    return bool(text) and all(ch.isalnum() or ch in "()[]=#@+-\\/%.:*" for ch in text) and any(
        ch in text for ch in "BCNOSPFIbcnosp")


class LocalEngine(Engine):
    name = "chemvlm"

    def __init__(self, spec, batch_size: int = 8, max_tiles: int | None = None, max_new_tokens: int = 256,
                 num_candidates: int = 4, **generation):
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

    def predict(self, queries: list[Query]) -> list[Prediction]:
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
            seconds = (time.perf_counter() - began) / len(chunk)
            for (index, query, _), answer in zip(chunk, answers):
                results[index] = self._record(query, answer.text, seconds)
        return [results[i] for i in range(len(queries))]

    def _record(self, query: Query, text: str, seconds: float) -> Prediction:
        """A bare-SMILES answer (what chemvlm-mini gives) is checked with RDKit: when invalid, the best valid
        beam replaces it; then it is explained with RDKit's facts in the question's language."""
        smiles = text.strip()
        if not looks_like_smiles(smiles):  # a sentence: a chat model's own answer, kept as it is
            return Prediction.from_answer(id=query.id, image=query.image_label, question=query.question,
                                          answer=text, engine=self.name, model=str(self.spec), seconds=seconds)
        if parse_smiles(smiles) is None and self.num_candidates > 1:
            smiles = next(iter(self.candidates([query])[0]), smiles)
        return Prediction.from_answer(id=query.id, image=query.image_label, question=query.question,
                                      answer=answer_question(smiles, query.question),
                                      smiles=smiles, engine=self.name, model=str(self.spec), seconds=seconds)

    def candidates(self, queries: list[Query]) -> list[list[str]]:
        """The SMILES of the `num_candidates` best beams per query, best first (beams without one are left out)."""
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
            found.extend([a.smiles for a in answers if a.smiles] for answers in beams)
        return found
