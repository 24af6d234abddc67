"""POST /v1/documents: a PDF or a page image read page by page with the server's engine, streamed back as
NDJSON, one line per page (its size, a small JPEG of it and its records), so that a client shows pages as
they are read.

The body is the file itself, declared by its Content-Type (application/pdf, image/png, image/jpeg,
image/tiff…): none of these is a type a web page can send to another site without the browser asking first,
so the rule that keeps chat requests JSON-only holds here too. The file goes to a temporary file and through
the page pipeline of `chemvlm ocr` (documents.pages, documents.reader); each page's structures reach the
engine through the server's queue, so they are admitted, batched with chat requests and dropped when the
client leaves, like any request. Pages are rendered and segmented in a small pool of threads (PDFium under
one lock: it is not thread-safe, not even across documents); at most `max_documents` are read at once.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from chemvlm.serve.backend import PREDICT
from chemvlm.serve.config import ServeConfig
from chemvlm.serve.errors import APIError

TYPES = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif",
         "image/webp": ".webp", "image/gif": ".gif", "image/bmp": ".bmp"}
PAGE_IMAGE_WIDTH = 1000  # pixels of the page pictures sent back: enough to see and click a structure's box
PDFIUM = threading.Lock()


class QueuedEngine:
    """What `read_page` is given as its engine: each page's structures go through the server's queue (one
    job per structure), from the thread that reads the page; `cancel` withdraws them (the client left)."""

    def __init__(self, engine, submit, loop: asyncio.AbstractEventLoop):
        self.name, self.batch_size = engine.name, engine.batch_size
        self._submit, self._loop = submit, loop
        self._running = None
        self.cancelled = False

    async def _ask(self, queries) -> list:
        futures = []
        try:
            for query in queries:  # admission may refuse one: the others are withdrawn below
                futures.append(self._submit(query, PREDICT))
            return list(await asyncio.gather(*futures))
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    def predict(self, queries) -> list:
        if self.cancelled:
            raise APIError(499, "the client closed the connection")
        self._running = asyncio.run_coroutine_threadsafe(self._ask(queries), self._loop)
        if self.cancelled:
            self._running.cancel()
        return self._running.result()

    def cancel(self) -> None:
        self.cancelled = True
        if self._running is not None:
            self._running.cancel()


@dataclass
class Document:
    """An uploaded file on disk, its pages read one at a time (never two at once: `lock`)."""

    name: str  # as the client named it: the records' `document` and `image`, and the start of their ids
    path: Path
    pages: int
    first: int
    last: int
    dpi: float
    engine: QueuedEngine
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    _pages = None  # the page generator, begun by the first page asked for
    _given = 0
    released = False

    def next_page(self) -> dict | None:
        """The next page's line, or None after the last page asked for."""
        from chemvlm.documents.pages import DocumentError, iter_pages
        from chemvlm.documents.reader import read_page

        with self.lock:
            if self.first + self._given > self.last:
                return None  # not rendered
            try:
                with PDFIUM:
                    if self._pages is None:
                        self._pages = iter_pages(self.path, dpi=self.dpi, first=self.first)
                    page = next(self._pages, None)
            except DocumentError as err:
                raise APIError(400, self._named(str(err)), "body") from None
            if page is None:
                return None
            self._given += 1
            start = time.perf_counter()
            page = dataclasses.replace(page, document=self.name)
            records = [dataclasses.replace(p, image=self.name) for p in read_page(page, self.engine)]
            return {"object": "document.page", "page": page.number, "pages": self.pages, "size": list(page.size),
                    "dpi": round(page.dpi, 1), "note": page.note, **_picture(page.image),
                    "records": [r.to_dict() for r in records], "seconds": round(time.perf_counter() - start, 3)}

    def close(self) -> None:
        self.engine.cancel()
        with self.lock:
            if self._pages is not None:
                with PDFIUM:
                    self._pages.close()  # closes the PDF
            self.path.unlink(missing_ok=True)

    def _named(self, message: str) -> str:
        return message.replace(str(self.path), self.name)


