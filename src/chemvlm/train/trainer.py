"""Run one training stage with transformers' Trainer: bf16 when the GPU has it, gradient accumulation and
checkpointing, DeepSpeed through its JSON config, checkpoints every N steps with exact resume (optimizer,
scheduler, RNG states and the data position are restored), JSONL logs of loss / lr / tokens per second."""

from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from chemvlm.chat.engine import ChemVLM
from chemvlm.model.presets import preset_names
from chemvlm.train.collate import Collator
from chemvlm.train.config import ConfigError, TrainConfig
from chemvlm.train.data import AnnotationRow, ImageSource, SkipLog, load_meta
from chemvlm.train.dataset import LengthGroupedSampler, TrainDataset
from chemvlm.train.encode import Encoder
from chemvlm.train.lora import apply_policy, merge, trainable_summary

RUN_FILE = "run.json"  # what a run started from, so `merge` can rebuild the base model

EvalHook = Callable[..., dict]  # hook(model, tokenizer, step) -> {metric: value}


def load_base(spec: str, seed: int = 0) -> ChemVLM:
    """A checkpoint directory, or a preset with random weights (`tiny` for tests and CPU runs)."""
    if spec in preset_names() and not Path(spec).exists():
        if spec != "tiny":
            raise ConfigError(f"model {spec!r}: only the tiny preset is built from scratch here; give a checkpoint directory")
        return ChemVLM.from_preset(spec, seed=seed)
    return ChemVLM.from_pretrained(spec)


