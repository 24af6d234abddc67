"""`chemvlm mini train` and `chemvlm mini export` (added to the main command by register)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

mini_app = typer.Typer(help="Train chemvlm-mini from scratch on a CPU and export it as a checkpoint.", no_args_is_help=True)


def _config(molecules, out, **settings):
    from chemvlm.mini.train import MiniConfig, MiniConfigError

    saved = Path(out) / "config.json"
    if not molecules and saved.is_file():  # resuming: the run folder remembers its settings
        data = json.loads(saved.read_text())
        data.update({k: v for k, v in settings.items() if v is not None})
        return MiniConfig(**data)
    if not molecules:
        raise MiniConfigError(f"{out}: no run there yet; give --molecules to start one")
    return MiniConfig(molecules=[str(m) for m in molecules], out=str(out),
                      **{k: v for k, v in settings.items() if v is not None})


@mini_app.command("train")
def train_command(
    out: Path = typer.Option(..., "--out", "-o", help="Run folder; an existing run resumes from its last state."),
    molecules: list[Path] = typer.Option(None, "--molecules", help="Molecule files (CSV with a smiles column, .smi)."),
    images: int | None = typer.Option(None, help="Training pictures in all (the learning-rate schedule spans them)."),
    stop_after: int | None = typer.Option(None, help="Stop after this many more pictures (resume later)."),
    batch_size: int | None = typer.Option(None),
    eval_every: int | None = typer.Option(None, help="Pictures between hold-out evaluations."),
    threads: int | None = typer.Option(None, help="CPU threads (default: 2, or 1 while another process is busy)."),
    workers: int | None = typer.Option(None, help="Drawing processes (default 0: draw in the training process)."),
    init: Path | None = typer.Option(None, help="Start a new run from this checkpoint's weights and tokenizer."),
    lr_vision: float | None = typer.Option(None, help="Peak learning rate of the vision tower, projector and patch head."),
    lr_text: float | None = typer.Option(None, help="Peak learning rate of the LLM."),
    hand: float | None = typer.Option(None, help="Share of hand-drawn-looking pictures (0-1)."),
    degrade: float | None = typer.Option(None, help="Strength of the scan degradations (0: clean drawings, 1: the data engine's)."),
):
    """Train, or resume, a mini model; progress lines are JSON, also appended to OUT/log.jsonl."""
    from chemvlm.mini.train import train

    cfg = _config(molecules, out, images=images, stop_after=stop_after, batch_size=batch_size,
                  eval_every=eval_every, threads=threads, workers=workers,
                  init=str(init) if init else None, lr_vision=lr_vision, lr_text=lr_text, hand=hand, degrade=degrade)
    print(json.dumps(train(cfg)))


@mini_app.command("export")
def export_command(
    out: Path = typer.Option(..., "--out", "-o", help="Run folder."),
    to: Path = typer.Option(..., "--to", help="Checkpoint folder to write (bf16 safetensors + tokenizer)."),
):
    """Write the run's current weights as a checkpoint that `chemvlm ask -m DIR` loads."""
    from chemvlm.mini.train import export

    print(export(_config(None, out), to))


def register(app: typer.Typer) -> None:
    app.add_typer(mini_app, name="mini")
