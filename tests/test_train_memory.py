"""The 26B stage-2 memory arithmetic on the meta device: LoRA sizes follow from the shapes, and it fits an A100."""

from chemvlm.model.build import build_config
from chemvlm.train.config import load_stage
from chemvlm.train.memory import GiB, zero3_estimate


def test_chemvlm_26b_stage2_under_zero3():
    config = build_config("chemvlm-26b")
    estimate = zero3_estimate(config, load_stage("stage2"), gpus=16, micro_batch=4, context=2048)
    v, t = config.vision_config, config.text_config
    kv = t.num_key_value_heads * t.hidden_size // t.num_attention_heads
    vit_lora = v.num_hidden_layers * 32 * (4 * 2 * v.hidden_size + 2 * (v.hidden_size + v.intermediate_size))
    h, f = t.hidden_size, t.intermediate_size
    llm_lora = t.num_hidden_layers * 16 * (2 * 2 * h + 2 * (h + kv) + 3 * (h + f))
    projector = 116_429_824  # `chemvlm info chemvlm-26b`
    assert estimate.trained_params == vit_lora + llm_lora + projector
    assert estimate.total_params == 25_514_186_112 + vit_lora + llm_lora
    assert 3 * GiB < estimate.model_states < 3.5 * GiB  # (2 bytes frozen + 16 bytes trained) / 16 GPUs
    assert estimate.per_gpu < 40 * GiB  # fits a 40 GB A100 before allocator overhead, as the paper's 16 x A100
