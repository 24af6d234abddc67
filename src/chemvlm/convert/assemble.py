"""A stage-1 starting checkpoint from a vision checkpoint and a separate LLM, as the ChemVLM authors
built theirs (InternVL-Chat-V1-5's ViT and projector + ChemLLM-20B).

The LLM's vocabulary is enlarged by the image tokens: its embedding and output rows are copied, and
each new row starts at the mean of the old rows, so that the new tokens start as an "average" token
rather than at random (the same choice transformers makes when it resizes embeddings).
"""

from __future__ import annotations

from pathlib import Path

import torch

from chemvlm.convert.checkpoint import CheckpointFormatError, ShardWriter, iter_tensors
from chemvlm.convert.internvl_chat import (
    INTERNLM2,
    _load_json,
    check_complete,
    config_from_internvl_chat,
    convert_tensors,
    expected_keys,
    read_internvl_chat_config,
)
from chemvlm.convert.tokenizer import convert_tokenizer
from chemvlm.model.build import SETTINGS_KEY
from chemvlm.model.checkpoint import require_checkpoint
from chemvlm.model.tokenizer import IMG_CONTEXT

IMAGE_TOKENS = ["<img>", "</img>", IMG_CONTEXT, "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"]
EMBEDDING_KEYS = ("model.language_model.embed_tokens.weight", "lm_head.weight")


def _fresh_projector(config) -> dict[str, torch.Tensor]:
    from transformers.models.internvl.modeling_internvl import (
        InternVLMultiModalProjector,
    )

    torch.manual_seed(0)
    return {f"model.multi_modal_projector.{k}": v for k, v in InternVLMultiModalProjector(config).state_dict().items()}


def assemble(vision_source: str | Path, llm_source: str | Path, destination: str | Path,
             max_shard_bytes: int = 5 * 2**30, dtype: torch.dtype | None = None) -> dict:
    vision_source, llm_source, destination = Path(vision_source), Path(llm_source), Path(destination)
    vision = read_internvl_chat_config(vision_source)
    llm = _load_json(require_checkpoint(llm_source) / "config.json")
    llm.setdefault("architectures", [INTERNLM2])
    old_vocab = llm["vocab_size"]
    src = {**vision, "llm_config": {**llm, "vocab_size": old_vocab + len(IMAGE_TOKENS)}}
    config, architecture, ps_version = config_from_internvl_chat(src, old_vocab + IMAGE_TOKENS.index(IMG_CONTEXT))
    hidden = config.text_config.hidden_size

    writer = ShardWriter(destination, max_shard_bytes)
    written: set[str] = set()

    def add(key, value):
        writer.add(key, value.to(dtype) if dtype is not None and value.is_floating_point() else value)
        written.add(key)

    projector_reused = True
    projector = {}
    for name, tensor in iter_tensors(vision_source):
        if not name.startswith(("vision_model.", "mlp1.")):
            continue  # the vision checkpoint's own LLM is replaced
        for key, value in convert_tensors(name, tensor, config, architecture, ps_version):
            if name.startswith("mlp1."):
                projector[key] = value
            else:
                add(key, value)
    if projector["model.multi_modal_projector.linear_2.weight"].shape[0] != hidden:
        projector, projector_reused = _fresh_projector(config), False  # the vision checkpoint's LLM was another width
    for key, value in projector.items():
        add(key, value)
    for name, tensor in iter_tensors(llm_source):
        for key, value in convert_tensors("language_model." + name, tensor, config, architecture, ps_version):
            if key in EMBEDDING_KEYS:
                if value.shape[0] != old_vocab:
                    raise CheckpointFormatError(f"{llm_source}: {name} has {value.shape[0]} rows, config says {old_vocab}")
                value = torch.cat([value, value.float().mean(0, keepdim=True).to(value.dtype).expand(len(IMAGE_TOKENS), -1)])
            add(key, value)
    writer.close()
    check_complete(llm_source, expected_keys(config), written)
    config.save_pretrained(destination)
    report = {"weights": len(written), "bytes": writer.total_bytes, "ps_version": ps_version,
              "llm": architecture, "vocabulary": f"{old_vocab} + {len(IMAGE_TOKENS)} image tokens",
              "projector": "reused" if projector_reused else "initialised (the vision checkpoint's LLM has another width)"}
    report.update(convert_tokenizer(llm_source, destination, getattr(config, SETTINGS_KEY)["system_message"],
                                    config.text_config.vocab_size, extra_tokens=IMAGE_TOKENS))
    return report
