"""Per-GPU memory of a training stage under DeepSpeed ZeRO-3, from meta-device arithmetic (nothing allocated).

Model states (sharded over all GPUs by ZeRO-3), bf16 mixed precision with AdamW:
  frozen parameter: 2 bytes (bf16 weight)
  trained parameter: 2 (bf16 weight) + 2 (bf16 gradient) + 4 (fp32 master) + 4 + 4 (Adam moments) = 16 bytes
Not sharded, per GPU:
  gathered parameters: ZeRO-3 keeps at most `stage3_max_live_parameters` (1e9 in configs/train/zero3.json) in bf16,
  activations with gradient checkpointing: each layer's input (tokens x hidden, bf16) for every layer, plus one
  layer's full working set while it is recomputed, plus the logits (bf16, their fp32 copy and its gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import InternVLConfig, InternVLForConditionalGeneration

from chemvlm.train.config import StagePolicy
from chemvlm.train.lora import apply_policy

GiB = 1024**3


@dataclass
class MemoryEstimate:
    total_params: int
    trained_params: int
    gpus: int
    model_states: float  # bytes per GPU, sharded
    live_params: float  # gathered bf16 parameters at a time
    activations_llm: float
    activations_vit: float
    logits: float

    @property
    def per_gpu(self) -> float:
        return self.model_states + self.live_params + self.activations_llm + self.activations_vit + self.logits

    def table(self) -> str:
        rows = [
            ("parameters (total / trained)", f"{self.total_params / 1e9:.2f} B / {self.trained_params / 1e6:.1f} M"),
            (f"model states, sharded over {self.gpus} GPUs", f"{self.model_states / GiB:.2f} GiB"),
            ("gathered parameters (max live)", f"{self.live_params / GiB:.2f} GiB"),
            ("LLM activations (checkpointed)", f"{self.activations_llm / GiB:.2f} GiB"),
            ("ViT activations (checkpointed)", f"{self.activations_vit / GiB:.2f} GiB"),
            ("logits and their gradient", f"{self.logits / GiB:.2f} GiB"),
            ("per GPU, before allocator overhead", f"{self.per_gpu / GiB:.2f} GiB"),
        ]
        return "\n".join(f"| {a} | {b} |" for a, b in [("part", "memory"), ("---", "---")] + rows)


def trained_counts(config: InternVLConfig, policy: StagePolicy) -> tuple[int, int]:
    """(all parameters, trained parameters) of the model with the stage's LoRA applied, on the meta device."""
    with torch.device("meta"):
        model = apply_policy(InternVLForConditionalGeneration(config), policy)
    total = trained = 0
    for name, p in model.named_parameters():
        if "modules_to_save" in name and not p.requires_grad:
            continue
        if "original_module" in name:
            continue  # PEFT's copy of a fully trained module; its trained twin is counted
        total += p.numel()
        trained += p.numel() if p.requires_grad else 0
    return total, trained


def zero3_estimate(
    config: InternVLConfig, policy: StagePolicy, gpus: int = 16, micro_batch: int = 4, context: int = 2048,
    tiles_per_sample: int = 7, max_live_params: float = 1e9,
) -> MemoryEstimate:
    """`tiles_per_sample`: image tiles that fit the context (2048 tokens hold at most 7 tiles of 256 tokens)."""
    total, trained = trained_counts(config, policy)
    model_states = (2 * (total - trained) + 16 * trained) / gpus
    text, vision = config.text_config, config.vision_config
    tokens = micro_batch * context
    # Checkpointed: one bf16 hidden state per layer; recomputed layer: ~(attention 4h + MLP 3·ffn) values per token.
    llm = tokens * text.hidden_size * 2 * text.num_hidden_layers + tokens * (4 * text.hidden_size + 3 * text.intermediate_size) * 2
    side = vision.image_size[0] // vision.patch_size[0]
    patches = micro_batch * tiles_per_sample * (side * side + 1)
    vit = patches * vision.hidden_size * 2 * vision.num_hidden_layers + patches * (4 * vision.hidden_size + 2 * vision.intermediate_size) * 2
    logits = tokens * text.vocab_size * (2 + 4 + 4)
    return MemoryEstimate(total, trained, gpus, model_states, 2 * max_live_params, llm, vit, logits)


if __name__ == "__main__":  # python -m chemvlm.train.memory
    from chemvlm.model.build import build_config
    from chemvlm.train.config import load_stage

    print(zero3_estimate(build_config("chemvlm-26b"), load_stage("stage2")).table())
