import json

import pytest
import torch
from transformers import AutoTokenizer, InternVLForConditionalGeneration

from chemvlm.chat.engine import ChemVLM
from chemvlm.chem import draw_molecule
from chemvlm.convert import convert_internvl_chat
from chemvlm.convert.checkpoint import CheckpointFormatError
from chemvlm.convert.tokenizer import CHECK_TEXTS, reference_encode

from internvl_chat_fake import IMAGE_TOKENS, fake_checkpoint, reference_logits


@pytest.fixture(scope="module", params=["v1", "v2"])
def converted(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"convert-{request.param}")
    weights = fake_checkpoint(root / "src", ps_version=request.param)
    report = convert_internvl_chat(root / "src", root / "dst", max_shard_bytes=40_000, dtype=torch.float32)
    return root, weights, report, request.param


def test_logits_match_the_original_architecture(converted, molecule_png):
    root, weights, report, ps_version = converted
    vlm = ChemVLM.from_pretrained(root / "dst")
    assert vlm.settings.transpose_tiles == (ps_version == "v1")
    inputs = vlm._encode([([molecule_png], "这是什么分子？What is it?", None)], max_tiles=6)
    assert inputs["pixel_values"].shape[0] == 7  # a 3x2 grid + thumbnail for a 4:3 image at 56 px
    with torch.no_grad():
        ours = vlm.model(**inputs).logits
        # The reference reads the tiles as they are (the engine transposes them for v1 checkpoints).
        pixels = inputs["pixel_values"].transpose(-1, -2) if ps_version == "v1" else inputs["pixel_values"]
        theirs = reference_logits(weights, inputs["input_ids"], pixels, vlm.model.config.image_token_id, ps_version)
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4), (ours - theirs).abs().max()
    # Without the tile transposition a v1 checkpoint would see a different image.
    if ps_version == "v1":
        with torch.no_grad():
            wrong = vlm.model(**{**inputs, "pixel_values": pixels}).logits
        assert not torch.allclose(wrong, theirs, atol=1e-3)


def test_converted_checkpoint_is_native_and_sharded(converted):
    root, _, report, _ = converted
    dst = root / "dst"
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1  # written shard by shard
    config = json.loads((dst / "config.json").read_text())
    assert config["model_type"] == "internvl" and config["text_config"]["model_type"] == "llama"
    assert config["text_config"]["rope_parameters"]["rope_type"] == "dynamic"
    assert config["chemvlm"]["train_max_tiles"] == 12 and config["chemvlm"]["template"] == "internlm2-chat"
    model = InternVLForConditionalGeneration.from_pretrained(dst)
    assert model.config.image_token_id == AutoTokenizer.from_pretrained(dst).convert_tokens_to_ids("<IMG_CONTEXT>")
    assert report["weights"] == len(index["weight_map"])


def test_tokenizer_keeps_the_source_ids(converted):
    root, _, report, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(root / "dst")
    added = {int(k): v["content"] for k, v in json.loads((root / "src" / "tokenizer_config.json").read_text())["added_tokens_decoder"].items()}
    for text in CHECK_TEXTS + ["CCO 乙醇<|im_end|>", "<img><IMG_CONTEXT></img>"]:
        assert tokenizer(text).input_ids == reference_encode(root / "src" / "tokenizer.model", added, text)
    size = len(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == size - 9 - 2  # as in InternLM2: 92542 of 92553
    assert [tokenizer.convert_tokens_to_ids(t) for t in IMAGE_TOKENS] == list(range(size - 9, size))
    assert tokenizer.decode(tokenizer("图中是 CCO。").input_ids, skip_special_tokens=True) == "图中是 CCO。"
    assert "identical" in report["tokenizer_check"]


def test_generation_through_ask_on_the_converted_model(converted, molecule_png):
    root, *_ = converted
    vlm = ChemVLM.from_pretrained(root / "dst")
    answer = vlm.ask(molecule_png, "What is the SMILES?", max_new_tokens=8)
    assert 0 < answer.new_tokens <= 8
    batch = vlm.ask_batch([([molecule_png], "What is the SMILES?"), ([draw_molecule("CCN")], "SMILES?")], max_new_tokens=8)
    assert batch[0].text == answer.text


def test_refuses_what_it_cannot_convert(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(CheckpointFormatError, match="expected 'internvl_chat'"):
        convert_internvl_chat(tmp_path, tmp_path / "out")
