"""Training a tiny model: packing is exact, policies touch only what they name, merge keeps the function,
resume after an interruption equals an uninterrupted run."""

import pytest
import torch
from transformers import InternVLForConditionalGeneration, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from chemvlm.chat.vlm import ChemVLM
from chemvlm.train.collate import Collator, pack_rows
from chemvlm.train.config import DataConfig, TrainConfig, load_stage
from chemvlm.train.data import load_meta
from chemvlm.train.encode import Encoder
from chemvlm.train.lora import apply_policy, merge
from chemvlm.train.toy import make_toy_data
from chemvlm.train.trainer import build_trainer, merge_checkpoint, run

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_data(tmp_path_factory.mktemp("toy"), n=12, seed=0)


@pytest.fixture(scope="module")
def batch_items(toy, tiny):
    from chemvlm.train.dataset import TrainDataset

    rows, _, _ = load_meta(toy)
    dataset = TrainDataset(rows, Encoder.for_vlm(tiny, 256), max_tiles=4)
    return [dataset[i] for i in range(6)]


def config(meta, out, stage="stage2", steps=4, **kw) -> TrainConfig:
    policy = load_stage({"base": stage, "optimizer": {"lr": 5e-3, "warmup_ratio": 0.0}, **kw.pop("policy", {})})
    data = DataConfig(meta=str(meta), context_length=256, max_dynamic_patch=4, packing=kw.pop("packing", True))
    return TrainConfig(model="tiny", output_dir=str(out), data=data, stage=policy, max_steps=steps,
                       per_device_batch=4, grad_accum=2, save_steps=kw.pop("save_steps", 100), logging_steps=1, **kw)


def test_pack_rows_fills_rows_within_capacity():
    lengths = [90, 10, 60, 40, 30, 70, 100]
    rows = pack_rows(lengths, 100)
    assert sorted(i for r in rows for i in r) == list(range(7))
    assert all(sum(lengths[i] for i in r) <= 100 for r in rows) and len(rows) == 4


def test_packed_and_padded_batches_agree(tiny, batch_items):
    collate = lambda packing: Collator(tiny.tokenizer.pad_token_id, 1024, packing)(batch_items)  # noqa: E731
    padded, packed = collate(False), collate(True)
    assert packed["input_ids"].shape[0] < padded["input_ids"].shape[0]  # fewer rows
    assert packed["stats"]["real_tokens"] == padded["stats"]["real_tokens"]
    losses, logits = [], []
    for batch in (padded, packed):
        batch = {k: v for k, v in batch.items() if k != "stats"}
        count = (batch["labels"][:, 1:] != -100).sum()
        with torch.no_grad():
            out = tiny.model(**batch, num_items_in_batch=count)
        losses.append(out.loss.item())
        keep = batch.get("attention_mask", torch.ones_like(batch["input_ids"])).bool()
        real = batch["labels"] != -100  # supervised positions, in sample order per row
        logits.append(out.logits[keep & real])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    # Attention isolation: the supervised positions' logits are the same (sets compared by sorting rows).
    a, b = (torch.sort(x.sum(-1)).values for x in logits)
    assert torch.allclose(a, b, atol=1e-4)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_policy_trains_only_what_it_names_and_merge_keeps_logits(toy, tmp_path, batch_items, tiny):
    cfg = config(toy, tmp_path / "run", stage="stage1", steps=3)
    trainer = build_trainer(cfg)
    base = trainer.model.get_base_model()
    before = _snapshot(base)
    trainer.train()
    changed = {n for n, p in base.named_parameters() if not torch.equal(before[n], p.detach())}
    frozen_llm = [n for n in before if ".language_model." in n or n.startswith("lm_head")]
    assert frozen_llm and not changed & set(frozen_llm)  # the frozen LLM is bit-identical
    vision_base = [n for n in before if "vision_tower" in n and "lora_" not in n and "modules_to_save" not in n]
    assert not changed & set(vision_base)  # the ViT's own weights stay; only its LoRA moves
    assert any("vision_tower" in n and "lora_B" in n for n in changed)
    assert any("multi_modal_projector" in n and "modules_to_save" in n for n in changed)
    # Merging: same logits as the adapter model, then a plain checkpoint that loads two ways.
    batch = {k: v for k, v in Collator(tiny.tokenizer.pad_token_id, 1024, True)(batch_items).items() if k != "stats"}
    model = trainer.model.eval()
    with torch.no_grad():
        unmerged = model(**batch).logits
        merged_model = merge(model)
        merged = merged_model(**batch).logits
    assert torch.allclose(unmerged, merged, atol=1e-5)
    ChemVLM(merged_model, trainer.base.tokenizer, trainer.base.settings).save_pretrained(tmp_path / "merged")
    plain = InternVLForConditionalGeneration.from_pretrained(tmp_path / "merged").eval()
    assert not any("lora" in n or "modules_to_save" in n for n, _ in plain.named_parameters())
    with torch.no_grad():
        assert torch.allclose(plain(**batch).logits, merged, atol=1e-5)
    assert ChemVLM.from_pretrained(tmp_path / "merged").ask(toy.parent / "images" / "mol-1.png", "SMILES?", max_new_tokens=3)


