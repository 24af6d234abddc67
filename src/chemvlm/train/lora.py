"""Apply a stage policy to a model (freeze, LoRA through PEFT, or train in full, per component) and fold
LoRA back into plain weights."""

from __future__ import annotations

import re

from peft import LoraConfig, PeftModel, get_peft_model

from chemvlm.train.config import StagePolicy

# Module paths of the three components in transformers' InternVLForConditionalGeneration.
PARTS = {
    "vision": r"model\.vision_tower",
    "projector": r"model\.multi_modal_projector",
    "llm": r"model\.language_model",
}
# InternVL's LoRA targets: ViT attention and MLP (qkv/proj/fc1/fc2), LLM q/k/v/o/gate/up/down.
DEFAULT_TARGETS = {
    "vision": ["q_proj", "k_proj", "v_proj", "projection_layer", "fc1", "fc2"],
    "projector": ["linear_1", "linear_2"],
    "llm": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
FULL_MODULES = {"vision": ["vision_tower"], "projector": ["multi_modal_projector"], "llm": ["language_model", "lm_head"]}


def _pattern(part: str, targets: list[str]) -> str:
    return PARTS[part] + r"\..*\.(" + "|".join(re.escape(t) for t in targets) + ")"


def apply_policy(model, policy: StagePolicy):
    """The model ready to train: a PeftModel when any component is LoRA (full components are then PEFT's
    `modules_to_save`, so checkpoints hold exactly the trained weights), else the model itself with the
    fully trained components unfrozen."""
    components = {"vision": policy.vision, "projector": policy.projector, "llm": policy.llm}
    lora = {part: c for part, c in components.items() if c.mode == "lora"}
    full = [m for part, c in components.items() if c.mode == "full" for m in FULL_MODULES[part]]
    for p in model.parameters():
        p.requires_grad_(False)
    if not lora and not full:
        raise ValueError(f"stage {policy.name!r} trains nothing: every component is frozen")
    if not lora:  # no adapter: the named modules train in place and checkpoints hold the whole model
        for name, module in model.named_modules():
            if name.split(".")[-1] in full:
                module.requires_grad_(True)
        return model
    patterns = {part: _pattern(part, c.targets or DEFAULT_TARGETS[part]) for part, c in lora.items()}
    first = next(iter(lora.values()))
    config = LoraConfig(
        target_modules="(" + ")|(".join(patterns.values()) + ")",
        r=first.r,
        lora_alpha=first.lora_alpha,
        lora_dropout=first.dropout,
        rank_pattern={patterns[p]: c.r for p, c in lora.items()},
        alpha_pattern={patterns[p]: c.lora_alpha for p, c in lora.items()},
        modules_to_save=full or None,
        bias="none",
    )
    if len({c.dropout for c in lora.values()}) > 1:
        raise ValueError("PEFT applies one LoRA dropout to all components; use the same dropout everywhere")
    return get_peft_model(model, config)


def trainable_summary(model) -> dict[str, int]:
    counts = {"trainable": 0, "total": 0}
    for p in model.parameters():
        n = getattr(p, "ds_numel", p.numel())  # under ZeRO-3 a parameter is a shard; ds_numel is its full size
        counts["total"] += n
        counts["trainable"] += n if p.requires_grad else 0
    return counts


def merge(model):
    """Plain model with LoRA folded into the base weights and full modules in place."""
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model
