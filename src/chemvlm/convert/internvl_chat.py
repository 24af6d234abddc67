"""InternVL-Chat (remote-code `internvl_chat`) checkpoints into transformers' native InternVL layout.

Vision: `attn.qkv` is split into q/k/v, `ls1/ls2` become `lambda_1/2`, `mlp1.0/1/3` the projector.
InternLM2 LLMs become Llama: `wqkv` is split per key/value group ([q × groups, k, v] per group),
`wo`, `feed_forward.w1/w3/w2`, norms and `output` are renamed. Qwen2 and Llama LLMs pass through.

Checkpoints made with `ps_version: v1` (InternVL 1.5, hence ChemVLM-26B) hand the LLM the image tokens
in column-major order. The native model is row-major, so v1 checkpoints are converted for transposed
tiles: the patch kernel and position grid are transposed, the projector's input channels permuted,
and the image processor's `transpose` is set so that every tile is transposed. The output is then the same.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch

from chemvlm.convert.checkpoint import CheckpointFormatError, ShardWriter, iter_tensors
from chemvlm.model.build import SETTINGS_KEY, save_settings
from chemvlm.model.checkpoint import require_checkpoint
from chemvlm.model.presets import ChatSettings, tokens_per_tile
from chemvlm.vision.processor import ImageProcessor

INTERNVL_SYSTEM_MESSAGE = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"
INTERNLM2 = "InternLM2ForCausalLM"
PASS_THROUGH_LLMS = {"Qwen2ForCausalLM": "qwen2", "LlamaForCausalLM": "llama"}

VISION_RENAMES = [
    (r"^vision_model\.", "model.vision_tower."),
    (r"\.encoder\.layers\.", ".encoder.layer."),
    (r"embeddings\.class_embedding$", "embeddings.cls_token"),
    (r"embeddings\.position_embedding$", "embeddings.position_embeddings"),
    (r"embeddings\.patch_embedding\.", "embeddings.patch_embeddings.projection."),
    (r"\.ls(\d)$", r".lambda_\1"),
    (r"\.attn\.proj\.", ".attention.projection_layer."),
    (r"\.attn\.", ".attention."),
    (r"\.norm1\.", ".layernorm_before."),
    (r"\.norm2\.", ".layernorm_after."),
]
INTERNLM2_RENAMES = [
    (r"^language_model\.output\.", "lm_head."),
    (r"^language_model\.model\.", "model.language_model."),
    (r"tok_embeddings", "embed_tokens"),
    (r"\.attention\.wo\.", ".self_attn.o_proj."),
    (r"\.feed_forward\.w1\.", ".mlp.gate_proj."),
    (r"\.feed_forward\.w2\.", ".mlp.down_proj."),
    (r"\.feed_forward\.w3\.", ".mlp.up_proj."),
    (r"\.attention_norm\.", ".input_layernorm."),
    (r"\.ffn_norm\.", ".post_attention_layernorm."),
]
PASS_THROUGH_RENAMES = [(r"^language_model\.lm_head\.", "lm_head."), (r"^language_model\.model\.", "model.language_model.")]
PROJECTOR_RENAMES = [
    (r"^mlp1\.0\.", "model.multi_modal_projector.layer_norm."),
    (r"^mlp1\.1\.", "model.multi_modal_projector.linear_1."),
    (r"^mlp1\.3\.", "model.multi_modal_projector.linear_2."),
]


def _rename(key: str, rules) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointFormatError(f"{path}: missing") from None
    except json.JSONDecodeError as err:
        raise CheckpointFormatError(f"{path}: not valid JSON ({err})") from None


def image_token_id(source: Path, llm_architecture: str) -> int:
    """Id of <IMG_CONTEXT> in the source tokenizer, else the value InternVL uses for that LLM family."""
    tokenizer_config = source / "tokenizer_config.json"
    if tokenizer_config.is_file():
        for token_id, token in _load_json(tokenizer_config).get("added_tokens_decoder", {}).items():
            if (token.get("content") if isinstance(token, dict) else token) == "<IMG_CONTEXT>":
                return int(token_id)
    return 151667 if llm_architecture == "Qwen2ForCausalLM" else 92546


def read_internvl_chat_config(source: Path) -> dict:
    src = _load_json(require_checkpoint(source) / "config.json")
    if src.get("model_type") != "internvl_chat":
        raise CheckpointFormatError(f"{source}: model_type is {src.get('model_type')!r}, expected 'internvl_chat'")
    return src


def native_config(source: Path):
    """The InternVLConfig of the converted model, its LLM architecture and the source's pixel-shuffle version."""
    src = read_internvl_chat_config(source)
    llm_architecture = (src["llm_config"].get("architectures") or [INTERNLM2])[0]
    return config_from_internvl_chat(src, image_token_id(source, llm_architecture))


