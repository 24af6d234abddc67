import torch
from transformers import AutoTokenizer, InternVLForConditionalGeneration

from chemvlm.model import load_preset, preset_names
from chemvlm.model.build import build_config, parameter_counts
from chemvlm.model.tokenizer import IM_END, IM_START, IMG_CONTEXT, IMG_END, IMG_START


def test_26b_preset_has_the_released_shapes_without_allocating():
    config = build_config("chemvlm-26b")
    counts = parameter_counts(config)
    assert 25.4e9 < counts["total"] < 25.6e9
    assert 5.5e9 < counts["vision tower"] < 5.6e9 and 19.2e9 < counts["language model"] < 19.4e9
    assert counts["output layer"] == 92553 * 6144  # untied output layer
    assert config.text_config.vocab_size == 92553 and config.image_token_id == 92546
    assert config.image_seq_length == 256  # (448 / 14)^2 patches, pixel shuffle 0.5
    assert config.text_config.num_key_value_heads == 8 and config.vision_config.use_qk_norm
    assert load_preset("chemvlm-26b").tokens == {
        "<|im_start|>": 92543, "<|im_end|>": 92542, "<img>": 92544, "</img>": 92545, "<IMG_CONTEXT>": 92546
    }


def test_presets_are_listed():
    assert {"tiny", "chemvlm-26b", "chemvlm-8b"} <= set(preset_names())


def test_tiny_forward_shapes(tiny):
    model, tokenizer = tiny.model, tiny.tokenizer
    pixel_values = torch.randn(3, 3, 56, 56)  # 3 tiles
    features = model.get_image_features(pixel_values=pixel_values).pooler_output
    assert features.shape == (3, 4, 64)  # 4 tokens per 56-px tile, LLM width 64
    prompt = tiny.prompt(1, "what?", tiles_per_image=[3])
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    assert (ids == model.config.image_token_id).sum() == 12
    logits = model(input_ids=ids, pixel_values=pixel_values).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer))


def test_save_load_round_trip_with_plain_from_pretrained(tiny, tmp_path, molecule_png):
    tiny.save_pretrained(tmp_path)
    model = InternVLForConditionalGeneration.from_pretrained(tmp_path).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    inputs = tiny._encode([([molecule_png], "What is this?", None)], None)
    with torch.no_grad():
        before = tiny.model(**inputs).logits
        after = model(**inputs).logits
    assert torch.equal(before, after)
    # The tokenizer carries the special tokens and the chat template.
    for token in (IMG_START, IMG_END, IMG_CONTEXT, IM_START, IM_END):
        assert tokenizer.convert_tokens_to_ids(token) == tiny.tokenizer.convert_tokens_to_ids(token)
        assert len(tokenizer(token, add_special_tokens=False).input_ids) == 1
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == tiny.prompt(0, "hi")
    assert model.generation_config.eos_token_id == tiny.stop_ids


def test_8b_preset_matches_the_released_parameter_count():
    # 8,075,365,376 is the parameter count listed for the AI4Chem/ChemVLM-8B safetensors.
    assert parameter_counts(build_config("chemvlm-8b"))["total"] == 8_075_365_376
