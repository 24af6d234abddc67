"""A check shared by the training and conversion tests: what training feeds a model for an image equals what
inference feeds it."""

import torch

from chemvlm.train.encode import IGNORE, Encoder


def assert_training_input_equals_inference_input(vlm, image, max_tiles=None):
    question = "What is the SMILES of this molecule?"
    conversation = [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": "CCO"}]
    tiles = max_tiles or vlm.processor.max_tiles
    sample = Encoder.for_vlm(vlm, context_length=4096).encode("x", conversation, [image], tiles)
    served = vlm._encode([([image], "<image>\n" + question, None)], max_tiles=tiles)
    assert torch.equal(sample.pixel_values, served["pixel_values"].float())
    prompt = served["input_ids"][0].tolist()
    assert sample.input_ids[: len(prompt)] == prompt  # the answer follows exactly the prompt inference gives
    assert all(label == IGNORE for label in sample.labels[: len(prompt)])