def _picture(image: Image.Image) -> dict:
    """The page as a JPEG data URL at most PAGE_IMAGE_WIDTH wide (boxes stay in the page's own pixels)."""
    small = image
    if image.width > PAGE_IMAGE_WIDTH:
        small = image.resize((PAGE_IMAGE_WIDTH, round(image.height * PAGE_IMAGE_WIDTH / image.width)),
                             Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, "JPEG", quality=80)
    return {"image": "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode(),
            "image_size": list(small.size)}


def open_document(body: bytes, suffix: str, name: str, config: ServeConfig, first: int, pages: int | None,
                  dpi: float, engine: QueuedEngine) -> Document:
    """The body saved and checked: a readable PDF with pages, or an image within the pixel limit; else a 400
    naming the problem."""
    from chemvlm.documents.pages import DocumentError, count_pages

    handle = tempfile.NamedTemporaryFile(prefix="chemvlm-", suffix=suffix, delete=False)
    path = Path(handle.name)
    with handle:
        handle.write(body)
    try:
        if suffix != ".pdf":
            try:
                with Image.open(path) as opened:  # the header only
                    size = opened.size
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
                raise APIError(400, f"{name}: not a readable image", "body") from None
            if size[0] * size[1] > config.max_pixels:
                raise APIError(400, f"{name}: {size[0]}x{size[1]} pixels is over the limit of {config.max_pixels}",
                               "body")
        try:
            with PDFIUM:
                total = count_pages(path)
        except DocumentError as err:
            raise APIError(400, str(err).replace(str(path), name), "body") from None
        if first > total:
            raise APIError(400, f"first: {name} has {total} pages, not {first}", "first")
        last = min(total, first - 1 + min(pages or config.max_pages, config.max_pages))
        return Document(name, path, total, first, last, dpi, engine)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def check_request(content_type: str, first: int, pages: int | None, dpi: float, config: ServeConfig) -> str:
    """The file suffix of the body's type, or a 4xx naming the bad header or parameter."""
    kind = content_type.partition(";")[0].strip().lower()
    if kind not in TYPES:
        raise APIError(415, f"Content-Type: send the PDF or page image as the body with its type ({', '.join(TYPES)}); "
                            f"got {kind or 'no Content-Type'}", "Content-Type")
    if first < 1:
        raise APIError(400, f"first: pages are numbered from 1, got {first}", "first")
    if pages is not None and not 1 <= pages <= config.max_pages:
        raise APIError(400, f"pages: {pages} is outside 1..{config.max_pages}", "pages")
    if not 36 <= dpi <= 300:
        raise APIError(400, f"dpi: {dpi:g} is outside 36..300", "dpi")
    return TYPES[kind]


class Reader:
    """The documents being read: a pool of threads for rendering and segmenting, and the count that admits
    at most `config.max_documents` at once."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.pool = ThreadPoolExecutor(max(1, config.max_documents), thread_name_prefix="document")
        self.active = 0

    def admit(self) -> None:
        if self.active >= self.config.max_documents:
            raise APIError(429, f"server busy: {self.active} documents are being read, the most at once here",
                           retry_after=10)
        self.active += 1

    async def run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    async def next_page(self, document: Document) -> dict | None:
        try:
            return await self.run(document.next_page)
        except asyncio.CancelledError:
            document.engine.cancel()  # the page's structures leave the queue; the thread ends soon after
            raise

    def release(self, document: Document | None) -> None:
        """Done with a request (once, whichever way it ended): its file removed once its page thread is done
        (in the pool, not here)."""
        if document is not None and document.released:
            return
        self.active -= 1
        if document is not None:
            document.released = True
            document.engine.cancel()
            try:
                self.pool.submit(document.close)
            except RuntimeError:  # the server is stopping: its pool takes no more work
                document.close()

    async def lines(self, document: Document, first_page: dict, failure):
        """The NDJSON body: the document, its pages as they are read, and a last line (or an error line)."""
        count, structures = 1, len(first_page["records"])
        try:
            yield _line({"object": "document", "name": document.name, "pages": document.pages,
                         "first": document.first, "last": document.last})
            yield _line(first_page)
            while (page := await self.next_page(document)) is not None:
                count, structures = count + 1, structures + len(page["records"])
                yield _line(page)
            yield _line({"object": "document.done", "name": document.name, "pages_read": count,
                         "structures": structures, "more_pages": document.last < document.pages})
        except Exception as err:
            yield _line(failure(err).body())
        finally:
            self.release(document)


def _line(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"
