"""The `chemvlm` command: ask, ocr, info (and the sub-commands of installed areas: data, eval, …)."""

from __future__ import annotations

import importlib
import json
import signal
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from chemvlm.cluster import RayAddressCommand
from chemvlm.errors import InputError

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # soft wrap: a line is never broken at 80 columns in a pipe or log
# Files `ocr` finds in a folder and cannot read yet (other files are skipped as "not an image").
UNREAD = {".svg": "SVG drawings are not read yet"}


# typer raises click's exceptions: click's own, or (newer typer) those of the copy of click that it ships
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _print_error(message: str) -> None:
    errors.print(Text.assemble(("error:", "red"), " ", " ".join(message.splitlines())), highlight=False)


@contextmanager
def _one_line_errors():
    """Our input errors and click's usage errors (bad option values, unknown options): one line, no panel."""
    try:
        yield
    except _ClickException as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            raise  # typer prints the help
        ctx = getattr(err, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _print_error(err.format_message() + hint)
        raise typer.Exit(err.exit_code) from None
    except InputError as err:
        _print_error(str(err))
        raise typer.Exit(2) from None


class _Commands(TyperGroup):
    def make_context(self, *args, **kwargs):
        with _one_line_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _one_line_errors():
            return super().invoke(ctx)


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  help="ChemVLM: read chemical images, answer chemistry questions.")

ModelOption = typer.Option(None, "--model", "-m", help="Model spec: checkpoint dir, preset, osra, openai:URL#MODEL, ensemble:A,B. Default: the bundled chemvlm-mini together with osra when installed (see docs/mini.md).")


PagesOption = typer.Option(False, "--pages", help="Read every image as a page that may hold several structures (as PDF pages are), not as the picture of one structure.")


def _engine(model: str | None, **options):
    """The engine of a spec (default: the default model) with the options the user gave (None: not given);
    an option no engine in play takes is an error naming it."""
    from chemvlm.engines import load_engine
    from chemvlm.spec import default_model

    return load_engine(model or default_model(), **options)


@app.command()
def ask(
    args: list[str] = typer.Argument(..., help="IMAGE... QUESTION (the last argument is the question)"),
    model: str | None = ModelOption,
    as_json: bool = typer.Option(False, "--json", help="Print the prediction record as JSON."),
    max_tiles: int | None = typer.Option(None, min=1, help="Tiles per image of a local model (default: the checkpoint's own setting; the bundled model uses 1)."),
    max_new_tokens: int | None = typer.Option(None, min=1, help="Longest answer in tokens of a local model (default 256)."),
    pages: bool = PagesOption,
):
    """Ask a question about one or more images; of a document (PDF, multi-page TIFF, an image with --pages),
    about each structure on its pages."""
    from chemvlm.chem import describe
    from chemvlm.documents.pages import is_document
    from chemvlm.engines import Query

    if len(args) < 2:
        raise UserError(f"{args[0]}: give at least one image and a question (the last argument)")
    *images, question = args
    paged = pages or any(is_document(image) for image in images)
    if paged and len(images) > 1:
        raise UserError(f"{images[0]}: a document is asked about alone, got {len(images)} files")
    engine = _engine(model, max_tiles=max_tiles, max_new_tokens=max_new_tokens)
    if paged:
        return _ask_document(images[0], engine, question, as_json)
    with _sigterm_as_ctrl_c():
        prediction = engine.predict([Query(id="1", images=images, question=question)])[0]
    if prediction.error:
        raise UserError(prediction.error)
    if as_json:
        print(json.dumps(prediction.to_dict(), ensure_ascii=False, indent=1))
        return
    console.print(prediction.answer, markup=False, highlight=False, soft_wrap=True)
    info = describe(prediction.smiles)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("engine", f"{prediction.engine} ({prediction.model})")
    if prediction.smiles:
        table.add_row("SMILES", info.canonical or f"{prediction.smiles} (invalid)")
    if info.valid:
        table.add_row("formula", info.formula)
        table.add_row("weight", f"{info.weight:.2f} g/mol")
        table.add_row("InChIKey", info.inchikey)
    table.add_row("seconds", f"{prediction.seconds:.2f}")
    console.print(table, highlight=False)


