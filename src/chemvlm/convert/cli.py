"""`chemvlm convert` and `chemvlm assemble`."""

from __future__ import annotations

from pathlib import Path

import typer

DTYPES = {"keep": None, "bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}


def _dtype(name: str):
    import torch

    if name not in DTYPES:
        raise typer.BadParameter(f"--dtype {name!r}: use one of {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[name]) if DTYPES[name] else None


def _print(report: dict, destination: Path) -> None:
    from rich.console import Console

    console = Console()
    for key, value in report.items():
        console.print(f"{key:16} {value:,}" if isinstance(value, int) else f"{key:16} {value}", highlight=False)
    console.print(f"saved to {destination}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def convert(
        source: Path = typer.Argument(..., help="An InternVL-Chat checkpoint directory (e.g. ChemVLM-26B)."),
        destination: Path = typer.Argument(..., help="Where to write the native InternVL checkpoint."),
        shard_size: float = typer.Option(5.0, help="Largest output shard in GiB (bounds the memory used)."),
        dtype: str = typer.Option("keep", help="keep, bfloat16, float16 or float32."),
    ):
        """Convert a released InternVL-Chat checkpoint into transformers' native InternVL layout."""
        from chemvlm.convert import convert_internvl_chat

        _print(convert_internvl_chat(source, destination, int(shard_size * 2**30), _dtype(dtype)), destination)

    @app.command()
    def assemble(
        vision: Path = typer.Option(..., help="InternVL-Chat checkpoint whose ViT and projector are used."),
        llm: Path = typer.Option(..., help="Causal LM checkpoint (InternLM2, Llama or Qwen2 layout)."),
        output: Path = typer.Option(..., "--output", "-o", help="Where to write the assembled checkpoint."),
        shard_size: float = typer.Option(5.0, help="Largest output shard in GiB."),
        dtype: str = typer.Option("keep", help="keep, bfloat16, float16 or float32."),
    ):
        """Build a stage-1 starting checkpoint from a vision checkpoint and a separate LLM."""
        from chemvlm.convert.assemble import assemble as build

        _print(build(vision, llm, output, int(shard_size * 2**30), _dtype(dtype)), output)