def config_from_internvl_chat(src: dict, image_token: int):
    from transformers import AutoConfig, InternVLConfig
    from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

    v, llm = src["vision_config"], src["llm_config"]
    image_size = src.get("force_image_size") or v.get("image_size", 448)
    vision = InternVLVisionConfig(
        hidden_size=v["hidden_size"], num_hidden_layers=v["num_hidden_layers"],
        num_attention_heads=v["num_attention_heads"], intermediate_size=v["intermediate_size"],
        hidden_act=v.get("hidden_act", "gelu"), norm_type=v.get("norm_type", "rms_norm"),
        use_qk_norm=v.get("qk_normalization", False), attention_bias=v.get("qkv_bias", True),
        layer_norm_eps=v.get("layer_norm_eps", 1e-6), layer_scale_init_value=v.get("initializer_factor", 0.1),
        image_size=image_size, patch_size=v.get("patch_size", 14),
    )
    architecture = (llm.get("architectures") or [INTERNLM2])[0]
    if architecture == INTERNLM2:
        rope = llm.get("rope_scaling")
        text = AutoConfig.for_model(
            "llama", vocab_size=llm["vocab_size"], hidden_size=llm["hidden_size"],
            intermediate_size=llm["intermediate_size"], num_hidden_layers=llm["num_hidden_layers"],
            num_attention_heads=llm["num_attention_heads"], num_key_value_heads=llm["num_key_value_heads"],
            hidden_act=llm.get("hidden_act", "silu"), rms_norm_eps=llm.get("rms_norm_eps", 1e-5),
            max_position_embeddings=llm.get("max_position_embeddings", 32768),
            rope_theta=llm.get("rope_theta", 10000.0),
            rope_scaling={"rope_type": rope.get("type", rope.get("rope_type")), "factor": rope["factor"]} if rope else None,
            attention_bias=llm.get("bias", False), tie_word_embeddings=llm.get("tie_word_embeddings", False),
            bos_token_id=llm.get("bos_token_id", 1), eos_token_id=llm.get("eos_token_id", 2),
            pad_token_id=llm.get("pad_token_id", 2),
        )
    elif architecture in PASS_THROUGH_LLMS:
        keep = {k: val for k, val in llm.items() if k not in ("architectures", "auto_map", "_name_or_path", "model_type", "use_flash_attn", "attn_implementation")}
        text = AutoConfig.for_model(PASS_THROUGH_LLMS[architecture], **keep)
    else:
        raise CheckpointFormatError(f"LLM architecture {architecture!r} is not supported (InternLM2, Qwen2, Llama)")
    ps_version = src.get("ps_version", "v1")
    settings = ChatSettings(
        system_message=INTERNVL_SYSTEM_MESSAGE if src.get("template", "internlm2-chat") == "internlm2-chat" else "",
    )
    processor = ImageProcessor(
        tile_size=image_size, max_tiles=min(6, src.get("max_dynamic_patch", 6)),
        use_thumbnail=src.get("use_thumbnail", True), transpose=ps_version == "v1",
    )
    config = InternVLConfig(
        vision_config=vision, text_config=text, image_token_id=image_token,
        image_seq_length=tokens_per_tile(image_size, vision.patch_size[0], src.get("downsample_ratio", 0.5)),
        downsample_ratio=src.get("downsample_ratio", 0.5), vision_feature_layer=src.get("select_layer", -1),
        vision_feature_select_strategy="default", projector_hidden_act="gelu",
        tie_word_embeddings=text.tie_word_embeddings,
    )
    save_settings(config, settings, processor)
    config.architectures = ["InternVLForConditionalGeneration"]
    return config, architecture, ps_version


def pixel_shuffle(x: torch.Tensor, scale: float = 0.5, version: str = "v2") -> torch.Tensor:
    """InternVL-Chat's pixel shuffle on (n, w, h, c); v1 leaves the result transposed."""
    n, w, h, c = x.size()
    x = x.reshape(n, w, int(h * scale), int(c / scale)).permute(0, 2, 1, 3)
    x = x.reshape(n, int(h * scale), int(w * scale), int(c / (scale * scale)))
    return x if version == "v1" else x.permute(0, 2, 1, 3)


def v1_channel_order(side: int, channels: int, scale: float = 0.5) -> torch.Tensor:
    """perm with shuffle_v2(transposed grid)[..., k] == shuffle_v1(grid)[..., perm[k]] at every position."""
    grid = torch.arange(side * side * channels, dtype=torch.float64).reshape(1, side, side, channels)
    v1 = pixel_shuffle(grid, scale, "v1")
    v2_transposed = pixel_shuffle(grid.transpose(1, 2), scale, "v2")
    where = {value: k for k, value in enumerate(v1[0, 0, 0].tolist())}
    perm = torch.tensor([where[value] for value in v2_transposed[0, 0, 0].tolist()])
    if not torch.equal(v2_transposed, v1[..., perm]):
        raise AssertionError("pixel-shuffle v1 cannot be expressed as a channel permutation here")
    return perm


