"""`chemvlm data …` commands: `register(app)` adds them to any typer app."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from chemvlm.cluster import RayAddressCommand


def register(app: typer.Typer) -> None:
    data = typer.Typer(help="Build bilingual multimodal chemistry training data.", no_args_is_help=True)

    @data.command("build", cls=RayAddressCommand)
    def build_command(
        config: Path = typer.Argument(..., help="build configuration YAML (see configs/data/example.yaml)"),
        out: Path = typer.Option(..., "-o", "--out", help="output directory; rerun to resume"),
        shards: str = typer.Option("", help="START:STOP: build only these shards (split a build over machines)"),
        workers: int = typer.Option(0, help="processes (0: the config's value); with --ray, a local cluster's CPUs"),
        ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help=(
            "render the shards as tasks on a Ray cluster (the ray extra): alone, a local one; or at ADDRESS (auto, "
            "ray://HOST:PORT)")),
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

        if shards and not re.fullmatch(r"\d+:\d+", shards):
            typer.echo(f"error: --shards {shards!r}: use START:STOP, e.g. 0:10", err=True)
            raise typer.Exit(2)
        shard_range = tuple(int(x) for x in shards.split(":")) if shards else None
        try:
            cfg = load_config(config)
        except (ValueError, OSError) as err:  # ConfigError names the file, line and key
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        if ray is not None:
            from chemvlm.cluster import ClusterError, check_address, import_ray

            try:
                check_address(ray)
                import_ray()
            except ClusterError as err:
                typer.echo(f"error: {err}", err=True)
                raise typer.Exit(2) from None
        elif workers:
            cfg.workers = workers

        bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())

        class Tracker:
            def start(self, samples, skipped):
                bar.start()  # only once the sources are read: an error before it is the only output
                self.task = bar.add_task(f"rendering ({skipped} shards already done)", total=samples)

            def advance(self, samples):
                bar.advance(self.task, samples)

        try:
            summary = build(cfg, out, shard_range, progress=Tracker(), ray_address=ray, ray_cpus=workers or None)
        except (ValueError, OSError) as err:  # sources (SourceError), an output that cannot be made
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        finally:
            if bar.live.is_started:
                bar.stop()
        for path, bad in summary["bad_rows_by_file"].items():
            typer.echo(f"skipped {bad['count']} bad row(s) of {path}; the first: {bad['first']}", err=True)
        typer.echo(f"{summary['train_rows']} train rows, {summary['holdout_rows']} held out; bad rows {summary['bad_rows']}, "
                   f"render errors {summary['render_errors']}; benchmark molecules removed {summary['decontaminated']}")
        typer.echo(f"wrote {out}/meta.json" if (out / "meta.json").exists() else f"partial build in {out}: run again to finish")

    app.add_typer(data, name="data")