def test_overfits_and_merges_from_its_adapter(toy, tmp_path):
    # A random LLM learns fastest trained in full (a stage policy may say so); ViT LoRA and projector as stage 2.
    cfg = config(toy, tmp_path / "run", steps=12, policy={"llm": {"mode": "full"}, "optimizer": {"lr": 1e-2, "warmup_ratio": 0.0}})
    cfg.eval.every_steps = 6
    calls = []

    def hook(model, tokenizer, step):  # what the evaluation harness plugs in: any callable giving metrics
        calls.append((step, model.training))
        return {"answers": step * 2}

    summary = run(cfg, eval_hook=hook)
    import json

    evals = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl") if "eval/" in line]
    assert calls == [(6, False), (12, False)] and [e["eval/answers"] for e in evals] == [12, 24]

    losses = [json.loads(line)["loss"] for line in open(tmp_path / "run" / "log.jsonl") if '"loss"' in line]
    assert losses[-1] < 0.6 * losses[0], losses  # a handful of samples is learnt
    assert summary["merged"] and summary["skipped"] == {}
    out = merge_checkpoint(tmp_path / "run" / "adapter", tmp_path / "merged-again")
    a = InternVLForConditionalGeneration.from_pretrained(summary["merged"]).state_dict()
    b = InternVLForConditionalGeneration.from_pretrained(out).state_dict()
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


class StopAt(TrainerCallback):
    """Ends training after a step, as if the process had been killed right after saving that checkpoint."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resume_after_interruption_equals_uninterrupted_run(toy, tmp_path):
    straight = build_trainer(config(toy, tmp_path / "a", steps=6, save_steps=3))
    straight.train()
    interrupted = build_trainer(config(toy, tmp_path / "b", steps=6, save_steps=3), callbacks=[StopAt(3)])
    interrupted.train()
    assert interrupted.state.global_step == 3
    resumed = build_trainer(config(toy, tmp_path / "b", steps=6, save_steps=3))
    checkpoint = get_last_checkpoint(str(tmp_path / "b"))
    assert checkpoint.endswith("checkpoint-3")
    resumed.train(resume_from_checkpoint=checkpoint)
    a, b = _snapshot(straight.model), _snapshot(resumed.model)
    assert all(torch.equal(a[n], b[n]) for n in a)  # trained and frozen, bit for bit
    losses = lambda t: [h["loss"] for h in t.state.log_history if "loss" in h]  # noqa: E731
    assert losses(straight)[3:] == losses(resumed)[-3:]


def test_same_config_starts_from_the_same_lora_weights(toy, tmp_path, tiny):
    tiny.save_pretrained(tmp_path / "base")  # a checkpoint directory: loading it draws nothing from the RNG
    starts = []
    for k in range(2):
        torch.manual_seed(k)  # whatever the caller did before
        cfg = config(toy, tmp_path / f"run{k}")
        cfg.model = str(tmp_path / "base")
        starts.append({n: p.detach().clone() for n, p in build_trainer(cfg).model.named_parameters() if "lora_A" in n})
    assert starts[0] and all(torch.equal(starts[0][n], starts[1][n]) for n in starts[0])


def test_policy_without_lora_trains_the_named_module_in_place(tiny):
    import copy

    model = apply_policy(copy.deepcopy(tiny.model), load_stage({"base": "stage1", "vision": {"mode": "frozen"}}))
    trained = {n.split(".")[1] if n.startswith("model.") else n for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"multi_modal_projector"}


def test_gradient_checkpointing_gives_the_same_steps(toy, tmp_path):
    losses = []
    for checkpointing in (False, True):
        trainer = build_trainer(config(toy, tmp_path / str(checkpointing), steps=2, gradient_checkpointing=checkpointing))
        trainer.train()
        losses.append([h["loss"] for h in trainer.state.log_history if "loss" in h])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
