"""What every engine that reads one structure per picture (osra, chemvlm-mini, their ensemble) does before
and around reading: no image, no structure; several images, a clear refusal; a picture that cannot hold a
drawing (vision.content), "no structure" with the reason; a reaction scheme, molecule by molecule
(engines.schemes). Only the pictures left are given to the engine, in one call, so it batches them as usual.
"""

from __future__ import annotations

from typing import Callable

from PIL import Image

from chemvlm.chem.explain import language_of
from chemvlm.engines.base import Engine, Query
from chemvlm.engines.schemes import read_schemes
from chemvlm.record import Prediction
from chemvlm.vision import ImageLoadError, load_image
from chemvlm.vision.content import missing_drawing

_NO_IMAGE = {
    "en": "There is no image to read: this engine reads chemical structures from images only, so it gives no "
          "structure for a question without one.",
    "zh": "没有可读取的图片：该引擎只从图片中识别化学结构，没有图片的问题不给出结构。",
}
_NO_DRAWING = {"en": "No chemical structure was recognised in the image: {}.", "zh": "图中没有识别出化学结构：{}。"}


def no_structure(engine: Engine, query: Query, reason: str, seconds: float = 0.0) -> Prediction:
    """A record without a SMILES that says why, in the question's language."""
    answer = _NO_DRAWING[language_of(query.question)].format(reason) if query.images else _NO_IMAGE[language_of(query.question)]
    return Prediction.from_answer(id=query.id, image=query.image_label, question=query.question, answer=answer,
                                  smiles="", engine=engine.name, model=str(engine.spec), seconds=seconds)


def _screen(engine: Engine, query: Query) -> Prediction | Image.Image:
    """The record for a query that is not read at all, or its loaded picture when it goes to the engine."""
    if not query.images:
        return no_structure(engine, query, "no image")
    if len(query.images) > 1:
        return engine.failed(query, f"{engine.name} reads one structure picture per question, "
                                    f"got {len(query.images)} images")
    try:
        picture = load_image(query.images[0])
    except ImageLoadError as err:
        return engine.failed(query, str(err))
    reason = missing_drawing(picture)
    return no_structure(engine, query, reason) if reason else picture


def read_structures(engine: Engine, read_pictures: Callable[[list[Query]], list[Prediction]],
                    queries: list[Query]) -> list[Prediction]:
    """`read_pictures` (the engine's reading of single-structure pictures) on the queries that need it."""
    screened = [_screen(engine, query) for query in queries]
    passed = [(query, done) for query, done in zip(queries, screened) if isinstance(done, Image.Image)]
    read = iter(read_schemes(read_pictures, [query for query, _ in passed], [picture for _, picture in passed]))
    return [next(read) if isinstance(done, Image.Image) else done for done in screened]