def _split_wqkv(weight: torch.Tensor, heads: int, kv_heads: int) -> tuple[torch.Tensor, ...]:
    """InternLM2's fused projection: per key/value group, its query heads, then one key and one value head."""
    groups = heads // kv_heads
    rest = weight.shape[1:]
    head_dim = weight.shape[0] // (kv_heads * (groups + 2))
    qkv = weight.reshape(kv_heads, groups + 2, head_dim, *rest)
    q = qkv[:, :groups].reshape(heads * head_dim, *rest)
    k = qkv[:, -2].reshape(kv_heads * head_dim, *rest)
    v = qkv[:, -1].reshape(kv_heads * head_dim, *rest)
    return q, k, v


def convert_tensors(name: str, tensor: torch.Tensor, config, architecture: str, ps_version: str):
    """(native name, tensor) pairs for one source tensor."""
    if name.startswith("vision_model."):
        key = _rename(name, VISION_RENAMES)
        if ".attention.qkv." in key:
            q, k, v = tensor.chunk(3, dim=0)
            return [(key.replace(".qkv.", f".{p}_proj."), t) for p, t in zip("qkv", (q, k, v))]
        if ps_version == "v1" and key.endswith("patch_embeddings.projection.weight"):
            return [(key, tensor.transpose(-1, -2))]
        if ps_version == "v1" and key.endswith("embeddings.position_embeddings"):
            cls, grid = tensor[:, :1], tensor[:, 1:]
            side = int(grid.shape[1] ** 0.5)
            grid = grid.reshape(1, side, side, -1).transpose(1, 2).reshape(1, side * side, -1)
            return [(key, torch.cat([cls, grid], dim=1))]
        return [(key, tensor)]
    if name.startswith("mlp1."):
        key = _rename(name, PROJECTOR_RENAMES)
        if ps_version == "v1" and ("layer_norm" in key or key.endswith("linear_1.weight")):
            vision = config.vision_config
            side = vision.image_size[0] // vision.patch_size[0]
            perm = v1_channel_order(side, vision.hidden_size, config.downsample_ratio)
            tensor = tensor[perm] if tensor.dim() == 1 else tensor[:, perm]
        return [(key, tensor)]
    if name.startswith("language_model."):
        if architecture != INTERNLM2:
            return [(_rename(name, PASS_THROUGH_RENAMES), tensor)]
        key = _rename(name, INTERNLM2_RENAMES)
        if ".attention.wqkv." in key:
            text = config.text_config
            parts = _split_wqkv(tensor, text.num_attention_heads, text.num_key_value_heads)
            return [(key.replace(".attention.wqkv.", f".self_attn.{p}_proj."), t) for p, t in zip("qkv", parts)]
        return [(key, tensor)]
    raise CheckpointFormatError(f"unexpected weight {name!r} in an InternVL-Chat checkpoint")


def convert_internvl_chat(source: str | Path, destination: str | Path, max_shard_bytes: int = 5 * 2**30, dtype: torch.dtype | None = None) -> dict:
    """Convert weights shard by shard, then the tokenizer. Returns a small report."""
    from chemvlm.convert.tokenizer import convert_tokenizer

    source, destination = Path(source), Path(destination)
    config, architecture, ps_version = native_config(source)
    expected = expected_keys(config)
    writer = ShardWriter(destination, max_shard_bytes)
    written = set()
    for name, tensor in iter_tensors(source):
        for key, value in convert_tensors(name, tensor, config, architecture, ps_version):
            writer.add(key, value.to(dtype) if dtype is not None and value.is_floating_point() else value)
            written.add(key)
    writer.close()
    check_complete(source, expected, written)
    config.save_pretrained(destination)
    report = {"weights": len(written), "bytes": writer.total_bytes, "ps_version": ps_version, "llm": architecture}
    report.update(convert_tokenizer(source, destination, getattr(config, SETTINGS_KEY)["system_message"], config.text_config.vocab_size))
    copy_generation_config(source, destination)
    return report


def copy_generation_config(source: Path, destination: Path) -> None:
    if (source / "generation_config.json").is_file():
        shutil.copy(source / "generation_config.json", destination / "generation_config.json")


def check_complete(source, expected: set[str], written: set[str]) -> None:
    missing, unexpected = expected - written, written - expected
    if missing or unexpected:
        raise CheckpointFormatError(
            f"{source}: converted weights do not match the model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}"
        )


def expected_keys(config) -> set[str]:
    from transformers import InternVLForConditionalGeneration

    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config)
    keys = set(model.state_dict())
    if config.tie_word_embeddings:
        keys.discard("lm_head.weight")
    return keys
