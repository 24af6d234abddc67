"""`python -m chemvlm.train CONFIG.yaml` — the entry for torchrun, accelerate launch and deepspeed."""

import typer

from chemvlm.train.cli import train

if __name__ == "__main__":
    typer.run(train)
