"""The document routes of the server, behind the web page's document view:

- POST /v1/documents (the file as the body): pages streamed as NDJSON, see serve.documents;
- POST /v1/molecules {"smiles"}: RDKit's view of a SMILES (canonical, formula, drawing), or a 400 with the
  reason it is refused: how a correction typed on the page is checked;
- POST /v1/documents/export {"format", "name", "records"}: the records as an SDF or CSV file, written by the
  project's record writer (SDF: RDKit molblocks with page, bbox, label… as properties). The SMILES of each
  record is checked again here, so a corrected record gets its canonical SMILES and molblock from RDKit.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from chemvlm.chem import canonical_smiles
from chemvlm.record import Prediction, PredictionWriter
from chemvlm.serve.chemistry import molecule, why_invalid
from chemvlm.serve.config import ServeConfig
from chemvlm.serve.documents import QueuedEngine, Reader, check_request, open_document
from chemvlm.serve.errors import APIError

MAX_SMILES = 2000
MAX_RECORDS = 20_000
MEDIA = {"sdf": "chemical/x-mdl-sdfile", "csv": "text/csv", "jsonl": "application/x-ndjson"}


class MoleculeRequest(BaseModel):
    smiles: str = Field(max_length=MAX_SMILES)


class Record(BaseModel):
    """A record as /v1/documents sent it, possibly with a corrected `smiles`; other fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    id: str
    image: str = ""
    question: str = ""
    answer: str = ""
    smiles: str | None = Field(None, max_length=MAX_SMILES)
    engine: str = ""
    model: str = ""
    seconds: float = 0.0
    error: str | None = None
    document: str | None = None
    page: int | None = None
    bbox: list[float] | None = Field(None, min_length=4, max_length=4)
    page_size: list[int] | None = Field(None, min_length=2, max_length=2)
    label: str | None = None
    confidence: float | None = None


class ExportRequest(BaseModel):
    format: Literal["sdf", "csv", "jsonl"]
    name: str = Field("structures", max_length=200)
    records: list[Record] = Field(max_length=MAX_RECORDS)


def _prediction(record: Record) -> Prediction:
    canonical = canonical_smiles(record.smiles) if record.smiles else None
    return Prediction(**record.model_dump(), canonical=canonical, valid=canonical is not None)


def export(request: ExportRequest) -> tuple[str, str]:
    """(file name, text) of the records in the format asked for."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(request.name).stem).strip("._") or "structures"
    with tempfile.TemporaryDirectory(prefix="chemvlm-export-") as folder:
        path = Path(folder) / f"{stem}.{request.format}"
        writer = PredictionWriter(path)
        for record in request.records:
            writer.write(_prediction(record))
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    return path.name, text


def install(app: FastAPI, engine, config: ServeConfig, submit, failure, answered, require_key, require_json) -> Reader:
    reader = Reader(config)

    @app.post("/v1/documents", dependencies=[Depends(require_key)])
    async def documents(request: Request, name: str = Query("document", max_length=200), first: int = 1,
                        pages: int | None = None, dpi: float = 200.0):
        suffix = check_request(request.headers.get("content-type", ""), first, pages, dpi, config)
        name = Path(name).name or "document"  # a name, never a path of the client's
        reader.admit()
        document = None
        try:
            body = await request.body()
            if not body:
                raise APIError(400, "request body: empty; send the PDF or page image as the body", "body")
            queued = QueuedEngine(engine, submit, asyncio.get_running_loop())
            document = await reader.run(open_document, body, suffix, name, config, first, pages, dpi, queued)
            del body
            # the first page before the answer starts, so that a busy engine or a bad first page is its status
            first_page = await answered(asyncio.ensure_future(reader.next_page(document)), request)
        except BaseException as err:
            reader.release(document)
            if isinstance(err, Exception) and not isinstance(err, APIError):
                raise failure(err) from None
            raise
        async def finished():  # also when the client left before the body began, so `lines` never ran
            reader.release(document)

        return StreamingResponse(reader.lines(document, first_page, failure), media_type="application/x-ndjson",
                                 headers={"Cache-Control": "no-cache"}, background=BackgroundTask(finished))

    @app.post("/v1/molecules", dependencies=[Depends(require_key), Depends(require_json)])
    def molecules(body: MoleculeRequest):
        smiles = body.smiles.strip()
        if canonical_smiles(smiles) is None:
            raise APIError(400, f"smiles: {smiles!r} is not a valid SMILES: {why_invalid(smiles)}", "smiles")
        return molecule(smiles)

    @app.post("/v1/documents/export", dependencies=[Depends(require_key), Depends(require_json)])
    def export_records(body: ExportRequest):
        filename, text = export(body)
        return Response(text, media_type=MEDIA[body.format] + "; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    return reader
