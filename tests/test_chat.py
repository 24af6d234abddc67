import pytest
import torch

from chemvlm.chat import build_messages, expand_image_placeholders
from chemvlm.chem import draw_molecule

SYSTEM = "You are ChemVLM, a chemistry assistant that reads molecule images. 你是ChemVLM，一个化学多模态助手。"


def test_internlm2_chat_layout(tiny):
    assert tiny.prompt(1, "这是什么分子？") == (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>"
        "<|im_start|>user\n<image>\n这是什么分子？<|im_end|>"
        "<|im_start|>assistant\n"
    )


def test_several_turns_and_images(tiny):
    history = [("<image>\nWhat is this?", "CCO"), ("And its formula?", "C2H6O")]
    text = tiny.prompt(2, "Compare it with this one.", history=history)
    assert text == (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>"
        "<|im_start|>user\n<image>\nWhat is this?<|im_end|><|im_start|>assistant\nCCO<|im_end|>"
        "<|im_start|>user\nAnd its formula?<|im_end|><|im_start|>assistant\nC2H6O<|im_end|>"
        "<|im_start|>user\n<image>\nCompare it with this one.<|im_end|><|im_start|>assistant\n"
    )
    messages = build_messages("Which is larger?", 2)
    assert messages[-1]["content"] == "Image-1: <image>\nImage-2: <image>\nWhich is larger?"
    with pytest.raises(ValueError, match="placeholders"):
        build_messages("<image> <image> <image>", 2)


def test_placeholder_expansion_counts_tiles():
    text = expand_image_placeholders("a<image>b<image>c", [2, 1], tokens_per_tile=3)
    assert text == "a<img>" + "<IMG_CONTEXT>" * 6 + "</img>b<img>" + "<IMG_CONTEXT>" * 3 + "</img>c"
    with pytest.raises(ValueError):
        expand_image_placeholders("a<image>", [1, 1], 3)


def _overfit(vlm, image, question, answer, steps=80):
    """Teach the model one answer (labels only on the assistant's tokens and <|im_end|>)."""
    tokenizer = vlm.tokenizer
    inputs = vlm._encode([([image], question, None)], None)
    target = tokenizer(answer + "<|im_end|>", add_special_tokens=False, return_tensors="pt").input_ids
    input_ids = torch.cat([inputs["input_ids"], target], dim=1)
    labels = torch.full_like(input_ids, -100)
    labels[:, -target.shape[1]:] = target
    optimizer = torch.optim.AdamW(vlm.model.parameters(), lr=1e-2)
    vlm.model.train()
    for _ in range(steps):
        loss = vlm.model(input_ids=input_ids, pixel_values=inputs["pixel_values"], labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    vlm.model.eval()
    return loss.item()


def test_generation_stops_at_im_end_and_answers_in_chemistry_terms(molecule_png):
    from chemvlm.chat.vlm import ChemVLM

    vlm = ChemVLM.from_preset("tiny", seed=1)
    final_loss = _overfit(vlm, molecule_png, "SMILES?", "SMILES: CCO")
    assert final_loss < 0.05
    answer = vlm.ask(molecule_png, "SMILES?", max_new_tokens=40)
    assert answer.text == "SMILES: CCO"
    expected_tokens = len(vlm.tokenizer("SMILES: CCO", add_special_tokens=False).input_ids)
    assert answer.new_tokens == expected_tokens < 40  # stopped at <|im_end|>, not at the length limit
    assert answer.molecule.valid and answer.molecule.formula == "C2H6O"
    assert "".join(vlm.stream(molecule_png, "SMILES?", max_new_tokens=40)) == "SMILES: CCO"


def test_batch_equals_single(tiny):
    images = [draw_molecule(s, size=size) for s, size in [("CCO", (300, 200)), ("c1ccccc1", (200, 600)), ("CCN", (900, 300))]]
    items = [([images[0]], "What is it?"), ([images[1]], "这是什么？请给出SMILES。"), ([images[2], images[0]], "Compare.")]
    batch = tiny.ask_batch(items, max_new_tokens=12)
    single = [tiny.ask(images, question, max_new_tokens=12) for images, question in items]
    assert [a.text for a in batch] == [a.text for a in single]
    assert len({a.text for a in batch}) > 1  # different images and prompts give different outputs


def test_stream_equals_ask(tiny, molecule_png):
    streamed = "".join(tiny.stream(molecule_png, "What is it?", max_new_tokens=10))
    assert streamed == tiny.ask(molecule_png, "What is it?", max_new_tokens=10).text


def test_beam_candidates(tiny, molecule_png):
    candidates = tiny.ask_batch([([molecule_png], "What is it?")], max_new_tokens=6, num_beams=3, num_return_sequences=3)
    assert len(candidates) == 1 and len(candidates[0]) == 3
    assert len({c.text for c in candidates[0]}) >= 2  # beams differ (some only in bytes that decode alike)
