"""Train chemvlm-mini from scratch: image -> SMILES with a dense auxiliary loss on the vision patches.

A run lives in one folder: `state.pt` (weights, optimiser, counters; written atomically every few
minutes), `log.jsonl` (training and evaluation records), `tokenizer/` and `molecules.json`. Running the same
command again resumes from `state.pt`, so a killed or interrupted run loses at most the last interval.
Batches are a pure function of (seed, step): a resumed run draws exactly the pictures it would have drawn.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from chemvlm.bench.metrics import score_smiles, smiles_of, summarize_smiles
from chemvlm.chat.engine import ChemVLM
from chemvlm.data.tasks import templates
from chemvlm.errors import InputError
from chemvlm.mini.corpus import prepare_molecules
from chemvlm.mini.drawing import EMPTY, PATCH_CLASSES, SINGLE, Drawing, draw_training_sample
from chemvlm.model.build import build_model
from chemvlm.model.presets import load_preset
from chemvlm.model.tokenizer import IM_END, build_tokenizer


class MiniConfigError(InputError, ValueError):
    """A mini training setting that cannot work."""


@dataclass
class MiniConfig:
    molecules: list[str]  # molecule files (CSV/SMI, see chemvlm.data.sources)
    out: str  # run folder
    images: int = 400_000  # training pictures in all; learning rates follow a cosine over them
    batch_size: int = 32
    lr_vision: float = 3e-3  # the tower and projector learn from scratch: a higher rate keeps them from collapsing
    lr_text: float = 1e-3
    warmup_steps: int = 50
    aux_weight: float = 1.0  # patch-class loss on the vision tower's outputs
    max_heavy: int = 20
    holdout: float = 0.02  # share of InChIKey skeletons kept out of training
    eval_every: int = 10_000  # pictures between evaluations
    eval_size: int = 200
    save_minutes: float = 5.0
    seed: int = 0
    bf16: bool = False  # autocast; 1.7x slower than float32 on this project's 2-core CPU (docs/mini.md)
    workers: int = 0  # drawing processes; 0 draws in the training process (right for 2 CPU cores)
    threads: int = 0  # 0: two threads, one while another process keeps a core busy
    vocab_size: int = 1200
    preset: str = "mini"
    init: str | None = None  # a checkpoint (e.g. the bundled model) whose weights and tokenizer start a new run
    stop_after: int | None = None  # pictures to train in this call (the schedule still spans `images`)
    minutes: float | None = None  # wall-clock budget of this call; the schedule then spans it, not `images`
    hand: float = 0.0  # share of hand-drawn-looking pictures
    degrade: float = 0.0  # strength of the data engine's scan degradations (0: clean drawings)

    def __post_init__(self):
        if self.batch_size < 1 or self.images < self.batch_size:
            raise MiniConfigError(f"images ({self.images}) must be at least one batch ({self.batch_size})")


def _questions() -> list[str]:
    return [q for lang in ("en", "zh") for q in templates(lang)["ocr"]["questions"]]


def mini_tokenizer(smiles: list[str], system_message: str, vocab_size: int):
    """SMILES-aware BPE trained on the question and answer templates of both languages and on SMILES."""
    corpus = []
    for lang in ("en", "zh"):
        for task in templates(lang).values():
            if isinstance(task, dict):
                corpus += [str(t) for key in ("questions", "answers") for t in task.get(key, [])]
    corpus += [system_message] + smiles
    return build_tokenizer(corpus, system_message, vocab_size=vocab_size, smiles_aware=True)


def _draw_job(job: tuple) -> Drawing:
    smiles, seed, tile, patch, thicken, plain, hand, strength = job
    drawing = draw_training_sample(smiles, random.Random(seed), tile, patch, thicken, plain, hand, strength)
    if not plain:  # training reads only the grey tile: a third of the bytes between processes
        drawing = replace(drawing, image=None, tile=drawing.tile.convert("L"))
    return drawing


class Batcher:
    """Turns molecules into model inputs: prompt (cached per question) + traced SMILES + <|im_end|>."""

    def __init__(self, vlm: ChemVLM, questions: list[str], workers: int = 0, hand: float = 0.0, degrade: float = 0.0):
        self.vlm, self.questions = vlm, questions
        self.looks = (hand, degrade)
        self.workers = workers
        self.pool = None
        if workers > 0:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        self.prompts = [vlm.tokenizer(vlm.prompt(1, q, tiles_per_image=[1]), add_special_tokens=False)["input_ids"]
                        for q in questions]
        self.end = vlm.tokenizer.convert_tokens_to_ids(IM_END)
        self.pad = vlm.tokenizer.pad_token_id
        vision = vlm.model.config.vision_config
        self.tile, self.patch = vision.image_size[0], vision.patch_size[0]

    def submit(self, smiles: list[str], rng: random.Random, plain: bool = False):
        """Drawings of `smiles` to collect with list(): the worker processes of `pool` (for machines where
        the model outruns the drawing) start at once, in-process drawing waits for the list. Each drawing
        has its own seed taken from `rng` now, so both give the same pictures."""
        jobs = [(s, rng.getrandbits(64), self.tile, self.patch, self.vlm.processor.thicken, plain, *self.looks)
                for s in smiles]
        if self.pool is not None:
            return self.pool.map(_draw_job, jobs, chunksize=max(1, len(jobs) // (4 * self.workers)))
        return map(_draw_job, jobs)

    def draw(self, smiles: list[str], rng: random.Random, plain: bool = False) -> list[Drawing]:
        return list(self.submit(smiles, rng, plain))

    def batch(self, drawings, rng: random.Random) -> dict:
        seqs, starts = [], []
        answers = self.vlm.tokenizer([d.target for d in drawings], add_special_tokens=False)["input_ids"]
        for answer in answers:
            prompt = self.prompts[rng.randrange(len(self.prompts))]
            seqs.append(prompt + answer + [self.end])
            starts.append(len(prompt))
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.pad)
        labels = torch.full((len(seqs), width), -100)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (seq, start) in enumerate(zip(seqs, starts)):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
            labels[i, start : len(seq)] = ids[i, start : len(seq)]
        return dict(input_ids=ids, attention_mask=mask, labels=labels,
                    tiles=torch.from_numpy(np.stack([np.asarray(d.tile.convert("L")) for d in drawings])),
                    patches=torch.from_numpy(np.stack([d.patches for d in drawings])))


class MiniModel(torch.nn.Module):
    """The VLM plus the patch-class head that reads the vision tower's last hidden states."""

    def __init__(self, vlm: ChemVLM):
        super().__init__()
        self.vlm_model = vlm.model
        self.processor = vlm.processor
        self.patch_head = torch.nn.Linear(vlm.model.config.vision_config.hidden_size, len(PATCH_CLASSES))
        self._hidden = None
        vlm.model.model.vision_tower.register_forward_hook(lambda m, i, o: setattr(self, "_hidden", o.last_hidden_state))

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(answer loss, patch-class loss)."""
        out = self.vlm_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             pixel_values=self.processor.pixel_values_of_grey(batch["tiles"]), labels=batch["labels"])
        logits = self.patch_head(self._hidden[:, 1:, :]).float()  # drop the CLS position
        # empty patches dominate; weigh them down so atoms and bonds drive the vision tower
        weight = torch.ones(len(PATCH_CLASSES), device=logits.device)
        weight[EMPTY], weight[SINGLE] = 0.2, 0.5
        aux = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["patches"].reshape(-1), weight=weight)
        return out.loss, aux


def _is_language_model(name: str) -> bool:
    return ".language_model." in name or name.endswith("lm_head.weight")


def _param_groups(model: MiniModel, cfg: MiniConfig) -> list[dict]:
    groups = {}
    for name, p in model.named_parameters():
        lr = cfg.lr_text if _is_language_model(name) else cfg.lr_vision
        decay = p.ndim >= 2 and "embed" not in name and "position" not in name
        groups.setdefault((lr, decay), []).append(p)
    return [dict(params=ps, lr=lr, base_lr=lr, weight_decay=0.01 if decay else 0.0) for (lr, decay), ps in groups.items()]


def _schedule(step: int, done: float, cfg: MiniConfig) -> float:
    """Learning-rate scale: warm-up, then a cosine to 5 % over `done` (the share of the run behind us)."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps)
    return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))


