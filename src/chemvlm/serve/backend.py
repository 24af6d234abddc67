"""The engine behind the server: batched `predict` calls, and token streaming where the engine can.

Only a local chat model streams token by token (ChemVLM.stream); other engines (osra, a structure reader
such as chemvlm-mini, a proxied server) answer whole, and the answer is sent as one piece of the stream.
Queries arrive with encoded images (serve.images.Encoded); they are decoded here, in the batch, just before
the engine call.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from transformers import StoppingCriteria, StoppingCriteriaList

from chemvlm.engines import Engine, Query
from chemvlm.engines.local import LocalEngine
from chemvlm.record import Prediction
from chemvlm.serve.errors import APIError
from chemvlm.serve.images import decode


@dataclass
class StreamJob:
    query: Query
    max_tokens: int
    emit: Callable[[str], None]  # called from the generating thread with each text piece
    cancelled: threading.Event = field(default_factory=threading.Event)  # the client went away


class _StopWhen(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return self.event.is_set()


class Backend:
    def __init__(self, engine: Engine, max_pixels: int):
        self.engine = engine
        self.max_pixels = max_pixels
        # a structure reader (chemvlm-mini) answers whole, through predict: its raw tokens are a SMILES before
        # the drawing check, the likelihood threshold, beam repair and the RDKit explanation
        self.streams_tokens = isinstance(engine, LocalEngine) and not engine.vlm.settings.ink_view
        self.lock = threading.Lock()  # one model call at a time, whoever calls

    def key(self, max_tokens: int):
        """Requests batch together when this matches: the answer budget matters only to the local model."""
        return ("predict", max_tokens if self.streams_tokens else None)

    def _decoded(self, query: Query) -> Query:
        return dataclasses.replace(query, images=[decode(image, self.max_pixels) for image in query.images])

    def handle(self, key, payloads: list) -> list:
        with self.lock:
            if key[0] == "stream":
                job = payloads[0]
                try:
                    job.query = self._decoded(job.query)
                except APIError as err:
                    return [err]
                return [self._stream(job)]
            return self._predict(payloads, key[1])

    def _predict(self, queries: list[Query], max_tokens: int | None) -> list:
        """One result per query: a Prediction, or the APIError of an image that does not decode."""
        results, ready = {}, []
        for index, query in enumerate(queries):
            try:
                ready.append((index, self._decoded(query)))
            except APIError as err:
                results[index] = err
        if max_tokens is not None:
            self.engine.options = {**self.engine.options, "max_new_tokens": max_tokens}
        if ready:
            results.update(zip((i for i, _ in ready), self.engine.predict([q for _, q in ready])))
        return [results[i] for i in range(len(queries))]

    def _stream(self, job: StreamJob) -> Prediction:
        began = time.perf_counter()
        options = self.engine.options
        pieces = []
        for piece in self.engine.vlm.stream(
            job.query.images, job.query.question, job.query.history or None,
            max_new_tokens=job.max_tokens, max_tiles=options.get("max_tiles"),
            stopping_criteria=StoppingCriteriaList([_StopWhen(job.cancelled)]),
        ):
            if piece:
                pieces.append(piece)
                job.emit(piece)
        query = job.query
        return Prediction.from_answer(
            id=query.id, image=query.image_label, question=query.question, answer="".join(pieces).strip(),
            engine=self.engine.name, model=str(self.engine.spec), seconds=time.perf_counter() - began,
        )
