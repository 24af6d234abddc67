"""`chemvlm train CONFIG.yaml` and `chemvlm merge ADAPTER -o OUT` (added to the main command by register)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console


def _fail(err: Exception) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {err}", highlight=False)
    raise typer.Exit(2)


def train(
    config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/train/tiny-stage1.yaml"),
    max_steps: int | None = typer.Option(None, help="Stop after this many optimizer steps (overrides the config)."),
    output_dir: str | None = typer.Option(None, help="Where checkpoints, logs and the merged model go (overrides the config)."),
    fresh: bool = typer.Option(False, help="Start over instead of resuming from the last checkpoint in the output folder."),
):
    """Run one training stage; re-running the same command resumes from the last checkpoint."""
    from chemvlm.errors import InputError
    from chemvlm.train.config import load_config

    try:
        cfg = load_config(config, max_steps=max_steps, output_dir=output_dir)
        from chemvlm.train.trainer import run

        summary = run(cfg, resume=not fresh)
    except InputError as err:  # a bad config, molecule file or checkpoint: one line, exit 2
        _fail(err)
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        print(json.dumps(summary, ensure_ascii=False, default=str))


def merge(
    adapter: Path = typer.Argument(..., help="OUTPUT/adapter or OUTPUT/checkpoint-N of a training run"),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the merged checkpoint."),
    base: str | None = typer.Option(None, help="Base model (checkpoint dir or preset); default: the run's, from run.json."),
):
    """Fold LoRA into the base weights: a plain checkpoint for from_pretrained and ChemVLM.from_pretrained."""
    from chemvlm.train.config import ConfigError
    from chemvlm.train.trainer import merge_checkpoint

    try:
        path = merge_checkpoint(adapter, out, base)
    except ConfigError as err:
        _fail(err)
    print(f"merged {adapter} -> {path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("merge")(merge)
