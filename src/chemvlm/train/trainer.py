"""Run one training stage with transformers' Trainer: bf16 when the GPU has it, gradient accumulation and
checkpointing, DeepSpeed through its JSON config, checkpoints every N steps with exact resume (optimizer,
scheduler, RNG states and the data position are restored), JSONL logs of loss / lr / tokens per second.

The same trainer trains a small model from scratch (configs/train/mini.yaml): pictures drawn while training
(train.drawn), the patch-class loss beside the answer loss (train.patch_loss), learning rates and clipping
per part (train.optim), a time budget and adaptive CPU threads (train.pacing)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from chemvlm.chat.vlm import ChemVLM
from chemvlm.model.build import build_model, save_settings
from chemvlm.model.presets import load_preset, preset_names
from chemvlm.train.callbacks import EvalCallback, EvalHook, JsonlLog, resolve_hook
from chemvlm.train.collate import Collator
from chemvlm.train.config import ConfigError, TrainConfig
from chemvlm.train.data import AnnotationRow, ImageSource, LazyRows, SkipLog, load_meta
from chemvlm.train.dataset import LengthGroupedSampler, TrainDataset
from chemvlm.train.encode import Encoder
from chemvlm.train.lora import apply_policy, merge, trainable_summary
from chemvlm.train.optim import clip_by_part, cosine_floor, param_groups
from chemvlm.train.pacing import ThreadGovernor, TimeBudget
from chemvlm.train.patch_loss import PatchSupervised

RUN_FILE = "run.json"  # what a run started from, so `merge` can rebuild the base model


def load_base(spec: str, seed: int = 0, tokenizer=None) -> ChemVLM:
    """A checkpoint directory, or a preset with random weights: `tiny` (tests and CPU runs), or any preset
    given the tokenizer trained for it (a model trained from scratch)."""
    if spec in preset_names() and not Path(spec).exists():
        if tokenizer is not None:
            return ChemVLM(build_model(load_preset(spec), tokenizer, seed=seed), tokenizer)
        if spec != "tiny":
            raise ConfigError(f"model {spec!r}: only the tiny preset is built from scratch without vocab_size; give a checkpoint directory")
        return ChemVLM.from_preset(spec, seed=seed)
    return ChemVLM.from_pretrained(spec)


class StageTrainer(Trainer):
    """Trainer with the length-grouped (or, for drawn rows, sequential) sampler, optimiser groups per part,
    the cosine_floor schedule, clipping per part, loss components, batch statistics and speed in the log."""

    def __init__(self, *args, config: TrainConfig, lengths: list[int] | None = None, skips: SkipLog | None = None,
                 ordered: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config
        self.lengths = lengths
        self.ordered = ordered  # rows whose index carries their randomness (drawn rows): read them in order
        self.skips = skips or SkipLog()
        self.window = {"real_tokens": 0, "row_tokens": 0, "samples": 0, "images": 0, "tiles_reduced": 0}
        self.parts: dict[str, list[float]] = {}  # loss components since the last log
        self.window_start = time.perf_counter()

    def _get_train_sampler(self, train_dataset=None):
        if self.ordered:
            return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)
        if self.lengths is not None:
            return LengthGroupedSampler(self.lengths, self.args.per_device_train_batch_size * self.args.world_size, self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            opt = self.config.stage.optimizer
            self.optimizer = torch.optim.AdamW(param_groups(model or self.model, opt), lr=opt.lr, betas=opt.betas)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        opt = self.config.stage.optimizer
        if self.lr_scheduler is None and opt.schedule == "cosine_floor":
            self.lr_scheduler = cosine_floor(optimizer or self.optimizer, opt, num_training_steps, self.config.minutes * 60)
        return super().create_scheduler(num_training_steps, optimizer)

    def _clip_grad_norm(self, model):
        if self.config.stage.optimizer.clip_per_part:
            return clip_by_part(model, self.args.max_grad_norm)
        return super()._clip_grad_norm(model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        stats = inputs.pop("stats", None)
        if stats:
            for key in self.window:
                self.window[key] += stats[key]
            for sample_id, reason in stats["skipped"]:
                self.skips.add(sample_id, reason)
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        for name, value in getattr(self.accelerator.unwrap_model(model), "parts", {}).items():
            self.parts.setdefault(name, []).append(value)
        return result

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """A model with a patch head is saved as a ChemVLM checkpoint plus its head (train.patch_loss)."""
        model = self.accelerator.unwrap_model(self.model)
        if not isinstance(model, PatchSupervised):
            return super()._save(output_dir, state_dict)
        if self.args.should_save:
            save_checkpoint(self.base, model, Path(output_dir or self.args.output_dir))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        target = self.accelerator.unwrap_model(model or self.model)
        if not isinstance(target, PatchSupervised):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_weights(target, resume_from_checkpoint)

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
            logs.update({name: round(sum(v) / len(v), 4) for name, v in self.parts.items()})
            self.parts = {}
            self.window = dict.fromkeys(self.window, 0)
            self.window_start = time.perf_counter()
        super().log(logs, start_time)


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
        lr_scheduler_type="constant" if opt.schedule == "cosine_floor" else opt.schedule,  # cosine_floor: StageTrainer
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


def save_checkpoint(base: ChemVLM, model: PatchSupervised, path: Path, dtype: torch.dtype | None = None) -> None:
    """`model` as a ChemVLM checkpoint with `base`'s tokenizer, settings and image processor, plus its patch
    head; `dtype` converts the model in place (for the end of a run)."""
    weights = model.model.to(dtype) if dtype is not None else model.model
    was_training = weights.training
    ChemVLM(weights, base.tokenizer, base.settings, base.processor).save_pretrained(path)
    weights.train(was_training)
    model.save_head(path, dtype)


def load_weights(model: PatchSupervised, path: str | Path) -> None:
    """The weights (and patch head, when saved) of a checkpoint, as float32, into `model`."""
    from transformers import InternVLForConditionalGeneration

    saved = InternVLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    model.model.load_state_dict(saved.state_dict())
    model.load_head(path)


def _run_tokenizer(config: TrainConfig, molecules: list[str], output: Path):
    """The tokenizer a preset trained from scratch gets: trained once on the run's molecules, then reused."""
    from transformers import AutoTokenizer

    from chemvlm.train.drawn import smiles_tokenizer

    saved = output / "tokenizer"
    if (saved / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(saved)
    if not config.vocab_size or config.model not in preset_names() or Path(config.model).exists():
        return None  # a checkpoint brings its own
    sample = random.Random(config.seed).sample(molecules, min(5000, len(molecules)))
    tokenizer = smiles_tokenizer(sample, load_preset(config.model).chat.system_message, config.vocab_size)
    tokenizer.save_pretrained(saved)
    return tokenizer


def build_trainer(
    config: TrainConfig,
    image_source: ImageSource | None = None,
    rows: list[AnnotationRow] | None = None,
    eval_hook: EvalHook | None = None,
    callbacks: list | None = None,
) -> StageTrainer:
    """Everything for one stage, ready for `.train()`. `rows` (lazy rows from the data engine) replace the
    meta JSON; `image_source` replaces reading image files; `data.drawn` draws the rows while training."""
    from chemvlm.train.drawn import GraphPictures, TracedPictures, holdout_drawings, questions, real_rows, split_molecules
    from chemvlm.train.drawn import graph_holdout
    from chemvlm.train.patch_loss import evaluate_graphs, evaluate_holdout

    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    drawn = config.data.drawn if config.data.drawn.molecules else None
    molecules = split_molecules(drawn, output / "molecules.json") if drawn else None
    base = load_base(config.model, config.seed, _run_tokenizer(config, molecules["train"], output) if drawn else None)
    if config.image_processor:
        try:
            base.processor = dataclasses.replace(base.processor, **config.image_processor)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{config.output_dir}: image_processor: {err}") from None
    weights = {k: v for k, v in config.losses.items() if v}
    if "patch_classes" in weights and not base.processor.ink_view:
        raise ConfigError(f"{config.output_dir}: the patch-class loss labels one ink-view tile per picture; "
                          "set image_processor: {ink_view: true}")
    # made right after the weights, so that a seed gives the same head whatever else the run does
    graph_loss = "graph" in weights
    if graph_loss and ("patch_classes" in weights or not drawn):
        raise ConfigError(f"{config.output_dir}: the graph loss trains on its own drawn rows (data.drawn), "
                          "without the patch-class loss")
    dense = "patch_classes" in weights or graph_loss
    head = PatchSupervised(base.model, weights, drawn.graph_size if graph_loss else 448) if dense else None
    if head is not None and "lora" in (config.stage.vision.mode, config.stage.projector.mode, config.stage.llm.mode):
        raise ConfigError(f"{config.output_dir}: the dense losses train whole models; give the stage no LoRA part")
    if head is not None and Path(config.model).is_dir():
        head.load_head(config.model)
    save_settings(base.model.config, base.settings, base.processor)  # checkpoints carry the processor trained on
    skips = SkipLog()
    encoder = Encoder.for_vlm(base, config.data.context_length)
    vision = base.model.config.vision_config
    if drawn:
        if config.max_steps <= 0:
            raise ConfigError(f"{config.output_dir}: drawn data needs max_steps (the run's length)")
        per_step = config.per_device_batch * config.grad_accum * int(os.environ.get("WORLD_SIZE", "1"))
        if graph_loss:
            real = real_rows(drawn.real, drawn.holdout, output / "real.json") if drawn.real else {"train": [], "holdout": []}
            pictures = GraphPictures(molecules["train"], real["train"], drawn, config.seed, per_step, base.processor,
                                     vision.patch_size[0])
        else:
            pictures = TracedPictures(molecules["train"], drawn, config.seed, per_step, vision.image_size[0], vision.patch_size[0])
        rows = LazyRows(range(per_step * config.max_steps), pictures, "drawn")
    elif rows is None:
        rows, skips, _ = load_meta(config.data.meta, config.seed)
    if not rows:
        raise ConfigError(f"{config.data.meta}: no usable rows ({skips.total} skipped)")
    dataset = TrainDataset(rows, encoder, config.data.max_dynamic_patch, image_source)
    set_seed(config.seed)  # LoRA's initial weights come from the global RNG: the same run must start the same
    model = apply_policy(base.model, config.stage)
    if head is not None:
        head.model = model
        model = head
    model.train()
    collator = Collator(base.tokenizer.pad_token_id, config.data.context_length, config.data.packing, encoder.dummy_image())
    log_path = output / "log.jsonl"
    callbacks = [JsonlLog(log_path)] + list(callbacks or [])
    if graph_loss and not eval_hook and not config.eval.hook:
        checks = graph_holdout(molecules["holdout"][: drawn.eval_size], real["holdout"][: drawn.eval_size], drawn, config.seed)

        def eval_hook(model, tokenizer, step):  # the graph head's hold-out check
            return evaluate_graphs(model, checks, base.processor.single_ink_tile(drawn.graph_size))
    if drawn and head is not None and not graph_loss and not eval_hook and not config.eval.hook:
        holdout = molecules["holdout"][: drawn.eval_size]
        pictures = holdout_drawings(holdout, config.seed, vision.image_size[0], vision.patch_size[0])

        def eval_hook(model, tokenizer, step):  # the hold-out check of drawn runs
            vlm = ChemVLM(merge(model.model), tokenizer, base.settings, base.processor)
            return evaluate_holdout(vlm, model, encoder, collator, pictures, holdout, questions())
    hook = eval_hook or (resolve_hook(config.eval.hook) if config.eval.hook else None)
    if hook:
        callbacks.append(EvalCallback(hook, config.eval.every_steps, log_path))
    if config.minutes:
        callbacks.append(TimeBudget(config.minutes))
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 matmuls: float32 training at tensor-core speed
    else:
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.adapt_threads:
            callbacks.append(ThreadGovernor())
    trainer = StageTrainer(
        model=model,
        args=training_arguments(config),
        train_dataset=dataset,
        data_collator=collator,
        processing_class=base.tokenizer,
        callbacks=callbacks,
        config=config,
        lengths=dataset.estimated_lengths() if config.data.group_by_length and not drawn else None,
        skips=skips,
        ordered=bool(drawn),
    )
    trainer.base = base  # the ChemVLM whose model is being trained (tokenizer and chat settings for saving)
    return trainer


def run(config: TrainConfig, resume: bool = True, **kwargs) -> dict:
    """Train a stage; resumes from the last checkpoint in output_dir when there is one. Writes the final
    adapter to OUTPUT/adapter and, unless the weights are sharded by ZeRO-3, the merged model (with its patch
    head, if it has one) to OUTPUT/merged."""
    trainer = build_trainer(config, **kwargs)
    output = Path(config.output_dir)
    checkpoint = get_last_checkpoint(str(output)) if resume and output.is_dir() else None
    if trainer.is_world_process_zero():
        (output / RUN_FILE).write_text(json.dumps({"model": config.model, "seed": config.seed, "stage": config.stage.name}) + "\n")
    result = trainer.train(resume_from_checkpoint=checkpoint)
    model = trainer.accelerator.unwrap_model(trainer.model)
    head = model if isinstance(model, PatchSupervised) else None
    if head is None or hasattr(head.model, "peft_config"):
        trainer.save_model(str(output / "adapter"))
    summary = {
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "resumed_from": checkpoint,
        **trainable_summary(head.model if head else trainer.model),
        "skipped": dict(trainer.skips.counts),
        "skipped_examples": trainer.skips.examples[:20],
    }
    if trainer.is_world_process_zero():
        dtype = getattr(torch, config.merged_dtype)
        if trainer.is_deepspeed_enabled and trainer.accelerator.state.deepspeed_plugin.zero_stage == 3:
            summary["merged"] = None  # weights are sharded: `chemvlm merge OUTPUT/adapter` gathers them from the saved adapter
        elif head is not None:
            save_checkpoint(trainer.base, head, output / "merged", dtype)
            summary["merged"] = str(output / "merged")
        else:
            merged = merge(model).to(dtype)
            ChemVLM(merged, trainer.base.tokenizer, trainer.base.settings, trainer.base.processor).save_pretrained(output / "merged")
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
    ChemVLM(merged, vlm.tokenizer, vlm.settings, vlm.processor).save_pretrained(out)
    return Path(out)