class ThreadGovernor:
    """On a 2-core machine two threads are fastest alone but ~4x slower than one thread when another
    process keeps a core busy; look at /proc/stat now and then and use what fits."""

    def __init__(self):
        self.last = None

    def adjust(self) -> None:
        try:
            busy = sum(int(x) for i, x in enumerate(open("/proc/stat").readline().split()[1:]) if i not in (3, 4))
            mine = sum(int(x) for x in open("/proc/self/stat").read().rsplit(")", 1)[1].split()[11:13])
        except OSError:
            return
        now = time.monotonic()
        if self.last is not None:
            ticks = (now - self.last[2]) * os.sysconf("SC_CLK_TCK")
            others = ((busy - self.last[0]) - (mine - self.last[1])) / max(ticks, 1)
            torch.set_num_threads(1 if others > 0.5 else 2)
        self.last = (busy, mine, now)


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a kill during the write leaves the previous state intact


def _log(run: Path, record: dict) -> None:
    with open(run / "log.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def setup(cfg: MiniConfig) -> tuple[ChemVLM, MiniModel, dict]:
    """The run's molecules, tokenizer and model (fresh, or as saved by an earlier call)."""
    run = Path(cfg.out)
    run.mkdir(parents=True, exist_ok=True)
    for source in cfg.molecules:
        if not Path(source).is_file():
            raise MiniConfigError(f"{source}: no such molecule file")
    if cfg.init and not (Path(cfg.init) / "config.json").is_file():
        raise MiniConfigError(f"{cfg.init}: not a checkpoint directory (no config.json)")
    molecules = prepare_molecules(cfg.molecules, cfg.max_heavy, cfg.holdout, run / "molecules.json")
    if len(molecules["train"]) < cfg.batch_size or not molecules["holdout"]:
        raise MiniConfigError(f"{', '.join(cfg.molecules)}: too few molecules with <= {cfg.max_heavy} heavy atoms "
                              f"({molecules['report']})")
    preset = load_preset(cfg.preset)
    if (run / "tokenizer" / "tokenizer.json").is_file() or cfg.init:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(run / "tokenizer" if (run / "tokenizer").is_dir() else cfg.init)
        tokenizer.save_pretrained(run / "tokenizer")
    else:
        sample = random.Random(cfg.seed).sample(molecules["train"], min(5000, len(molecules["train"])))
        tokenizer = mini_tokenizer(sample, preset.chat.system_message, cfg.vocab_size)
        tokenizer.save_pretrained(run / "tokenizer")
    vlm = ChemVLM(build_model(preset, tokenizer, seed=cfg.seed), tokenizer)
    # the recipe draws ink-view tiles, whatever the preset's own processor
    vlm.processor = replace(vlm.processor, ink_view=True, max_tiles=1, use_thumbnail=False)
    return vlm, MiniModel(vlm), molecules


def train(cfg: MiniConfig, progress=print) -> dict:
    """Train (or resume) until `cfg.images` pictures, or `cfg.stop_after` more in this call."""
    governor = ThreadGovernor() if cfg.threads == 0 else None
    torch.set_num_threads(cfg.threads or 2)
    run = Path(cfg.out)
    vlm, model, molecules = setup(cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the same recipe runs on a lent GPU machine
    torch.set_float32_matmul_precision("high")  # TF32 on a GPU; no effect on the CPU
    model.to(device)
    train_set, holdout = molecules["train"], molecules["holdout"][: cfg.eval_size]
    optimiser = torch.optim.AdamW(_param_groups(model, cfg), betas=(0.9, 0.98))
    named = dict(model.named_parameters())  # tied weights appear once
    language_side = [p for n, p in named.items() if _is_language_model(n)]
    vision_side = [p for n, p in named.items() if not _is_language_model(n)]
    step = seen = 0
    state_path = run / "state.pt"
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        for group, fresh in zip(optimiser.param_groups, _param_groups(model, cfg)):
            group["base_lr"] = fresh["base_lr"]  # the rates of this call's settings, not the saved ones
        step, seen = state["step"], state["seen"]
        progress(f"resumed {run} at step {step} ({seen} pictures)")
    elif cfg.init:
        load_checkpoint(model, cfg.init)
        progress(f"started {run} from the weights of {cfg.init}")
    (run / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    batcher = Batcher(vlm, _questions(), cfg.workers, cfg.hand, cfg.degrade)
    limit = cfg.images if cfg.stop_after is None else min(cfg.images, seen + cfg.stop_after)
    next_eval = (seen // cfg.eval_every + 1) * cfg.eval_every
    last_save, began, began_seen = time.monotonic(), time.monotonic(), seen
    deadline = began + cfg.minutes * 60 if cfg.minutes else None
    model.train()

    def plan(step: int):
        """The rng of batch `step` and its drawings, under way while the step before trains."""
        rng = random.Random(f"{cfg.seed}:{step}")
        return rng, batcher.submit([train_set[rng.randrange(len(train_set))] for _ in range(cfg.batch_size)], rng)

    def checkpoint():
        _save(state_path, dict(model=model.state_dict(), optimiser=optimiser.state_dict(), step=step, seen=seen))

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    upcoming, waited = plan(step), 0.0
    while seen < limit:  # and at least one batch, whatever the time budget
        if governor and step % 5 == 0:
            governor.adjust()
        rng, drawings = upcoming
        waiting = time.monotonic()
        drawings = list(drawings)
        waited += time.monotonic() - waiting
        upcoming = plan(step + 1)
        batch = {k: v.to(device, non_blocking=True) for k, v in batcher.batch(drawings, rng).items()}
        done = (time.monotonic() - began) / (deadline - began) if deadline else seen / cfg.images
        scale = _schedule(step, done, cfg)
        for group in optimiser.param_groups:
            group["lr"] = group["base_lr"] * scale
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss, aux = model(batch)
        (loss + cfg.aux_weight * aux).backward()
        # clip the two sides apart, so the large early gradients of the patch loss cannot starve the LLM
        torch.nn.utils.clip_grad_norm_(language_side, 1.0)
        torch.nn.utils.clip_grad_norm_(vision_side, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        step += 1
        seen += len(drawings)
        if step % 20 == 0:
            rate = (seen - began_seen) / max(time.monotonic() - began, 1e-9)
            record = dict(kind="train", step=step, seen=seen, loss=round(loss.item(), 4), aux=round(aux.item(), 4),
                          lr_scale=round(scale, 4), images_per_s=round(rate, 2), threads=torch.get_num_threads(),
                          waiting_for_drawings=round(waited / max(time.monotonic() - began, 1e-9), 3))
            _log(run, record)
            progress(json.dumps(record))
        if seen >= next_eval or seen >= limit or out_of_time():
            checkpoint()
            last_save = time.monotonic()
            result = evaluate(vlm, model, batcher, holdout, seed=cfg.seed, bf16=cfg.bf16)
            next_eval += cfg.eval_every
            _log(run, dict(kind="eval", step=step, seen=seen, **result))
            progress(json.dumps(dict(kind="eval", step=step, seen=seen, **result)))
            model.train()
        elif time.monotonic() - last_save > cfg.save_minutes * 60:
            checkpoint()
            last_save = time.monotonic()
        if out_of_time():
            break
    checkpoint()
    if batcher.pool is not None:
        batcher.pool.shutdown(cancel_futures=True)
    return dict(step=step, seen=seen, run=str(run))


@torch.no_grad()
def evaluate(vlm: ChemVLM, model: MiniModel, batcher: Batcher, holdout: list[str], seed: int = 0,
             batch_size: int = 50, bf16: bool = False) -> dict:
    """Greedy answers on clean hold-out drawings through the real inference path, plus image dependence:
    the answer loss with each picture swapped for another one's, minus the loss with the true pictures."""
    model.eval()
    rng = random.Random(f"holdout:{seed}")
    drawings = batcher.draw(holdout, rng, plain=True)
    started = time.perf_counter()
    question = batcher.questions[0]
    predictions = []
    for i in range(0, len(drawings), batch_size):
        answers = vlm.ask_batch([([d.image], question) for d in drawings[i : i + batch_size]], max_new_tokens=96)
        predictions += [a.text for a in answers]
    seconds = time.perf_counter() - started
    result = summarize_smiles([score_smiles(truth, smiles_of(p)) for truth, p in zip(holdout, predictions)])
    probe = drawings[:64]
    device = vlm.model.device
    batch = {k: v.to(device) for k, v in batcher.batch(probe, random.Random(0)).items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        true_loss, aux = model(batch)
        batch["tiles"] = batch["tiles"].roll(1, dims=0)
        batch["patches"] = batch["patches"].roll(1, dims=0)
        shuffled_loss, _ = model(batch)
    result.update(loss_true=round(true_loss.item(), 4), loss_shuffled=round(shuffled_loss.item(), 4),
                  image_dependence=round(shuffled_loss.item() - true_loss.item(), 4), aux=round(aux.item(), 4),
                  images_per_s_generate=round(len(drawings) / seconds, 2),
                  examples=[dict(true=s, pred=p) for s, p in zip(holdout[:3], predictions[:3])])
    return result


def load_checkpoint(model: MiniModel, path: str | Path) -> None:
    """Weights (and patch head, when saved) of an exported checkpoint, as float32, into `model`."""
    from transformers import InternVLForConditionalGeneration

    path = Path(path)
    if not (path / "config.json").is_file():
        raise MiniConfigError(f"{path}: not a checkpoint directory (no config.json)")
    saved = InternVLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    model.vlm_model.load_state_dict(saved.state_dict())
    load_patch_head(model, path)


def load_patch_head(model: MiniModel, path: str | Path) -> None:
    """The patch head saved beside an exported checkpoint, as float32, when there is one."""
    head = Path(path) / "patch_head.pt"
    if head.is_file():
        model.patch_head.load_state_dict({k: v.float() for k, v in torch.load(head, map_location="cpu").items()})


def export(cfg: MiniConfig, to: str | Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """The run's current weights as a ChemVLM checkpoint (bf16 safetensors, tokenizer, chat settings)."""
    vlm, model, _ = setup(cfg)
    state = torch.load(Path(cfg.out) / "state.pt", weights_only=False, map_location="cpu")
    model.load_state_dict(state["model"])
    vlm.model.to(dtype)
    to = Path(to)
    vlm.save_pretrained(to)
    torch.save({k: v.to(dtype) for k, v in model.patch_head.state_dict().items()}, to / "patch_head.pt")
    return to
