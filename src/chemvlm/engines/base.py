"""The engine interface: a list of queries in, one Prediction per query out, in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from chemvlm.errors import InputError
from chemvlm.record import Prediction
from chemvlm.spec import ModelSpec


class EngineError(InputError, RuntimeError):
    """An engine that cannot run (program missing, server unreachable); the message says which."""


@dataclass
class Query:
    id: str
    images: list = field(default_factory=list)  # paths, bytes, data URLs or PIL images
    question: str = ""
    history: list = field(default_factory=list)  # earlier (question, answer) turns of the conversation, text only

    @property
    def image_label(self) -> str:
        return ";".join(str(i) if isinstance(i, str) and not i.startswith("data:") else "<image>" for i in self.images)


class Engine:
    """Subclasses set `name` and implement `predict`. A failing item becomes a record with `error`
    set, never an exception that loses the rest of the batch."""

    name = "engine"
    batch_size = 1

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    def predict(self, queries: list[Query]) -> list[Prediction]:
        raise NotImplementedError

    def candidates(self, queries: list[Query]) -> list[list[str]]:
        """Candidate SMILES per query, best first, for the ensemble. The default is the one SMILES `predict`
        gives; engines that can offer more (beams, program variants) override it. Raises EngineError naming
        the item when an item fails."""
        found = []
        for prediction in self.predict(queries):
            if prediction.error:
                raise EngineError(f"{prediction.id}: {prediction.error}")
            found.append([prediction.smiles] if prediction.smiles else [])
        return found

    def failed(self, query: Query, error: str, seconds: float = 0.0) -> Prediction:
        return Prediction.from_answer(
            id=query.id, image=query.image_label, question=query.question, answer="",
            engine=self.name, model=str(self.spec), seconds=seconds, smiles="", error=error,
        )


def load_engine(spec: ModelSpec | str, **options) -> Engine:
    """The engine a spec names. Options go to the engine (e.g. max_tiles, timeout)."""
    if isinstance(spec, str):
        spec = ModelSpec.parse(spec)
    if spec.kind == "osra":
        from chemvlm.engines.osra import OsraEngine

        return OsraEngine(spec, **options)
    if spec.kind in ("local", "preset"):
        from chemvlm.engines.local import LocalEngine

        return LocalEngine(spec, **options)
    if spec.kind == "openai":
        try:
            from chemvlm.engines.openai import OpenAIEngine
        except ImportError:
            raise EngineError(f"{spec}: the OpenAI-compatible engine is not available in this install") from None
        return OpenAIEngine(spec, **options)
    if spec.kind == "ensemble":
        try:
            from chemvlm.engines.ensemble import EnsembleEngine
        except ImportError:
            raise EngineError(f"{spec}: the ensemble engine is not available in this install") from None
        return EnsembleEngine(spec, **options)
    raise EngineError(f"{spec}: unknown engine kind {spec.kind!r}")
