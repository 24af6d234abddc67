"""`chemvlm ocr` on documents: each page read, its records appended and the page marked done before the
next is rendered, so that an interrupted run loses at most the page it was on. A document that cannot be
read is named in one line and the run goes on with the next; the pages read before stay written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from chemvlm.documents.pages import DocumentError
from chemvlm.documents.reader import QUESTION, PageResult, read_document
from chemvlm.documents.resume import PageLog
from chemvlm.engines.base import Engine
from chemvlm.record import PredictionWriter


@dataclass
class Tally:
    documents: int = 0
    pages_before: int = 0  # done by an earlier run
    pages_now: int = 0
    structures: int = 0
    valid: int = 0
    failed: list[str] = field(default_factory=list)  # one line per document that could not be read

    def summary(self, output) -> str:
        return (f"{self.documents} documents: {self.pages_before} pages already done, {self.pages_now} read now "
                f"({self.structures} structures, {self.valid} valid SMILES), {len(self.failed)} documents failed "
                f"-> {output}")


def ocr_documents(documents: list[Path], engine: Engine, writer: PredictionWriter, say: Callable[[str], None],
                  fail: Callable[[str], None], question: str = QUESTION, dpi: float = 200) -> Tally:
    """Every page of every document into `writer`; `say` gets a line per page, `fail` one per bad document."""
    log, tally = PageLog(writer), Tally(documents=len(documents))
    for document in documents:
        done = log.done(document)
        tally.pages_before += len(done)
        try:
            for result in read_document(document, engine, question=question, dpi=dpi, done_pages=done):
                record_page(result, writer, log, tally, say)
        except DocumentError as err:
            tally.failed.append(str(err))
            fail(str(err))
    return tally


def record_page(result: PageResult, writer: PredictionWriter, log: PageLog, tally: Tally,
                say: Callable[[str], None]) -> None:
    """A page's records appended, then the page marked done (the one writer of a run: also on a cluster)."""
    for prediction in result.predictions:
        if prediction.id not in writer.done:  # written before a kill cut the page short
            writer.write(prediction)
    log.mark(result.document, result.number, [p.id for p in result.predictions], result.seconds)
    tally.pages_now += 1
    tally.structures += len(result.predictions)
    tally.valid += sum(p.valid for p in result.predictions)
    note = f" ({result.note})" if result.note else ""
    say(f"{result.document}: page {result.number}/{result.pages}, {len(result.predictions)} structures, "
        f"{result.seconds:.1f} s{note}")
