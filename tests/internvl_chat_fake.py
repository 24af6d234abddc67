"""A small fake InternVL-Chat checkpoint (real key names and layout, random weights) and a reference
forward pass of the original architecture, written from its description, to check conversion against."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

IMAGE_TOKENS = ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"]
CHAT_TOKENS = ["<|plugin|>", "<|interpreter|>", "<|action_end|>", "<|action_start|>", "<|im_end|>", "<|im_start|>"]
TRAINING_TEXT = [
    "依据我的观察，这个图片展示的分子式，按SMILES来说是 CC(=O)Oc1ccccc1C(=O)O。",
    "In my view, the molecular formula displayed in the image with a SMILES representation is CCO.",
    "What is the molecule in the image? 图中是什么分子？ Answer with the option's letter.",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C C[C@H](N)C(=O)O 分子式 C9H8O4，分子量 180.16 g/mol。",
] * 20

VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=56,
              patch_size=14, norm_type="rms_norm", qk_normalization=True, qkv_bias=False, layer_norm_eps=1e-6,
              initializer_factor=0.1, hidden_act="gelu")
LLM = dict(architectures=["InternLM2ForCausalLM"], hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, intermediate_size=128, rms_norm_eps=1e-5, rope_theta=1000000.0,
           rope_scaling={"type": "dynamic", "factor": 2.0}, max_position_embeddings=4096, bias=False,
           tie_word_embeddings=False, hidden_act="silu", bos_token_id=1, eos_token_id=2, pad_token_id=2)


def train_sentencepiece(directory: Path) -> tuple[Path, dict[int, str]]:
    """A BPE sentencepiece model laid out like InternLM2's: the chat markers are the last pieces
    (named [UNUSED_TOKEN_*] in the model, renamed in tokenizer_config.json), image tokens follow."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "sp"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_TEXT), model_prefix=str(prefix), model_type="bpe", vocab_size=520,
        byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=False,
        remove_extra_whitespaces=False, character_coverage=1.0, split_digits=True, num_threads=1,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
    )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((directory / "sp.model").read_bytes())
    for number in range(141, 147):
        piece = proto.pieces.add()
        piece.piece, piece.score, piece.type = f"[UNUSED_TOKEN_{number}]", 0.0, 4  # user-defined
    model_file = directory / "tokenizer.model"
    model_file.write_bytes(proto.SerializeToString())
    size = len(proto.pieces)
    added = {0: "<unk>", 1: "<s>", 2: "</s>"}
    added.update({size - 6 + i: token for i, token in enumerate(CHAT_TOKENS)})
    added.update({size + i: token for i, token in enumerate(IMAGE_TOKENS)})
    return model_file, added


