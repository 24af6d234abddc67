"""The engine interface: a list of queries in, one Prediction per query out, in order.

Every engine declares its options as a dataclass (`Engine.Options`); an option it does not declare is
refused with one line naming the option and the engine, never dropped. Which engine a spec names is
`engines.registry`'s business, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterator

from chemvlm.errors import InputError
from chemvlm.record import Prediction
from chemvlm.spec import ModelSpec


class EngineError(InputError, RuntimeError):
    """An engine that cannot run (program missing, server unreachable); the message says which."""


class OptionError(EngineError, ValueError):
    """An option that no engine in play takes: a usage error (exit status 2 on the command line)."""


@dataclass
class Query:
    id: str
    images: list = field(default_factory=list)  # paths, bytes, data URLs or PIL images
    question: str = ""
    history: list = field(default_factory=list)  # earlier (question, answer) turns of the conversation, text only
    max_tokens: int | None = None  # the longest answer a model may generate for it; None: the engine's setting

    @property
    def image_label(self) -> str:
        return ";".join(str(i) if isinstance(i, str) and not i.startswith("data:") else "<image>" for i in self.images)


@dataclass(frozen=True)
class NoOptions:
    """The options of an engine that takes none."""


def option_names(options_class) -> tuple[str, ...]:
    return tuple(f.name for f in fields(options_class))


def check_options(options: dict, spec, takes, members: bool = False) -> None:
    """OptionError naming the first option that is not in `takes` (an ensemble's: its own and its members')."""
    for name in options:
        if name not in takes:
            who = f"engine {spec} nor by any of its members (they take" if members else f"engine {spec} (it takes"
            raise OptionError(f"option {name}: not taken by {who}: {', '.join(takes) or 'no options'})")


class Engine:
    """Subclasses set `name` and `Options` and implement `predict`. A failing item becomes a record with
    `error` set, never an exception that loses the rest of the batch."""

    name = "engine"
    Options = NoOptions
    batch_size = 1
    # True where `stream` gives the answer piece by piece as it is generated; otherwise it gives predict's
    # answer in one piece, and a server may as well batch the question with others through `predict`.
    streams_tokens = False

    def __init__(self, spec: ModelSpec, **options):
        self.spec = spec
        check_options(options, spec, option_names(self.Options))
        self.options = self.Options(**options)

    def predict(self, queries: list[Query]) -> list[Prediction]:
        raise NotImplementedError

    def stream(self, query: Query) -> Iterator[str]:
        """The answer to one query in text pieces whose concatenation is predict's answer; the generator
        returns predict's Prediction. Pieces may be empty (an engine that holds text back still gives its
        caller the chance to stop: closing the generator ends the work). This default gives the whole answer
        as one piece."""
        prediction = self.predict([query])[0]
        if prediction.answer:
            yield prediction.answer
        return prediction

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
