"""`chemvlm eval`: answer every item of a benchmark with one engine, append each prediction to
DIR/predictions.jsonl as it comes, then score. A killed run, started again, redoes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from chemvlm.bench.benchmarks import load_bench, missing_images
from chemvlm.bench.items import BenchFileError, read_items, write_items
from chemvlm.bench.report import run_markdown
from chemvlm.bench.scoring import score
from chemvlm.engines.base import Query
from chemvlm.engines.registry import given_options, load_engine, takes
from chemvlm.record import PredictionWriter, read_predictions
from chemvlm.spec import ModelSpec


# What `--workers` sets: osra processes, requests at once to a server, a local model's batch; the first of
# these the engine (or one of an ensemble's members) takes.
PARALLEL_OPTIONS = ("workers", "concurrency", "batch_size")


def engine_options(spec: ModelSpec, workers: int | None = None, timeout: float | None = None,
                   max_tiles: int | None = None, retries: int | None = None) -> dict:
    """The engine options of `chemvlm eval`'s flags, checked: each given flag goes to the engines that take
    it, and one that no engine in play takes is an OptionError naming it."""
    options = {"timeout": timeout, "max_tiles": max_tiles, "retries": retries}
    if workers:
        accepted = takes(spec)
        options[next((name for name in PARALLEL_OPTIONS if name in accepted), "workers")] = workers
    return given_options(spec, **options)


def _check_run(out: Path, bench: str, model: str) -> None:
    """A directory holds one run: resuming with another benchmark or model would mix predictions."""
    run = out / "run.json"
    if run.is_file():
        previous = json.loads(run.read_text(encoding="utf-8"))
        if (previous.get("bench"), previous.get("model")) != (bench, model):
            raise BenchFileError(
                f"{out}: holds a run of {previous.get('model')} on {previous.get('bench')}; use another -o DIR"
            )
    out.mkdir(parents=True, exist_ok=True)
    run.write_text(json.dumps({"bench": bench, "model": model}) + "\n", encoding="utf-8")


def run_eval(bench: str, model: str, out: str | Path, limit: int | None = None, data=None, images=None,
             judge=None, workers: int | None = None, timeout: float | None = None, max_tiles: int | None = None,
             retries: int | None = None, progress: bool = True) -> dict:
    out = Path(out)
    spec = ModelSpec.parse(model)
    options = engine_options(spec, workers, timeout, max_tiles, retries)  # refused before anything is written
    items = load_bench(bench, data, images)
    items = items[:limit] if limit else items
    _check_run(out, bench, str(spec))
    write_items(out / "items.jsonl", items)
    writer = PredictionWriter(out / "predictions.jsonl")
    todo = [item for item in items if item.id not in writer.done]
    missing = missing_images(todo)
    if missing:
        raise BenchFileError(
            f"{bench}: {len(missing)} image(s) are not here (first: {missing[0]}); no scores without them"
            " (pass --images ROOT where they are)"
        )
    if todo:
        engine = load_engine(spec, **options)
        batch = max(1, getattr(engine, "batch_size", 1))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task(f"{spec} on {bench}", total=len(items), completed=len(items) - len(todo))
            for start in range(0, len(todo), batch):
                chunk = todo[start:start + batch]
                queries = [Query(id=i.id, images=list(i.images), question=i.question) for i in chunk]
                for prediction in engine.predict(queries):
                    writer.write(prediction)  # appended and flushed: a kill loses at most this batch
                bar.advance(task, len(chunk))
    return write_scores(out, judge)


def write_scores(out: str | Path, judge=None) -> dict:
    """Score the run in DIR from its items.jsonl and predictions.jsonl; writes scores.json and scores.md."""
    out = Path(out)
    run = json.loads((out / "run.json").read_text(encoding="utf-8")) if (out / "run.json").is_file() else {}
    items = read_items(out / "items.jsonl")
    predictions_file = out / "predictions.jsonl"
    if not predictions_file.is_file():
        raise BenchFileError(f"{predictions_file}: no such file")
    result = {**run, **score(items, read_predictions(predictions_file), judge)}
    (out / "scores.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "scores.md").write_text(run_markdown(result), encoding="utf-8")
    return result
