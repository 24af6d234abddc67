"""The `eval`, `score` and `report` commands; `register(app)` adds them to any typer app."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from chemvlm.bench.benchmarks import NAMES
from chemvlm.bench.importers import option_letters
from chemvlm.bench.items import BenchFileError, BenchItem, read_items, read_jsonl
from chemvlm.bench.metrics import smiles_of
from chemvlm.engines.base import EngineError
from chemvlm.record import Prediction, RecordFileError, read_predictions
from chemvlm.spec import ModelSpecError

SMILES_BENCHES = ("chemocr", "ocsr-real")


@contextmanager
def one_line_errors():
    """Bad input ends the command with one line naming it, never a traceback."""
    try:
        yield
    except (BenchFileError, RecordFileError, EngineError, ModelSpecError, ValueError) as err:  # ImageLoadError too
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except OSError as err:
        typer.echo(f"error: {err.filename or ''}: {err.strerror or err}", err=True)
        raise typer.Exit(1) from None


def _judge(spec: str | None):
    if not spec:
        return None
    from chemvlm.bench.judge import Judge

    return Judge(spec)


def eval_command(
    bench: str = typer.Option(..., "--bench", "-b", help=f"{', '.join(NAMES)}, ocsr-real/SUBSET or a .jsonl file"),
    model: str = typer.Option(..., "--model", "-m", help="model spec: PATH, preset, osra, openai:URL#MODEL"),
    out: Path = typer.Option(..., "--out", "-o", help="run directory (predictions.jsonl, scores.json, scores.md)"),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="only the first N items"),
    data: Optional[Path] = typer.Option(None, "--data", help="benchmark data directory [$CHEMVLM_BENCH_DIR]"),
    images: Optional[Path] = typer.Option(None, "--images", help="root of the original sets' image paths"),
    judge: Optional[str] = typer.Option(None, "--judge", help="openai:URL#MODEL that judges free-form answers"),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="osra processes / concurrent requests"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="seconds per item (osra) or request (openai)"),
    max_tiles: int = typer.Option(6, "--max-tiles", help="image tiles for the local model (paper: 6)"),
    retries: Optional[int] = typer.Option(None, "--retries", help="retries of a failed request (openai; default 3)"),
):
    """Answer a benchmark with a model, appending predictions as they come (resumable), then score."""
    from chemvlm.bench.report import run_markdown
    from chemvlm.bench.runner import run_eval

    with one_line_errors():
        result = run_eval(bench, model, out, limit=limit, data=data, images=images, judge=_judge(judge),
                          workers=workers, timeout=timeout, max_tiles=max_tiles, retries=retries)
        typer.echo(run_markdown(result))
        typer.echo(f"wrote {out / 'predictions.jsonl'}, {out / 'scores.json'} and {out / 'scores.md'}")


def _same_molecule(a: str, b: str) -> bool:
    from chemvlm.chem import canonical_smiles

    return a.strip() == b.strip() or (canonical_smiles(a) is not None and canonical_smiles(a) == canonical_smiles(b))


def _pairs(bench: str, rows: list[dict], path: Path, meta: list[BenchItem] | None = None):
    """Items and predictions from `{"generated", "ground_truth"}` rows (as published with ChemVLM).
    `meta`, the benchmark's items in the same order, lends subset and language to each row whose
    truth is the same molecule (ChemVLM's files align by position for most, not all, lines)."""
    items, predictions = [], []
    for number, row in enumerate(rows, 1):
        if "generated" not in row or "ground_truth" not in row:
            raise BenchFileError(f"{path}: record {number}: expected 'generated' and 'ground_truth'")
        truth, generated = str(row["ground_truth"]), str(row["generated"] or "")
        if bench.split("/")[0] in SMILES_BENCHES:
            kind = "smiles"
        else:
            kind = "choice" if option_letters(truth) else "free"
            truth = option_letters(truth) or truth
        item_id = str(row.get("id", number))
        subset, language = str(row.get("subset", "")), str(row.get("language", ""))
        if meta is not None:
            same = number <= len(meta) and _same_molecule(meta[number - 1].answer, truth)
            subset, language = (meta[number - 1].subset, meta[number - 1].language) if same else ("unmatched",) * 2
        items.append(BenchItem(id=item_id, question=str(row.get("question", "")), answer=truth, kind=kind,
                               subset=subset, language=language))
        smiles = (smiles_of(generated) or "") if kind == "smiles" else ""  # the paper: the answer is the SMILES
        predictions.append(Prediction.from_answer(id=item_id, image="", question="", answer=generated,
                                                  engine="file", model=path.name, seconds=0, smiles=smiles))
    return items, predictions


def score_command(
    bench: str = typer.Argument(..., help="chemocr, ocsr-real, mmchembench-…, mmcr or a .jsonl of items"),
    predictions: Path = typer.Argument(..., help="predictions.jsonl, or a {generated, ground_truth} JSONL"),
    items: Optional[Path] = typer.Option(
        None, "--items", help="the items (default: items.jsonl beside the file); for a {generated, ground_truth}"
        " file, the benchmark in the same order, for per-subset and per-language rows"),
    data: Optional[Path] = typer.Option(None, "--data", help="benchmark data directory [$CHEMVLM_BENCH_DIR]"),
    judge: Optional[str] = typer.Option(None, "--judge", help="openai:URL#MODEL that judges free-form answers"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="also write the scores as JSON here"),
):
    """Score a predictions file without running a model, and print the table."""
    from chemvlm.bench.benchmarks import load_bench
    from chemvlm.bench.report import run_markdown
    from chemvlm.bench.scoring import score

    with one_line_errors():
        rows = read_jsonl(predictions)
        if rows and "ground_truth" in rows[0]:
            bench_items, records = _pairs(bench, rows, predictions, load_bench(str(items)) if items else None)
        else:
            records = read_predictions(predictions)
            beside = predictions.parent / "items.jsonl"
            if items is not None:
                bench_items = read_items(items)
            elif beside.is_file():
                bench_items = read_items(beside)
            else:
                bench_items = load_bench(bench, data)
        result = {"bench": bench, "model": predictions.name, **score(bench_items, records, _judge(judge))}
        typer.echo(run_markdown(result))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def report_command(
    runs: list[Path] = typer.Argument(..., help="run directories (or their scores.json)"),
    out: Path = typer.Option(Path("report.md"), "--out", "-o", help="markdown file; the chart goes beside it (.png)"),
    title: str = typer.Option("Benchmark results", "--title", help="heading of the markdown file"),
):
    """Put several systems side by side: one markdown table and a PNG bar chart."""
    from chemvlm.bench.report import bar_chart, compare_markdown, load_run

    with one_line_errors():
        results = [load_run(run) for run in runs]
        chart = bar_chart(results, out.with_suffix(".png"))
        text = f"# {title}\n\n{compare_markdown(results)}\n![{title}]({chart.name})\n"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(text)
        typer.echo(f"wrote {out} and {chart}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("score")(score_command)
    app.command("report")(report_command)


def main() -> None:
    app = typer.Typer(add_completion=False, help="chemvlm benchmarks: eval, score, report")
    register(app)
    app()


if __name__ == "__main__":
    main()
