"""`chemvlm ocr --ray [ADDRESS]`: the pages of many documents read on a Ray cluster.

The driver (this process) lists the documents' pages, passes over those a run has done (OUT.pages.jsonl,
as documents.resume keeps it) and hands the others to page readers: one Ray actor per CPU of the cluster,
each with the engine loaded once and single-threaded (torch's threads, osra's processes). A reader renders
its page, finds the structures, labels them and reads them (documents.reader, as a run on one machine
does) and sends the records back. The driver alone writes: each page's records, then the page's line
(documents.run.record_page), as pages come back. So the output and the resume file are those of a run on
one machine, and a run killed with --ray is resumed with or without it. Pages come back as they are done,
so pages (not the records within a page) may be in another order than on one machine. A damaged page is
one error line and the document's other pages are still read.

The documents must be at the same paths on every node, and chemvlm installed on every node.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from chemvlm.cluster import LOCAL, ClusterError, connected, cpus
from chemvlm.documents.pages import DocumentError, count_pages, load_page
from chemvlm.documents.reader import QUESTION, page_result
from chemvlm.documents.resume import PageLog
from chemvlm.documents.run import Tally, record_page
from chemvlm.engines.base import EngineError
from chemvlm.errors import InputError
from chemvlm.record import PredictionWriter

IN_FLIGHT = 2  # pages queued per reader, so that a reader never waits for the driver between pages


class PageReader:
    """A Ray actor: one engine, loaded once, reading one page at a time."""

    def __init__(self, model: str, options: dict):
        import sys

        from chemvlm.engines import load_engine

        self.engine, self.error = None, None
        try:
            self.engine = load_engine(model, **options)
        except InputError as err:  # no engine (a missing program, a bad checkpoint): the run's one error line
            self.error = str(err)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)

    def read(self, task: tuple) -> tuple[str, object]:
        """("page", PageResult), ("document", why the page cannot be read) or ("engine", why no engine)."""
        given, path, number, total, dpi, question = task
        if self.engine is None:
            return "engine", self.error
        try:
            page = replace(load_page(path, number, dpi=dpi), document=given)
        except DocumentError as err:
            return "document", str(err).replace(path, given, 1)
        result = page_result(page, total, self.engine, question)
        # `image` is the absolute path the driver resolved, whatever this worker's current directory
        result.predictions = [replace(p, image=path) for p in result.predictions]
        return "page", result


def ocr_documents_ray(documents: list[Path], model: str | None, options: dict, writer: PredictionWriter,
                      say: Callable[[str], None], fail: Callable[[str], None], question: str = QUESTION,
                      dpi: float = 200, address: str = LOCAL, workers: int | None = None) -> Tally:
    """documents.run.ocr_documents on a Ray cluster: `model` (None: the default model) and `options` (None:
    not given) name the engine each reader loads, checked here first; `workers` readers (default: one per
    CPU of the cluster; a local cluster is started with that many CPUs)."""
    from chemvlm.engines.registry import given_options, takes
    from chemvlm.spec import default_model

    model = model or default_model()
    options = given_options(model, **options)  # an option no engine takes: refused before the cluster starts
    if "workers" in takes(model):
        options["workers"] = 1  # osra's processes at once: a reader has one CPU
    log, tally = PageLog(writer), Tally(documents=len(documents))
    failed: set[str] = set()

    def failure(document: str, why: str) -> None:
        fail(why)
        if document not in failed:  # one document counts once, however many of its pages are damaged
            failed.add(document)
            tally.failed.append(why)

    with connected(address, num_cpus=workers) as ray:
        count = min(workers or cpus(ray), cpus(ray))  # a reader holds one CPU: more would wait for ever
        readers = [ray.remote(num_cpus=1, max_restarts=1, max_task_retries=1)(PageReader).remote(model, options)
                   for _ in range(count)]
        try:
            tasks = _tasks(documents, log, tally, dpi, question, failure)
            for kind, value, task in _spread(ray, readers, tasks):
                if kind == "engine":
                    raise EngineError(value)
                if kind == "document":
                    failure(task[0], value)
                else:
                    record_page(value, writer, log, tally, say)
        finally:
            for reader in readers:
                ray.kill(reader)
    return tally


def _tasks(documents, log: PageLog, tally: Tally, dpi, question, failure) -> Iterator[tuple]:
    """A task per page not done yet, document by document (pages are counted as they are reached)."""
    for document in documents:
        done = log.done(document)
        tally.pages_before += len(done)
        try:
            total = count_pages(document)
        except DocumentError as err:
            failure(str(document), str(err))
            continue
        path = str(Path(document).resolve())
        for number in range(1, total + 1):
            if number not in done:
                yield str(document), path, number, total, dpi, question


def _spread(ray, readers: list, tasks: Iterator[tuple]) -> Iterator[tuple[str, object, tuple]]:
    """Tasks to readers, at most IN_FLIGHT each at a time; (kind, value, task) as pages are done."""
    pending: dict = {}  # the result's reference: (reader, task)

    def give(reader) -> None:
        task = next(tasks, None)
        if task is not None:
            pending[reader.read.remote(task)] = (reader, task)

    for _ in range(IN_FLIGHT):
        for reader in readers:
            give(reader)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        reader, task = pending.pop(ready[0])
        try:
            kind, value = ray.get(ready[0])
            give(reader)
        except ray.exceptions.RayActorError:  # the reader died on this page twice (a crash, memory): no more pages
            kind, value = "document", f"{task[0]}: page {task[2]}: not read, it stopped its worker twice"
        except ray.exceptions.RayError as err:  # the page raised in the reader: named, the others go on
            kind, value = "document", f"{task[0]}: page {task[2]}: not read ({' '.join(str(err).split())[-200:]})"
            give(reader)
        yield kind, value, task
    if next(tasks, None) is not None:
        raise ClusterError("every page reader on the cluster failed; the pages done are written, "
                           "the same command resumes")
