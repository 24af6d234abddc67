import json

import pytest
import torch
from transformers import AutoTokenizer, InternVLForConditionalGeneration

from chemvlm.chat.vlm import ChemVLM
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
    assert vlm.processor.transpose == (ps_version == "v1")
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


def test_training_input_of_a_converted_checkpoint_equals_its_inference_input(converted, molecule_png):
    from same_inputs import assert_training_input_equals_inference_input

    root, _, _, ps_version = converted
    vlm = ChemVLM.from_pretrained(root / "dst")
    assert_training_input_equals_inference_input(vlm, molecule_png)


def test_converted_checkpoint_is_native_and_sharded(converted):
    root, _, report, _ = converted
    dst = root / "dst"
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1  # written shard by shard
    config = json.loads((dst / "config.json").read_text())
    assert config["model_type"] == "internvl" and config["text_config"]["model_type"] == "llama"
    assert config["text_config"]["rope_parameters"]["rope_type"] == "dynamic"
    assert config["chemvlm"]["image_processor"]["max_tiles"] == 6  # the source trained with 12; ChemVLM evaluated with 6
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


def test_assemble_vision_checkpoint_with_a_separate_llm(tmp_path, molecule_png):
    from chemvlm.convert.assemble import IMAGE_TOKENS, assemble
    from internvl_chat_fake import fake_llm

    vision_weights = fake_checkpoint(tmp_path / "vision", ps_version="v2", seed=0)
    llm_weights = fake_llm(tmp_path / "llm", seed=1)
    report = assemble(tmp_path / "vision", tmp_path / "llm", tmp_path / "out", dtype=torch.float32)
    vlm = ChemVLM.from_pretrained(tmp_path / "out")
    old = llm_weights["language_model.model.tok_embeddings.weight"]
    embed = vlm.model.get_input_embeddings().weight.detach()
    assert embed.shape[0] == old.shape[0] + 9 and torch.equal(embed[: old.shape[0]], old)
    assert torch.allclose(embed[old.shape[0]:], old.mean(0).expand(9, -1), atol=1e-2)  # bf16 source
    assert [vlm.tokenizer.convert_tokens_to_ids(t) for t in IMAGE_TOKENS] == list(range(old.shape[0], old.shape[0] + 9))
    assert vlm.model.config.image_token_id == old.shape[0] + 2 and report["projector"] == "reused"
    # Text-only, the assembled model is the LLM; with an image, the ViT and projector are the vision checkpoint's.
    ids = vlm.tokenizer(["图中是 CCO 吗？"], return_tensors="pt").input_ids
    with torch.no_grad():
        text_logits = vlm.model(input_ids=ids).logits[..., : old.shape[0]]  # the 9 new tokens add 9 columns
        assert torch.allclose(text_logits, reference_logits(llm_weights, ids, None, -1, "v2"), atol=1e-4)
        inputs = vlm._encode([([molecule_png], "SMILES?", None)], max_tiles=2)
        mixed = {**llm_weights, **{k: v for k, v in vision_weights.items() if not k.startswith("language_model.")}}
        mixed["language_model.model.tok_embeddings.weight"] = embed
        mixed["language_model.output.weight"] = vlm.model.lm_head.weight.detach()
        expected = reference_logits(mixed, inputs["input_ids"], inputs["pixel_values"], vlm.model.config.image_token_id, "v2")
        assert torch.allclose(vlm.model(**inputs).logits, expected, atol=1e-4)
    assert vlm.ask(molecule_png, "SMILES?", max_new_tokens=4).new_tokens > 0
