"""`chemvlm data …` commands: `register(app)` adds them to any typer app."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    data = typer.Typer(help="Build bilingual multimodal chemistry training data.", no_args_is_help=True)

    @data.command("build")
    def build_command(
        config: Path = typer.Argument(..., help="build configuration YAML (see configs/data/example.yaml)"),
        out: Path = typer.Option(..., "-o", "--out", help="output directory; rerun to resume"),
        shards: str = typer.Option("", help="START:STOP: build only these shards (split a build over machines)"),
        workers: int = typer.Option(0, help="processes (0: the config's value)"),
    ) -> None:
        """Render CONFIG into sharded InternVL JSONL + tar images + meta JSON + dataset card."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeRemainingColumn,
        )

        from chemvlm.data.build import build
        from chemvlm.data.config import load_config

        try:
            cfg = load_config(config)
            if workers:
                cfg.workers = workers
            shard_range = tuple(int(x) for x in shards.split(":")) if shards else None
            if shard_range is not None and len(shard_range) != 2:
                raise ValueError(f"--shards {shards!r}: use START:STOP")
        except (ValueError, FileNotFoundError, TypeError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None

        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn()) as bar:
            class Tracker:
                def start(self, samples, skipped):
                    self.task = bar.add_task(f"rendering ({skipped} shards already done)", total=samples)

                def advance(self, samples):
                    bar.advance(self.task, samples)

            try:
                summary = build(cfg, out, shard_range, progress=Tracker())
            except (ValueError, FileNotFoundError) as err:
                typer.echo(f"error: {err}", err=True)
                raise typer.Exit(2) from None
        for bad in summary["bad_row_examples"][:20]:
            typer.echo(f"skipped {bad}", err=True)
        typer.echo(f"{summary['train_rows']} train rows, {summary['holdout_rows']} held out; bad rows {summary['bad_rows']}, "
                   f"render errors {summary['render_errors']}; benchmark molecules removed {summary['decontaminated']}")
        typer.echo(f"wrote {out}/meta.json" if (out / "meta.json").exists() else f"partial build in {out}: run again to finish")

    app.add_typer(data, name="data")
