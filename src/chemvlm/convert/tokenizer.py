"""The InternLM2 sentencepiece tokenizer as a fast tokenizer with the same ids, plus the chat template.

The source is InternLM2's slow tokenizer: added tokens (chat markers, image tokens, listed in
tokenizer_config.json) are split off first, every other stretch of text is encoded by sentencepiece,
and <s> is prepended. `reference_encode` is exactly that; `check_tokenizer` compares the two.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    processors,
)
from transformers.tokenization_utils_base import generate_merges

from chemvlm.convert.checkpoint import CheckpointFormatError
from chemvlm.model.tokenizer import wrap_tokenizer

# Bilingual chemistry text the converted tokenizer must encode exactly as the source does.
CHECK_TEXTS = [
    "依据我的观察，这个图片展示的分子式，按SMILES来说是 CC(=O)Oc1ccccc1C(=O)O。",
    "In my view, the molecular formula displayed in the image with a SMILES representation is C[C@H](N)C(=O)O.",
    "<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\n图中是什么分子？<|im_end|><|im_start|>assistant\n",
    "  leading spaces, double  spaces, tabs\tand newlines\n\n end ",
    "Ünïcödé ☃ 🧪 αβγ Å 1,2-二氯乙烷 [Na+].[Cl-] 3.14 g/mol",
    "",
]


def _added_tokens(source: Path) -> dict[int, str]:
    path = source / "tokenizer_config.json"
    if not path.is_file():
        return {}
    decoder = json.loads(path.read_text(encoding="utf-8")).get("added_tokens_decoder", {})
    return {int(i): (t["content"] if isinstance(t, dict) else t) for i, t in decoder.items()}


def _proto(model_file: Path):
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_file.read_bytes())
    if proto.trainer_spec.model_type != 2:  # 2 = BPE
        raise CheckpointFormatError(f"{model_file}: only sentencepiece BPE models are supported")
    return proto


def sentencepiece_to_fast(model_file: Path, added: dict[int, str], add_bos: bool = True) -> Tokenizer:
    proto = _proto(model_file)
    pieces = [p.piece for p in proto.pieces]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    for token_id, content in sorted(added.items()):
        if token_id < len(pieces):
            vocab.pop(pieces[token_id], None)  # InternLM2 names its chat markers only in tokenizer_config
        elif token_id != len(vocab):
            raise CheckpointFormatError(f"{model_file}: added token {content!r} has id {token_id}, expected {len(vocab)}")
        vocab[content] = token_id
    # Merges come from ordinary pieces only: control, byte and user-defined pieces are never merged into.
    skip = {p.piece for p in proto.pieces if p.type != 1} | set(added.values())
    merges = generate_merges(vocab, skip_tokens=skip)
    unk = pieces[proto.trainer_spec.unk_id]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk, fuse_unk=True, byte_fallback=proto.trainer_spec.byte_fallback))
    spec = proto.normalizer_spec
    steps = []
    if spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(spec.precompiled_charsmap))
    if spec.remove_extra_whitespaces:
        steps += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    if spec.add_dummy_prefix:
        steps.append(normalizers.Prepend("▁"))
    steps.append(normalizers.Replace(" ", "▁"))
    tokenizer.normalizer = normalizers.Sequence(steps)
    decode = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    if spec.add_dummy_prefix:
        decode.append(decoders.Strip(" ", 1, 0))
    tokenizer.decoder = decoders.Sequence(decode)
    specials = [pieces[i] for i in range(len(pieces)) if proto.pieces[i].type in (2, 3)]  # unknown, control
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials + [added[i] for i in sorted(added)]])
    if add_bos:
        bos = pieces[proto.trainer_spec.bos_id]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, proto.trainer_spec.bos_id)]
        )
    return tokenizer


def reference_encode(model_file: Path, added: dict[int, str], text: str, add_bos: bool = True) -> list[int]:
    """What InternLM2's slow tokenizer gives: added tokens split off, the rest through sentencepiece."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
    proto = _proto(model_file)
    by_content = {content: i for i, content in added.items()}
    ids = [proto.trainer_spec.bos_id] if add_bos else []
    if not by_content:
        return ids + processor.encode(text)
    pattern = "(" + "|".join(re.escape(c) for c in sorted(by_content, key=len, reverse=True)) + ")"
    for part in re.split(pattern, text):
        if part in by_content:
            ids.append(by_content[part])
        elif part:
            ids += processor.encode(part)
    return ids


def check_tokenizer(model_file: Path, added: dict[int, str], tokenizer, texts=CHECK_TEXTS) -> list[str]:
    """Texts the converted tokenizer encodes differently from the source (empty when all agree)."""
    return [t for t in texts if tokenizer(t).input_ids != reference_encode(model_file, added, t)]


def convert_tokenizer(source: Path, destination: Path, system_message: str, vocab_size: int, extra_tokens: list[str] = ()) -> dict:
    """Write the converted tokenizer into `destination`; raise if it disagrees with the source.
    `extra_tokens` are appended after the source's vocabulary (the image tokens, when assembling)."""
    from transformers import AutoTokenizer

    if (source / "tokenizer.json").is_file():  # already a fast tokenizer (Qwen2-based InternVL)
        tokenizer = AutoTokenizer.from_pretrained(source)
        tokenizer.add_tokens([t for t in extra_tokens if t not in tokenizer.get_vocab()], special_tokens=True)
        if len(tokenizer) != vocab_size:
            raise CheckpointFormatError(f"{source}: tokenizer has {len(tokenizer)} tokens, the model {vocab_size}")
        tokenizer.chat_template = wrap_tokenizer(tokenizer.backend_tokenizer, system_message).chat_template
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(destination)
        return {"tokenizer": "copied fast tokenizer", "tokenizer_check": "n/a"}
    model_file = source / "tokenizer.model"
    if not model_file.is_file():
        raise CheckpointFormatError(f"{source}: no tokenizer.model or tokenizer.json")
    added = _added_tokens(source)
    first_new = max([len(_proto(model_file).pieces) - 1, *added]) + 1
    added.update({first_new + i: token for i, token in enumerate(extra_tokens)})
    tokenizer = wrap_tokenizer(sentencepiece_to_fast(model_file, added), system_message)
    if len(tokenizer) != vocab_size:
        raise CheckpointFormatError(f"{source}: tokenizer has {len(tokenizer)} tokens, the model {vocab_size}")
    different = check_tokenizer(model_file, added, tokenizer)
    if different:
        raise CheckpointFormatError(f"{source}: converted tokenizer encodes {different[0]!r} differently from the source")
    tokenizer.save_pretrained(destination)
    return {"tokenizer": "sentencepiece -> fast", "tokenizer_check": f"{len(CHECK_TEXTS)} bilingual texts identical"}