def fake_checkpoint(directory: Path, ps_version: str = "v1", seed: int = 0, vision: dict = VISION, llm: dict = LLM, shards: int = 3) -> dict:
    """Write the checkpoint in `shards` safetensors files; returns the weights for the reference."""
    directory.mkdir(parents=True, exist_ok=True)
    model_file, added = train_sentencepiece(directory)
    vocab_size = max(added) + 1
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "InternLM2Tokenizer", "add_bos_token": True, "add_eos_token": False,
        "added_tokens_decoder": {str(i): {"content": t, "special": True} for i, t in added.items()},
    }))
    config = {
        "model_type": "internvl_chat", "architectures": ["InternVLChatModel"], "downsample_ratio": 0.5,
        "select_layer": -1, "template": "internlm2-chat", "ps_version": ps_version, "max_dynamic_patch": 12,
        "use_thumbnail": True, "force_image_size": 56, "dynamic_image_size": True,
        "vision_config": {"architectures": ["InternVisionModel"], **vision},
        "llm_config": {**llm, "vocab_size": vocab_size},
    }
    (directory / "config.json").write_text(json.dumps(config))
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.2):
        return torch.randn(*shape, generator=g) * scale

    D, H = vision["hidden_size"], llm["hidden_size"]
    heads, kv = llm["num_attention_heads"], llm["num_key_value_heads"]
    hd, F_v, F_l = H // heads, vision["intermediate_size"], llm["intermediate_size"]
    patches = (vision["image_size"] // vision["patch_size"]) ** 2
    weights = {
        "vision_model.embeddings.class_embedding": rand(1, 1, D),
        "vision_model.embeddings.patch_embedding.weight": rand(D, 3, 14, 14, scale=0.05),
        "vision_model.embeddings.patch_embedding.bias": rand(D),
        "vision_model.embeddings.position_embedding": rand(1, patches + 1, D),
    }
    for i in range(vision["num_hidden_layers"]):
        p = f"vision_model.encoder.layers.{i}."
        weights.update({
            p + "attn.qkv.weight": rand(3 * D, D), p + "attn.q_norm.weight": 1 + rand(D), p + "attn.k_norm.weight": 1 + rand(D),
            p + "attn.proj.weight": rand(D, D), p + "attn.proj.bias": rand(D),
            p + "mlp.fc1.weight": rand(F_v, D), p + "mlp.fc1.bias": rand(F_v), p + "mlp.fc2.weight": rand(D, F_v), p + "mlp.fc2.bias": rand(D),
            p + "norm1.weight": 1 + rand(D), p + "norm2.weight": 1 + rand(D), p + "ls1": rand(D), p + "ls2": rand(D),
        })
    weights.update({
        "mlp1.0.weight": 1 + rand(4 * D), "mlp1.0.bias": rand(4 * D), "mlp1.1.weight": rand(H, 4 * D), "mlp1.1.bias": rand(H),
        "mlp1.3.weight": rand(H, H), "mlp1.3.bias": rand(H),
        "language_model.model.tok_embeddings.weight": rand(vocab_size, H),
        "language_model.model.norm.weight": 1 + rand(H), "language_model.output.weight": rand(vocab_size, H),
    })
    for i in range(llm["num_hidden_layers"]):
        p = f"language_model.model.layers.{i}."
        weights.update({
            p + "attention.wqkv.weight": rand((heads + 2 * kv) * hd, H), p + "attention.wo.weight": rand(H, H),
            p + "feed_forward.w1.weight": rand(F_l, H), p + "feed_forward.w3.weight": rand(F_l, H), p + "feed_forward.w2.weight": rand(H, F_l),
            p + "attention_norm.weight": 1 + rand(H), p + "ffn_norm.weight": 1 + rand(H),
        })
    names = list(weights)
    weight_map = {}
    for number in range(1, shards + 1):
        keys = names[(number - 1) * len(names) // shards : number * len(names) // shards]
        file = f"model-{number:05d}-of-{shards:05d}.safetensors"
        save_file({k: weights[k].to(torch.bfloat16) for k in keys}, str(directory / file))
        weight_map.update({k: file for k in keys})
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return {k: v.to(torch.bfloat16).float() for k, v in weights.items()}


def _rms(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _shuffle(x, version):
    n, w, h, c = x.size()
    x = x.view(n, w, h // 2, c * 2).permute(0, 2, 1, 3).contiguous().view(n, h // 2, w // 2, c * 4)
    return x if version == "v1" else x.permute(0, 2, 1, 3).contiguous()


def reference_image_tokens(W, pixel_values, ps_version):
    """InternViT (RMSNorm, qk-norm over all heads, layer scale) -> drop CLS -> pixel shuffle -> mlp1."""
    D, heads = VISION["hidden_size"], VISION["num_attention_heads"]
    x = F.conv2d(pixel_values, W["vision_model.embeddings.patch_embedding.weight"], W["vision_model.embeddings.patch_embedding.bias"], stride=14)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([W["vision_model.embeddings.class_embedding"].expand(x.shape[0], -1, -1), x], 1)
    x = x + W["vision_model.embeddings.position_embedding"]
    B, N, _ = x.shape
    for i in range(VISION["num_hidden_layers"]):
        p = f"vision_model.encoder.layers.{i}."
        y = _rms(x, W[p + "norm1.weight"], 1e-6)
        q, k, v = (y @ W[p + "attn.qkv.weight"].T).chunk(3, -1)
        q, k = _rms(q, W[p + "attn.q_norm.weight"], 1e-6), _rms(k, W[p + "attn.k_norm.weight"], 1e-6)
        q, k, v = (t.reshape(B, N, heads, D // heads).transpose(1, 2) for t in (q, k, v))
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // heads), -1) @ v
        x = x + (attn.transpose(1, 2).reshape(B, N, D) @ W[p + "attn.proj.weight"].T + W[p + "attn.proj.bias"]) * W[p + "ls1"]
        y = _rms(x, W[p + "norm2.weight"], 1e-6)
        y = F.gelu(y @ W[p + "mlp.fc1.weight"].T + W[p + "mlp.fc1.bias"]) @ W[p + "mlp.fc2.weight"].T + W[p + "mlp.fc2.bias"]
        x = x + y * W[p + "ls2"]
    x = x[:, 1:]
    side = int(x.shape[1] ** 0.5)
    x = _shuffle(x.reshape(B, side, side, D), ps_version).reshape(B, -1, 4 * D)
    x = F.layer_norm(x, (4 * D,), W["mlp1.0.weight"], W["mlp1.0.bias"], 1e-5)
    return F.gelu(x @ W["mlp1.1.weight"].T + W["mlp1.1.bias"]) @ W["mlp1.3.weight"].T + W["mlp1.3.bias"]


def reference_logits(W, input_ids, pixel_values, image_token_id, ps_version):
    """InternLM2 with fused wqkv ([q × groups, k, v] per key/value group), rotary positions, SwiGLU."""
    H, heads, kv = LLM["hidden_size"], LLM["num_attention_heads"], LLM["num_key_value_heads"]
    hd, groups = H // heads, heads // kv
    x = W["language_model.model.tok_embeddings.weight"][input_ids].clone()
    if pixel_values is not None:
        x[input_ids == image_token_id] = reference_image_tokens(W, pixel_values, ps_version).reshape(-1, H)
    B, T, _ = x.shape
    inv_freq = 1.0 / (LLM["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
    angles = torch.outer(torch.arange(T).float(), inv_freq)
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()

    def rope(t):
        half = t.shape[-1] // 2
        return t * cos + torch.cat([-t[..., half:], t[..., :half]], -1) * sin

    mask = torch.full((T, T), float("-inf")).triu(1)
    for i in range(LLM["num_hidden_layers"]):
        p = f"language_model.model.layers.{i}."
        y = _rms(x, W[p + "attention_norm.weight"], 1e-5)
        qkv = (y @ W[p + "attention.wqkv.weight"].T).reshape(B, T, kv, groups + 2, hd)
        q = qkv[..., :groups, :].reshape(B, T, heads, hd).transpose(1, 2)
        k = qkv[..., -2, :].transpose(1, 2).repeat_interleave(groups, 1)
        v = qkv[..., -1, :].transpose(1, 2).repeat_interleave(groups, 1)
        q, k = rope(q), rope(k)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, -1) @ v
        x = x + attn.transpose(1, 2).reshape(B, T, H) @ W[p + "attention.wo.weight"].T
        y = _rms(x, W[p + "ffn_norm.weight"], 1e-5)
        x = x + (F.silu(y @ W[p + "feed_forward.w1.weight"].T) * (y @ W[p + "feed_forward.w3.weight"].T)) @ W[p + "feed_forward.w2.weight"].T
    return _rms(x, W["language_model.model.norm.weight"], 1e-5) @ W["language_model.output.weight"].T


def fake_llm(directory: Path, seed: int = 1) -> dict:
    """A plain InternLM2 checkpoint (ChemLLM's layout): no image tokens, keys without `language_model.`."""
    source = directory.parent / (directory.name + "-full")
    weights = fake_checkpoint(source, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    decoder = json.loads((source / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    decoder = {k: v for k, v in decoder.items() if v["content"] not in IMAGE_TOKENS}
    vocab_size = max(map(int, decoder)) + 1
    (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "InternLM2Tokenizer", "added_tokens_decoder": decoder}))
    (directory / "tokenizer.model").write_bytes((source / "tokenizer.model").read_bytes())
    (directory / "config.json").write_text(json.dumps({"model_type": "internlm2", **LLM, "vocab_size": vocab_size}))
    llm = {k[len("language_model."):]: v[:vocab_size] if "tok_embeddings" in k or "output" in k else v
           for k, v in weights.items() if k.startswith("language_model.")}
    save_file({k: v.to(torch.bfloat16) for k, v in llm.items()}, str(directory / "model.safetensors"))
    return {"language_model." + k: v for k, v in llm.items()}