def _ask_document(path: str, engine, question: str, as_json: bool) -> None:
    """The question asked of every structure on every page, answered structure by structure."""
    from chemvlm.documents.reader import read_document

    found, count = [], 0
    with _sigterm_as_ctrl_c():
        for result in read_document(path, engine, question=question):
            count += 1
            for n, prediction in enumerate(result.predictions, start=1):
                found.append(prediction)
                if not as_json:
                    label = f" ({prediction.label})" if prediction.label else ""
                    box = ", ".join(f"{v:g}" for v in prediction.bbox)
                    console.print(f"page {result.number}, structure {n}{label} at [{box}]: "
                                  f"{prediction.answer or 'error: ' + (prediction.error or '')}",
                                  markup=False, highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps([p.to_dict() for p in found], ensure_ascii=False, indent=1))
    else:
        console.print(f"{len(found)} structures on {count} pages ({engine.name})", highlight=False)


def _collect_images(inputs: list[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The images and documents to read, each file once however it was typed, and the files of folders that
    are skipped (with why). A file named on the command line is always read: it gets a record, an error one
    at worst."""
    from chemvlm.documents.pages import PDF_SUFFIXES
    from chemvlm.vision.suffixes import IMAGE_SUFFIXES

    found, skipped = {}, []  # resolved path: the path as first typed
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in IMAGE_SUFFIXES | PDF_SUFFIXES:
                    found.setdefault(file.resolve(), file)
                else:
                    skipped.append((file, UNREAD.get(file.suffix.lower(), "not an image")))
        elif path.is_file():
            found.setdefault(path.resolve(), path)
        else:
            raise UserError(f"{item}: no such file or directory")
    return list(found.values()), skipped


@contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM ends a run as Ctrl-C does (KeyboardInterrupt: exit status 130; what is written stays) and kills
    the osra processes still running: Ctrl-C in a terminal reaches them too, a SIGTERM reaches this process only,
    and the worker threads waiting on osra would keep the run alive until osra is done."""
    def stop(signum, frame):
        osra = sys.modules.get("chemvlm.engines.osra")  # not imported: no osra process to stop
        if osra is not None:
            osra.kill_running()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command(cls=RayAddressCommand)
def ocr(
    inputs: list[str] = typer.Argument(..., help="Image files, PDF documents or directories (searched recursively)."),
    output: Path = typer.Option(..., "--output", "-o", help="results.jsonl, results.csv or results.sdf (appended; a rerun resumes)."),
    model: str | None = ModelOption,
    question: str = typer.Option("What is the SMILES of the molecule in the image?", help="Question asked for every image."),
    batch_size: int | None = typer.Option(None, min=1, help="Images per generate call of a local model (default 8)."),
    pages: bool = PagesOption,
    dpi: float | None = typer.Option(None, min=30, max=1200, help="Resolution PDF pages are rendered at (default 200)."),
    report: Path | None = typer.Option(None, "--report", help="Also write an HTML report of the documents' pages with the structures' boxes."),
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help="Read the documents' pages on a Ray cluster (the ray extra): alone, a local one; or at ADDRESS (auto, ray://HOST:PORT). Resumes as a run without it does (docs/documents.md)."),
    workers: int | None = typer.Option(None, min=1, help="With --ray: page readers, one CPU each (default: one per CPU of the cluster; a local cluster gets this many CPUs)."),
    min_confidence: float | None = typer.Option(None, min=0, max=1, help="Give a structure only when its confidence is at least this; hold the others for review (no SMILES, what was read named in the answer)."),
):
    """Recognise the structure in every image, and every structure on every page of a document (PDF,
    multi-page TIFF, or an image with --pages); one prediction record per structure."""
    from chemvlm.documents.pages import is_document, is_pdf
    from chemvlm.record import PredictionWriter

    files, skipped = _collect_images(inputs)
    documents = [p for p in files if p.suffix.lower() not in UNREAD and (pages or is_document(p))]
    images = [p for p in files if p not in documents]
    if dpi is not None and not any(is_pdf(p) for p in documents):
        raise UserError("--dpi: applies to PDF documents only, and none is given")
    if report is not None and not documents:
        raise UserError("--report: applies to documents only (PDF, multi-page TIFF, images with --pages), "
                        "and none is given")
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"{report}: the report must end in .html")
    if workers is not None and ray is None:
        raise UserError("--workers: sets the page readers of a --ray run, and --ray is not given")
    if ray is not None:
        from chemvlm.cluster import check_address, import_ray

        check_address(ray)
        import_ray()
        if images:
            raise UserError(f"--ray: reads the pages of documents, and {len(images)} pictures of one structure are "
                            f"among the inputs ({images[0]}…): read them without --ray, or as pages with --pages")
    writer = PredictionWriter(output, min_confidence)
    for path, why in skipped:
        errors.print(f"{path}: skipped, {why}", markup=False, highlight=False)
    if ray is not None and documents:
        from chemvlm.documents.distributed import ocr_documents_ray

        with _sigterm_as_ctrl_c():
            return _ocr_documents(lambda say, fail: ocr_documents_ray(
                documents, model, {"batch_size": batch_size}, writer, say, fail, question=question, dpi=dpi or 200,
                address=ray, workers=workers), documents, output, report)
    from chemvlm.documents.run import ocr_documents

    engine = _engine(model, batch_size=batch_size)
    with _sigterm_as_ctrl_c():
        if images or not documents:
            _ocr_images(images, engine, writer, question, output, skipped)
        if documents:
            _ocr_documents(lambda say, fail: ocr_documents(
                documents, engine, writer, say, fail, question=question, dpi=dpi or 200), documents, output, report)


