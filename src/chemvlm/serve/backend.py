"""The engine behind the server, through the Engine interface only: batched `predict` calls, and
`Engine.stream` for an engine that streams token by token (`Engine.streams_tokens`). Other engines answer a
streamed request whole, batched with the rest through predict, and the answer is sent as one piece.

Queries arrive with encoded images (serve.images.Encoded); they are decoded here, in the batch, just before
the engine call. A request's answer budget travels on its query (`Query.max_tokens`).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from chemvlm.engines import Engine, Query
from chemvlm.record import Prediction
from chemvlm.serve.errors import APIError
from chemvlm.serve.images import decode

PREDICT = ("predict",)  # the batch key of every plain request (and of streamed ones to a whole-answer engine)


@dataclass
class StreamJob:
    query: Query
    emit: Callable[[str], None]  # called from the generating thread with each text piece
    cancelled: threading.Event = field(default_factory=threading.Event)  # the client went away


class Backend:
    def __init__(self, engine: Engine, max_pixels: int):
        self.engine = engine
        self.max_pixels = max_pixels
        self.streams_tokens = engine.streams_tokens
        self.lock = threading.Lock()  # one model call at a time, whoever calls

    def _decoded(self, query: Query) -> Query:
        # a structure cut from a document page arrives as pixels already (serve.documents)
        images = [image if isinstance(image, Image.Image) else decode(image, self.max_pixels) for image in query.images]
        return dataclasses.replace(query, images=images)

    def handle(self, key, payloads: list) -> list:
        with self.lock:
            if key[0] == "stream":
                job = payloads[0]
                try:
                    job.query = self._decoded(job.query)
                except APIError as err:
                    return [err]
                return [self._stream(job)]
            return self._predict(payloads)

    def _predict(self, queries: list[Query]) -> list:
        """One result per query: a Prediction, or the APIError of an image that does not decode."""
        results, ready = {}, []
        for index, query in enumerate(queries):
            try:
                ready.append((index, self._decoded(query)))
            except APIError as err:
                results[index] = err
        if ready:
            results.update(zip((i for i, _ in ready), self.engine.predict([q for _, q in ready])))
        return [results[i] for i in range(len(queries))]

    def _stream(self, job: StreamJob) -> Prediction:
        pieces = self.engine.stream(job.query)
        try:
            while not job.cancelled.is_set():
                try:
                    piece = next(pieces)
                except StopIteration as end:
                    return end.value
                if piece:
                    job.emit(piece)
            return self.engine.failed(job.query, "the client closed the connection")
        finally:
            pieces.close()  # stops the engine's work for a client that left
