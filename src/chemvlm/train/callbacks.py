"""Training callbacks: the JSONL log and evaluation hooks."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

from chemvlm.train.config import ConfigError

EvalHook = Callable[..., dict]  # hook(model, tokenizer, step) -> {metric: value}


class JsonlLog(TrainerCallback):
    """One JSON object per log event in OUTPUT/log.jsonl (append-only; a resumed run continues the file)."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **logs}) + "\n")


class EvalCallback(TrainerCallback):
    """Calls `hook(model, tokenizer, step)` every N steps and at the end; its metrics are logged as eval/*.
    It runs on every process (a ZeRO-3 model needs all of them for a forward pass)."""

    def __init__(self, hook: EvalHook, every: int, log_path: Path):
        self.hook, self.every, self.log = hook, every, JsonlLog(log_path)

    def _run(self, args, state, control, model, tokenizer):
        was_training = model.training
        model.eval()
        metrics = {f"eval/{k}": v for k, v in (self.hook(model, tokenizer, state.global_step) or {}).items()}
        model.train(was_training)
        self.log.on_log(args, state, control, logs=metrics)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.every and state.global_step % self.every == 0:
            self._run(args, state, control, model, processing_class)

    def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if not self.every or state.global_step % self.every:
            self._run(args, state, control, model, processing_class)


def resolve_hook(spec: str) -> EvalHook:
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"eval.hook {spec!r}: cannot load ({err})") from None
