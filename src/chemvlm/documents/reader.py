"""A document read page by page: every structure on a page located, cut out, read by an engine in one
batch per page, and given its place on the page (document, page, box, page size) and its label.

A record's id is `DOCUMENT#pPAGE#N` (N: the structure's number on the page, 1-based, in reading order) and
its `image` the document's absolute path. Its confidence is the segmenter's score for the region times the
engine's own confidence where the engine gives one; where it gives none, the region's score alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from chemvlm.documents.layout import Page, Region
from chemvlm.documents.pages import count_pages, iter_pages
from chemvlm.engines.base import Engine, Query
from chemvlm.record import Prediction

QUESTION = "What is the SMILES of the molecule in the image?"


@dataclass
class PageResult:
    document: str  # the file as given
    number: int  # 1-based
    pages: int  # how many pages the document has
    size: tuple[int, int]  # the rendered page, pixels
    dpi: float  # the resolution it was rendered at (lower than asked for a page too large)
    note: str | None  # what was done to the page to read it (Page.note)
    predictions: list[Prediction]  # one per structure, in reading order; empty: none on the page
    seconds: float


def structure_id(document: str, page: int, number: int) -> str:
    return f"{document}#p{page}#{number}"


def read_page(page: Page, engine: Engine, question: str = QUESTION) -> list[Prediction]:
    """One record per structure on the page, then one per reaction arrow with structures on both sides
    (id `DOCUMENT#pPAGE#rN`, SMILES reactants>>products); all structures go to the engine in one call."""
    from chemvlm.documents.labels import label_of
    from chemvlm.documents.segment import crop_box, find_structures

    regions = find_structures(page.image, page.words)
    if not regions:
        return []
    queries = [Query(id=structure_id(page.document, page.number, n), question=question,
                     images=[page.image.crop(crop_box(region.bbox, page.size))])
               for n, region in enumerate(regions, start=1)]
    placed = [_placed(prediction, region, page, label_of(region, page))
              for prediction, region in zip(engine.predict(queries), regions)]
    return placed + _reactions(page, question, regions, placed)


def _reactions(page: Page, question: str, regions: list[Region], placed: list[Prediction]) -> list[Prediction]:
    """Reaction records of the page's schemes, placed over their structures and arrow."""
    from chemvlm.documents.segment import find_arrows, reactions
    from chemvlm.engines.schemes import reaction_record

    records = []
    for n, (left, right, arrow) in enumerate(reactions(regions, find_arrows(page.image)), start=1):
        query = Query(id=f"{page.document}#p{page.number}#r{n}", question=question)
        record = reaction_record(query, [placed[i] for i in left], [placed[i] for i in right])
        boxes = [regions[i].bbox for i in left + right] + [arrow]
        union = Region((min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                        max(b[3] for b in boxes)), min(regions[i].score for i in left + right))
        sure = [placed[i].confidence for i in left + right]
        record.confidence = min(sure) if None not in sure else None
        records.append(_placed(record, union, page, None))
    return records


def _placed(prediction: Prediction, region: Region, page: Page, label: str | None) -> Prediction:
    confidence = region.score if prediction.confidence is None else region.score * prediction.confidence
    if ">>" in (prediction.smiles or ""):  # a reaction: its parts' confidences are already in it
        confidence = prediction.confidence if prediction.confidence is not None else region.score
    return replace(
        prediction, image=str(Path(page.document).resolve()), document=page.document, page=page.number,
        bbox=[round(float(v), 1) for v in region.bbox], page_size=list(page.size), label=label,
        confidence=round(min(1.0, max(0.0, confidence)), 4),
    )


def read_document(path: str | Path, engine: Engine, question: str = QUESTION, dpi: float = 200,
                  done_pages=frozenset()) -> Iterator[PageResult]:
    """The document's pages in order, each read as it is rendered; pages in `done_pages` are not rendered.
    A DocumentError (damaged page) ends the document after the pages already given."""
    total = count_pages(path)
    for page in iter_pages(path, dpi=dpi, skip=done_pages):
        yield page_result(page, total, engine, question)


def page_result(page: Page, total: int, engine: Engine, question: str = QUESTION) -> PageResult:
    """One rendered page read (`total`: the document's pages), timed from the rendered page on."""
    start = time.perf_counter()
    predictions = read_page(page, engine, question)
    return PageResult(page.document, page.number, total, page.size, page.dpi, page.note, predictions,
                      time.perf_counter() - start)
