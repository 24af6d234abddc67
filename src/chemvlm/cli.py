"""The `chemvlm` command: ask, ocr, info (and the sub-commands of installed areas: data, eval, …)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chemvlm.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ChemVLM: read chemical images, answer chemistry questions.")
console = Console()
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}

ModelOption = typer.Option(None, "--model", "-m", help="Model spec: checkpoint dir, preset, osra, openai:URL#MODEL, ensemble:A,B. Default: the bundled chemvlm-mini together with osra when installed (see docs/mini.md).")


def _engine(model: str | None, **options):
    from chemvlm.engines import load_engine
    from chemvlm.spec import default_model

    return load_engine(model or default_model(), **options)


@app.command()
def ask(
    args: list[str] = typer.Argument(..., help="IMAGE... QUESTION (the last argument is the question)"),
    model: str | None = ModelOption,
    as_json: bool = typer.Option(False, "--json", help="Print the prediction record as JSON."),
    max_tiles: int | None = typer.Option(None, help="Tiles per image (default: the model's, 6)."),
    max_new_tokens: int = typer.Option(256, help="Longest answer in tokens."),
):
    """Ask a question about one or more images."""
    from chemvlm.chem import describe
    from chemvlm.engines import Query

    if len(args) < 2:
        raise typer.BadParameter("give at least one image and a question")
    *images, question = args
    options = {"max_tiles": max_tiles, "max_new_tokens": max_new_tokens} if _is_model(model) else {}
    engine = _engine(model, **options)
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


def _is_model(model: str | None) -> bool:
    from chemvlm.spec import ModelSpec, default_model

    return ModelSpec.parse(model or default_model()).kind in ("local", "preset")


def _collect_images(inputs: list[str]) -> list[Path]:
    found = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise UserError(f"{item}: no such file or directory")
    return found


@app.command()
def ocr(
    inputs: list[str] = typer.Argument(..., help="Image files or directories (searched recursively)."),
    output: Path = typer.Option(..., "--output", "-o", help="results.jsonl, results.csv or results.sdf (appended; a rerun resumes)."),
    model: str | None = ModelOption,
    question: str = typer.Option("What is the SMILES of the molecule in the image?", help="Question asked for every image."),
    batch_size: int = typer.Option(8, help="Images per generate call of a local model."),
):
    """Recognise the structure in every image and write one prediction record per image."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from chemvlm.engines import Query
    from chemvlm.record import PredictionWriter

    writer = PredictionWriter(output)
    images = _collect_images(inputs)
    todo = [p for p in images if str(p) not in writer.done]
    engine = _engine(model, **({"batch_size": batch_size} if _is_model(model) else {}))
    step = max(1, engine.batch_size)  # a local model's batch, or one osra process per worker
    valid = failed = 0
    columns = [TextColumn("[bold]ocr"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("ocr", total=len(images), completed=len(images) - len(todo))
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            for prediction in engine.predict([Query(id=str(p), images=[str(p)], question=question) for p in chunk]):
                writer.write(prediction)
                valid += prediction.valid
                failed += prediction.error is not None
            progress.advance(task, len(chunk))
    console.print(
        f"{len(images)} images: {len(images) - len(todo)} already done, {len(todo)} recognised now "
        f"({valid} valid SMILES, {failed} failed) -> {output}",
        highlight=False,
    )


@app.command()
def info(target: str = typer.Argument(..., help="A preset name or a checkpoint directory.")):
    """Parameter counts per part (computed on the meta device) and the model's settings."""
    from transformers import AutoConfig

    from chemvlm.model.build import SETTINGS_KEY, build_config, parameter_counts
    from chemvlm.model.presets import load_preset, preset_names

    if Path(target).is_dir():
        if not (Path(target) / "config.json").is_file():
            raise UserError(f"{target}: not a checkpoint directory (no config.json)")
        config = AutoConfig.from_pretrained(target)
        title = target
    elif target in preset_names():
        preset = load_preset(target)
        if "vocab_size" not in preset.text:
            from chemvlm.chat.engine import ChemVLM

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
    side = vision.image_size[0] // vision.patch_size[0]
    settings = getattr(config, SETTINGS_KEY, {}) or {}
    console.print(
        f"vision: {vision.num_hidden_layers} layers x {vision.hidden_size}, {vision.image_size[0]}-px tiles, "
        f"patch {vision.patch_size[0]}, {int(side * side * config.downsample_ratio**2)} tokens per tile\n"
        f"language model: {text.model_type}, {text.num_hidden_layers} layers x {text.hidden_size}, "
        f"vocabulary {text.vocab_size}, image token {config.image_token_id}\n"
        f"chat: {settings.get('template', '?')}, up to {settings.get('max_tiles', '?')} tiles per image at inference",
        highlight=False,
    )


class UserError(InputError):
    """A problem with what the user asked for; printed as one line, exit status 2."""


def _register_areas() -> None:
    # Areas that add sub-commands; an area that is not installed is skipped, a broken one is an error.
    for module in ("chemvlm.data.cli", "chemvlm.bench.cli", "chemvlm.train.cli", "chemvlm.serve.cli", "chemvlm.convert.cli", "chemvlm.mini.cli"):
        try:
            area = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and module.startswith(err.name):
                continue
            raise
        area.register(app)


_register_areas()


def main() -> None:
    try:
        app()
    except InputError as err:
        Console(stderr=True).print(f"[red]error:[/red] {err}", highlight=False)
        sys.exit(2)
