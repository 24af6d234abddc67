"""Optimiser groups, the cosine_floor schedule and clipping by part: the parts of a ChemVLM model (vision tower,
projector, LLM, patch head) may learn at their own rates and have their gradients clipped apart."""

from __future__ import annotations

import math
import time

import torch

from chemvlm.train.config import Optimizer


def part_of(name: str) -> str:
    """The part (train.config.PARTS) a parameter belongs to, from its name (PEFT prefixes included)."""
    if ".language_model." in name or name.endswith("lm_head.weight"):
        return "llm"
    if name.startswith("patch_head."):
        return "patch_head"
    if name.startswith("graph_head."):
        return "graph_head"
    return "projector" if ".multi_modal_projector." in name else "vision"


def param_groups(model: torch.nn.Module, opt: Optimizer) -> list[dict]:
    """One group per (rate, decay): weight decay on matrices other than embeddings and position tables."""
    groups: dict = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lr = opt.lr_groups.get(part_of(name), opt.lr)
        decay = p.ndim >= 2 and "embed" not in name and "position" not in name
        groups.setdefault((lr, decay), []).append(p)
    return [dict(params=ps, lr=lr, weight_decay=opt.weight_decay if decay else 0.0) for (lr, decay), ps in groups.items()]


def cosine_floor(optimizer, opt: Optimizer, total_steps: int, budget_seconds: float = 0.0):
    """Linear warm-up times a cosine from 1 down to `opt.min_lr_rate`; the cosine follows the share of steps
    done or, with a time budget, the share of the budget spent, whichever is larger."""
    warmup = opt.warmup_ratio if opt.warmup_ratio >= 1 else opt.warmup_ratio * total_steps
    start = time.monotonic()

    def factor(step: int) -> float:
        done = step / max(1, total_steps)
        if budget_seconds:
            done = max(done, (time.monotonic() - start) / budget_seconds)
        warm = min(1.0, (step + 1) / max(1.0, warmup))
        return warm * (opt.min_lr_rate + (1 - opt.min_lr_rate) * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_by_part(model: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """Clip the LLM's gradients and the rest's apart (so large early gradients of a vision-side loss cannot
    starve the LLM); returns the overall norm before clipping."""
    sides: dict[bool, list] = {True: [], False: []}
    for name, p in model.named_parameters():
        if p.grad is not None:
            sides[part_of(name) == "llm"].append(p)
    norms = [torch.nn.utils.clip_grad_norm_(ps, max_norm) for ps in sides.values() if ps]
    return torch.stack(norms).square().sum().sqrt() if norms else torch.tensor(0.0)