def _ocr_images(images, engine, writer, question, output, skipped) -> None:
    """One record per picture of one structure, in the engine's batches, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from chemvlm.engines import Query

    # A record's `image` is the absolute path of the file read, so that a rerun finds it however the path is
    # typed and from wherever it is run; its `id` is the path as typed. Records of earlier versions have the
    # typed path in `image` too: taken from the current directory, as before.
    done = {Path(image).resolve() for image in writer.done_images if image}
    todo = [p for p in images if p.resolve() not in done]
    step = max(1, engine.batch_size)  # a local model's batch, or one osra process per worker
    written = []

    def write(prediction, path):
        writer.write(replace(prediction, image=str(path.resolve())))
        written.append(prediction)

    readable = []
    for path in todo:  # a file of a kind not read yet, named on the command line, gets its record without the engine
        if path.suffix.lower() in UNREAD:
            query = Query(id=str(path), images=[str(path)], question=question)
            write(engine.failed(query, f"{path}: {UNREAD[path.suffix.lower()]}"), path)
        else:
            readable.append(path)
    columns = [TextColumn("[bold]ocr"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            task = progress.add_task("ocr", total=len(images), completed=len(images) - len(readable))
            for start in range(0, len(readable), step):
                chunk = readable[start : start + step]
                predictions = engine.predict([Query(id=str(p), images=[str(p)], question=question) for p in chunk])
                for prediction, path in zip(predictions, chunk):
                    write(prediction, path)
                progress.advance(task, len(chunk))
    except KeyboardInterrupt:
        kept = len(images) - len(todo) + len(written)
        errors.print(f"interrupted: {kept} of {len(images)} images are in {output}; the same command resumes",
                     markup=False, highlight=False)
        raise
    valid, failed = sum(p.valid for p in written), sum(p.error is not None for p in written)
    console.print(
        f"{len(images)} images: {len(images) - len(todo)} already done, {len(todo)} recognised now "
        f"({valid} valid SMILES, {failed} failed), {len(skipped)} other files skipped -> {output}",
        highlight=False, soft_wrap=True,
    )


def _ocr_documents(read, documents, output, report) -> None:
    """Every page of every document (`read(say, fail)`: documents.run's or documents.distributed's), a line
    per page on stderr; a document that cannot be read is named in one error line and the others go on, then
    the exit status is 2."""
    def say(line):
        errors.print(line, markup=False, highlight=False)

    try:
        tally = read(say, _print_error)
    except KeyboardInterrupt:
        say(f"interrupted: the pages done are in {output}; the same command resumes")
        raise
    console.print(tally.summary(output), highlight=False, soft_wrap=True)
    if report is not None:
        from chemvlm.documents.report import write_report
        from chemvlm.record import read_records

        read = {str(p.resolve()) for p in documents}
        write_report([r for r in read_records(output) if r.image in read and r.page is not None], report)
        console.print(f"report -> {report}", highlight=False, soft_wrap=True)
    if tally.failed:
        raise typer.Exit(2)


@app.command()
def info(target: str = typer.Argument(..., help="A preset name or a checkpoint directory.")):
    """Parameter counts per part (computed on the meta device) and the model's settings."""
    from transformers import AutoConfig

    from chemvlm.model.build import build_config, load_settings, parameter_counts
    from chemvlm.model.checkpoint import require_checkpoint
    from chemvlm.model.presets import load_preset, preset_names, tokens_per_tile

    if Path(target).is_dir():
        config = AutoConfig.from_pretrained(require_checkpoint(target))
        title = target
    elif target in preset_names():
        preset = load_preset(target)
        if "vocab_size" not in preset.text:
            from chemvlm.chat.vlm import ChemVLM

            config = ChemVLM.from_preset(target).model.config
        else:
            config = build_config(preset)
        title = target
        console.print(" ".join(preset.description.split()), soft_wrap=True, highlight=False)
    else:
        raise UserError(f"{target}: not a checkpoint directory or a preset ({', '.join(preset_names())})")
    counts = parameter_counts(config)
    table = Table(title=title, title_justify="left")
    table.add_column("part")
    table.add_column("parameters", justify="right")
    for part, count in counts.items():
        table.add_row(part, f"{count:,}" + (f"  ({count / 1e9:.2f} B)" if count >= 1e8 else ""))
    console.print(table)
    vision, text = config.vision_config, config.text_config
    _, processor = load_settings(config)
    view = ("the ink view (one padded, thickened, inverted tile)" if processor.ink_view else
            f"dynamic tiles, up to {processor.max_tiles} per image" + (" plus a thumbnail" if processor.use_thumbnail else ""))
    console.print(
        f"vision: {vision.num_hidden_layers} layers x {vision.hidden_size}, {vision.image_size[0]}-px tiles, "
        f"patch {vision.patch_size[0]}, {tokens_per_tile(vision.image_size[0], vision.patch_size[0], config.downsample_ratio)} tokens per tile\n"
        f"language model: {text.model_type}, {text.num_hidden_layers} layers x {text.hidden_size}, "
        f"vocabulary {text.vocab_size}, image token {config.image_token_id}\n"
        f"images: {view}",
        highlight=False,
    )


class UserError(InputError):
    """A problem with what the user asked for; printed as one line, exit status 2."""


def _register_areas() -> None:
    # Areas that add sub-commands; an area that is not installed is skipped, a broken one is an error.
    for module in ("chemvlm.data.cli", "chemvlm.bench.cli", "chemvlm.train.cli", "chemvlm.serve.cli", "chemvlm.convert.cli"):
        try:
            area = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and module.startswith(err.name):
                continue
            raise
        area.register(app)


_register_areas()


def main() -> None:
    app()  # errors a user can fix are one line and exit status 2: see _one_line_errors
