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
from chemvlm.chem.smiles import extract_smiles
from chemvlm.engines.base import EngineError, OptionError
from chemvlm.record import Prediction, RecordFileError, read_predictions
from chemvlm.spec import ModelSpecError

SMILES_BENCHES = ("chemocr", "ocsr-real")


@contextmanager
def one_line_errors():
    """Bad input ends the command with one line naming it, never a traceback."""
    try:
        yield
    except OptionError as err:  # a usage error, as click's
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
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
    max_tiles: Optional[int] = typer.Option(None, "--max-tiles", help="image tiles for a local model (default: the checkpoint's own setting: 6 for ChemVLM, as the paper; 1 for the bundled model)"),
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


def _ids(lines: list[tuple[str, dict]], positional: bool, warnings: list[str]) -> list[str | None]:
    """The id of each record as a string, or None for a record not to score, with a warning naming its
    line: no id (when `positional`, the line's number is the id), an id that is not a string or an
    integer, or an id seen before (the first occurrence is scored)."""
    ids, first_line = [], {}
    for number, (where, row) in enumerate(lines, 1):
        raw = row.get("id", number if positional else None)
        if raw is None or raw == "":
            warnings.append(f"{where}: no id")
        elif isinstance(raw, bool) or not isinstance(raw, (str, int)):
            warnings.append(f"{where}: id {raw!r:.60} is not a string or an integer")
        elif str(raw) in first_line:
            warnings.append(f"{where}: duplicate id {str(raw)!r}, first at line {first_line[str(raw)]}")
        else:
            first_line[str(raw)] = where.rsplit(":", 1)[1]
            ids.append(str(raw))
            continue
        ids.append(None)
    return ids


def _pairs(bench: str, rows: list[dict], ids: list[str | None], path: Path, meta: list[BenchItem] | None = None):
    """Items and predictions from `{"generated", "ground_truth"}` rows (as published with ChemVLM).
    `meta`, the benchmark's items in the same order, lends subset and language to each row whose
    truth is the same molecule (ChemVLM's files align by position for most, not all, lines)."""
    items, predictions = [], []
    for number, (row, item_id) in enumerate(zip(rows, ids), 1):
        if "generated" not in row or "ground_truth" not in row:
            raise BenchFileError(f"{path}: record {number}: expected 'generated' and 'ground_truth'")
        if item_id is None:
            continue
        truth, generated = str(row["ground_truth"]), str(row["generated"] or "")
        if bench.split("/")[0] in SMILES_BENCHES:
            kind = "smiles"
        else:
            kind = "choice" if option_letters(truth) else "free"
            truth = option_letters(truth) or truth
        subset, language = str(row.get("subset", "")), str(row.get("language", ""))
        if meta is not None:
            same = number <= len(meta) and _same_molecule(meta[number - 1].answer, truth)
            subset, language = (meta[number - 1].subset, meta[number - 1].language) if same else ("unmatched",) * 2
        items.append(BenchItem(id=item_id, question=str(row.get("question", "")), answer=truth, kind=kind,
                               subset=subset, language=language))
        smiles = (extract_smiles(generated) or "") if kind == "smiles" else ""  # the paper: the answer is the SMILES
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
        lines, warnings = read_jsonl(predictions, where=True), []
        pairs = bool(lines) and "ground_truth" in lines[0][1]
        ids = _ids(lines, pairs, warnings)
        if pairs:
            rows = [row for _, row in lines]
            bench_items, records = _pairs(bench, rows, ids, predictions, load_bench(str(items)) if items else None)
        else:
            beside = predictions.parent / "items.jsonl"
            source = items if items is not None else beside if beside.is_file() else None
            bench_items = read_items(source) if source is not None else load_bench(bench, data)
            known = {item.id for item in bench_items}
            records = []
            # read_predictions reads the same lines in the same order, so they pair with `lines` and `ids`
            for (where, _), item_id, record in zip(lines, ids, read_predictions(predictions)):
                if item_id is not None and item_id not in known:
                    warnings.append(f"{where}: id {item_id!r} is not an item of {source or bench}")
                elif item_id is not None:
                    record.id = item_id  # 7 in the file scores item "7"
                    records.append(record)
        for warning in warnings[:20]:
            typer.echo(f"warning: {warning}; not scored", err=True)
        if len(warnings) > 20:
            typer.echo(f"warning: {len(warnings) - 20} more records of {predictions} not scored", err=True)
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