class StageTrainer(Trainer):
    """Trainer with the length-grouped sampler, batch statistics and tokens-per-second logging."""

    def __init__(self, *args, lengths: list[int] | None = None, skips: SkipLog | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lengths = lengths
        self.skips = skips or SkipLog()
        self.window = {"real_tokens": 0, "row_tokens": 0, "samples": 0, "images": 0, "tiles_reduced": 0}
        self.window_start = time.perf_counter()

    def _get_train_sampler(self, train_dataset=None):
        if self.lengths is not None:
            return LengthGroupedSampler(self.lengths, self.args.per_device_train_batch_size * self.args.world_size, self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        stats = inputs.pop("stats", None)
        if stats:
            for key in self.window:
                self.window[key] += stats[key]
            for sample_id, reason in stats["skipped"]:
                self.skips.add(sample_id, reason)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs:  # a training-step log: every process gets here together, so the gather is safe
            keys = list(self.window)
            totals = torch.tensor([self.window[k] for k in keys] + [self.skips.total], dtype=torch.float64, device=self.args.device)
            totals = self.accelerator.reduce(totals, "sum") if self.args.world_size > 1 else totals
            seconds = time.perf_counter() - self.window_start
            sums = dict(zip(keys + ["skipped"], totals.tolist()))
            logs["tokens_per_second"] = round(sums["real_tokens"] / seconds, 1)
            logs["samples_per_second"] = round(sums["samples"] / seconds, 2)
            logs["images_per_second"] = round(sums["images"] / seconds, 2)
            logs["real_token_share"] = round(sums["real_tokens"] / max(1, sums["row_tokens"]), 4)
            logs["tiles_reduced"] = int(sums["tiles_reduced"])
            logs["skipped_total"] = int(sums["skipped"])
            self.window = dict.fromkeys(self.window, 0)
            self.window_start = time.perf_counter()
        super().log(logs, start_time)


class JsonlLog(TrainerCallback):
    """One JSON object per log event in OUTPUT/log.jsonl (append-only; a resumed run continues the file)."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **logs}) + "\n")


class EvalCallback(TrainerCallback):
    """Calls `hook(model, tokenizer, step)` every N steps and at the end; its metrics are logged as eval/*.
    It runs on every process (a ZeRO-3 model needs all of them for a forward pass)."""

    def __init__(self, hook: EvalHook, every: int, log_path: Path):
        self.hook, self.every, self.log = hook, every, JsonlLog(log_path)

    def _run(self, args, state, control, model, tokenizer):
        was_training = model.training
        model.eval()
        metrics = {f"eval/{k}": v for k, v in (self.hook(model, tokenizer, state.global_step) or {}).items()}
        model.train(was_training)
        self.log.on_log(args, state, control, logs=metrics)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.every and state.global_step % self.every == 0:
            self._run(args, state, control, model, processing_class)

    def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if not self.every or state.global_step % self.every:
            self._run(args, state, control, model, processing_class)


def resolve_hook(spec: str) -> EvalHook:
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"eval.hook {spec!r}: cannot load ({err})") from None


def _bf16(setting) -> bool:
    if setting == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(setting)


def training_arguments(config: TrainConfig) -> TrainingArguments:
    opt = config.stage.optimizer
    return TrainingArguments(
        output_dir=config.output_dir,
        per_device_train_batch_size=config.per_device_batch,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=opt.lr,
        lr_scheduler_type=opt.schedule,
        warmup_steps=opt.warmup_ratio,  # a float below 1 is a share of all steps
        adam_beta1=opt.betas[0],
        adam_beta2=opt.betas[1],
        weight_decay=opt.weight_decay,
        max_grad_norm=opt.max_grad_norm,
        bf16=_bf16(config.bf16),
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        deepspeed=config.deepspeed,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        remove_unused_columns=False,  # batches carry use_cache and statistics the model signature does not name
        label_names=["labels"],
        dataloader_num_workers=config.data.num_workers,
        use_cpu=not torch.cuda.is_available(),  # several CPU processes (torchrun) then form a gloo group
        ddp_backend="gloo" if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
    )


def build_trainer(
    config: TrainConfig,
    image_source: ImageSource | None = None,
    rows: list[AnnotationRow] | None = None,
    eval_hook: EvalHook | None = None,
    callbacks: list | None = None,
) -> StageTrainer:
    """Everything for one stage, ready for `.train()`. `rows` (lazy rows from the data engine) replace the
    meta JSON; `image_source` replaces reading image files."""
    base = load_base(config.model, config.seed)
    skips = SkipLog()
    if rows is None:
        rows, skips, _ = load_meta(config.data.meta, config.seed)
    if not rows:
        raise ConfigError(f"{config.data.meta}: no usable rows ({skips.total} skipped)")
    encoder = Encoder.for_vlm(base, config.data.context_length)
    dataset = TrainDataset(rows, encoder, config.data.max_dynamic_patch, image_source)
    set_seed(config.seed)  # LoRA's initial weights come from the global RNG: the same run must start the same
    model = apply_policy(base.model, config.stage)
    model.train()
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    log_path = output / "log.jsonl"
    callbacks = [JsonlLog(log_path)] + list(callbacks or [])
    hook = eval_hook or (resolve_hook(config.eval.hook) if config.eval.hook else None)
    if hook:
        callbacks.append(EvalCallback(hook, config.eval.every_steps, log_path))
    trainer = StageTrainer(
        model=model,
        args=training_arguments(config),
        train_dataset=dataset,
        data_collator=Collator(base.tokenizer.pad_token_id, config.data.context_length, config.data.packing, encoder.dummy_image()),
        processing_class=base.tokenizer,
        callbacks=callbacks,
        lengths=dataset.estimated_lengths() if config.data.group_by_length else None,
        skips=skips,
    )
    trainer.base = base  # the ChemVLM whose model is being trained (tokenizer and chat settings for saving)
    return trainer


def run(config: TrainConfig, resume: bool = True, **kwargs) -> dict:
    """Train a stage; resumes from the last checkpoint in output_dir when there is one. Writes the final
    adapter to OUTPUT/adapter and, unless the weights are sharded by ZeRO-3, the merged model to OUTPUT/merged."""
    trainer = build_trainer(config, **kwargs)
    output = Path(config.output_dir)
    checkpoint = get_last_checkpoint(str(output)) if resume and output.is_dir() else None
    if trainer.is_world_process_zero():
        (output / RUN_FILE).write_text(json.dumps({"model": config.model, "seed": config.seed, "stage": config.stage.name}) + "\n")
    result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(output / "adapter"))
    summary = {
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "resumed_from": checkpoint,
        **trainable_summary(trainer.model),
        "skipped": dict(trainer.skips.counts),
        "skipped_examples": trainer.skips.examples[:20],
    }
    if trainer.is_world_process_zero():
        if trainer.is_deepspeed_enabled and trainer.accelerator.state.deepspeed_plugin.zero_stage == 3:
            summary["merged"] = None  # weights are sharded: `chemvlm merge OUTPUT/adapter` gathers them from the saved adapter
        else:
            merged = merge(trainer.accelerator.unwrap_model(trainer.model))
            ChemVLM(merged, trainer.base.tokenizer, trainer.base.settings).save_pretrained(output / "merged")
            summary["merged"] = str(output / "merged")
        (output / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary


def merge_checkpoint(adapter_dir: str | Path, out: str | Path, base: str | None = None) -> Path:
    """Fold a saved adapter (OUTPUT/adapter or OUTPUT/checkpoint-N) into its base model; the result loads
    with plain `from_pretrained` and with `ChemVLM.from_pretrained`."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter_dir}: no adapter_config.json (give OUTPUT/adapter or OUTPUT/checkpoint-N; a stage without LoRA saves whole models, which need no merge)")
    run_file = adapter_dir.parent / RUN_FILE
    info = json.loads(run_file.read_text()) if run_file.is_file() else {}
    base = base or info.get("model")
    if not base:
        raise ConfigError(f"{adapter_dir}: no {RUN_FILE} beside it; name the base model with --base")
    vlm = load_base(base, int(info.get("seed", 0)))
    merged = PeftModel.from_pretrained(vlm.model, str(adapter_dir)).merge_and_unload()
    ChemVLM(merged, vlm.tokenizer, vlm.settings).save_pretrained(out)
    return Path(out)
