"""Training configuration as data: a YAML file read into typed dataclasses, with one-line errors.

A run config names the model, the data, the stage policy (a shipped stage such as `stage1`, optionally with
overrides) and the engine settings. Stage policies say, per component, whether it is frozen, trained
through LoRA, or trained in full.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from chemvlm.errors import InputError

STAGE_DIR = Path(__file__).parent / "stages"
MODES = ("frozen", "lora", "full")
PARTS = ("vision", "projector", "llm", "patch_head", "graph_head")  # what learning-rate groups and clipping tell apart
LOSSES = ("answer", "patch_classes", "graph")


class ConfigError(InputError, ValueError):
    """A config that cannot be used; the message is one line naming the file and the key."""


@dataclass
class Component:
    """How one part of the model (vision tower, projector, LLM) is trained."""

    mode: str = "frozen"  # frozen | lora | full
    r: int = 16  # LoRA rank
    alpha: int | None = None  # None: 2·r (InternVL's convention)
    dropout: float = 0.05  # LoRA dropout (InternVL's default)
    targets: list[str] | None = None  # LoRA target layer names; None: the component's defaults (lora.py)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "lora" and self.r < 1:
            raise ConfigError(f"LoRA rank must be >= 1, not {self.r}")

    @property
    def lora_alpha(self) -> int:
        return self.alpha if self.alpha is not None else 2 * self.r


@dataclass
class Optimizer:
    lr: float = 5e-5
    lr_groups: dict = field(default_factory=dict)  # {part: lr} for parts (PARTS) that learn at another rate
    # any transformers scheduler name, or "cosine_floor": linear warm-up times a cosine down to min_lr_rate,
    # over the steps or, with a time budget, over the budget, whichever is further along
    schedule: str = "cosine"
    warmup_ratio: float = 0.03  # a share of all steps; 1 or more: a number of steps
    min_lr_rate: float = 0.0  # cosine_floor's end, as a share of the peak rate
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0  # on matrices other than embeddings
    max_grad_norm: float = 1.0
    clip_per_part: bool = False  # clip the LLM's gradients and the rest's apart, each to max_grad_norm

    def __post_init__(self):
        unknown = sorted(set(self.lr_groups) - set(PARTS))
        if unknown:
            raise ConfigError(f"lr_groups: unknown part {unknown[0]!r} (parts: {', '.join(PARTS)})")
        self.lr_groups = {k: _check(v, float, f"lr_groups.{k}") for k, v in self.lr_groups.items()}


@dataclass
class StagePolicy:
    name: str = "custom"
    vision: Component = field(default_factory=Component)
    projector: Component = field(default_factory=lambda: Component(mode="full"))
    llm: Component = field(default_factory=Component)
    optimizer: Optimizer = field(default_factory=Optimizer)


@dataclass
class DrawnData:
    """Pictures drawn while training from molecule files (train.drawn), instead of a built data set."""

    molecules: list = field(default_factory=list)  # molecule files (CSV with a smiles column, .smi)
    max_heavy: int = 20
    holdout: float = 0.02  # share of InChIKey skeletons kept out of training, for the evaluation
    hand: float = 0.0  # share of hand-drawn-looking pictures
    degrade: float = 0.0  # strength of the scan degradations (0: clean drawings)
    eval_size: int = 200  # hold-out molecules evaluated every eval.every_steps
    graph_size: int = 448  # side of the tile the graph head reads (the `graph` loss)
    real: list = field(default_factory=list)  # real drawings with MOL files (folders with labels.csv), graph loss
    real_share: float = 0.0  # share of a step's pictures taken from `real`


@dataclass
class DataConfig:
    meta: str = ""  # InternVL meta JSON: {name: {root, annotation, repeat_time, length, max_dynamic_patch?}}
    drawn: DrawnData = field(default_factory=DrawnData)  # used when it names molecule files
    context_length: int = 2048  # tokens per sample (the paper's 2048); images get fewer tiles to fit
    max_dynamic_patch: int = 12  # tiles per image unless the meta JSON says otherwise for a dataset
    packing: bool = True  # several samples per row, attention kept within each sample
    group_by_length: bool = True  # batches of similar length: less padding, tighter packing
    num_workers: int = 0  # data-loader processes


@dataclass
class EvalConfig:
    hook: str = ""  # "module:function", called as function(model, tokenizer, step) -> {metric: value}
    every_steps: int = 0  # 0: only at the end


@dataclass
class TrainConfig:
    model: str  # preset name (random weights, e.g. `tiny`) or a checkpoint directory
    output_dir: str
    data: DataConfig = field(default_factory=DataConfig)
    stage: StagePolicy = field(default_factory=StagePolicy)
    seed: int = 0
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_batch: int = 4  # samples per device per step (the paper: 4)
    grad_accum: int = 4  # the paper: 4 (16 GPUs x 4 x 4 = 256 samples per optimizer step)
    save_steps: int = 500
    save_total_limit: int | None = None
    logging_steps: int = 10
    bf16: str | bool = "auto"  # auto: when a GPU supports it
    gradient_checkpointing: bool = False
    deepspeed: str | None = None  # a DeepSpeed JSON config (configs/train/zero3.json)
    eval: EvalConfig = field(default_factory=EvalConfig)
    losses: dict = field(default_factory=lambda: {"answer": 1.0})  # {component (LOSSES): weight}
    vocab_size: int = 0  # a preset trained from scratch: size of the SMILES-aware tokenizer trained for it
    minutes: float = 0.0  # wall-clock budget of one call (0: none); the run stops and saves when it is spent
    threads: int = 0  # torch CPU threads (0: torch's default); `adapt_threads` then starts from this
    adapt_threads: bool = False  # on a CPU: two threads, or one while another process keeps a core busy
    merged_dtype: str = "float32"  # dtype of OUTPUT/merged (bfloat16 halves a from-scratch model's files)
    image_processor: dict = field(default_factory=dict)  # changes to the model's processor, saved with the run

    def __post_init__(self):
        unknown = sorted(set(self.losses) - set(LOSSES))
        if unknown:
            raise ConfigError(f"losses: unknown component {unknown[0]!r} (components: {', '.join(LOSSES)})")
        if self.merged_dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"merged_dtype: float32 or bfloat16, not {self.merged_dtype!r}")


def _sub(where: str, key: str) -> str:
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"  # "run.yaml: data.meta"


def _check(value, kind, where: str):
    if kind is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)  # YAML reads 5e-5 (no dot) as a string
        except ValueError:
            pass
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _build(cls, data, where: str):
    """Instantiate dataclass `cls` from a mapping, refusing unknown keys (typos are the common mistake)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where.rstrip(':')}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where.rstrip(':')}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    values = {}
    for key, value in data.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            value = _build(kind, value, _sub(where, key))
        elif typing.get_origin(kind) is tuple:
            value = _check(tuple(value) if isinstance(value, (list, tuple)) else value, tuple, _sub(where, key))
        elif kind in (int, float, bool, str):
            value = _check(value, kind, _sub(where, key))
        values[key] = value
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{where.rstrip(':')}: {err}") from None
    except TypeError as err:
        raise ConfigError(f"{where.rstrip(':')}: {err}") from None


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def stage_names() -> list[str]:
    return sorted(p.stem for p in STAGE_DIR.glob("*.yaml"))


def load_stage(spec, where: str = "stage") -> StagePolicy:
    """`stage1`, a path to a policy YAML, or a mapping {base: stage1, llm: {...}} of overrides."""
    if isinstance(spec, str):
        spec = {"base": spec}
    spec = dict(spec or {})
    base = spec.pop("base", None)
    data = {}
    if base:
        path = STAGE_DIR / f"{base}.yaml" if (STAGE_DIR / f"{base}.yaml").is_file() else Path(base)
        if not path.is_file():
            raise ConfigError(f"{where}: unknown stage {base!r} (shipped: {', '.join(stage_names())}, or a YAML path)")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _build(StagePolicy, _merge(data, spec), where)


def load_config(path: str | Path, **overrides) -> TrainConfig:
    """Read a run config; `overrides` (e.g. max_steps=10) replace top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{line} not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    data.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("model", "output_dir"):
        if not data.get(key):
            raise ConfigError(f"{path}: missing required key {key!r}")
    stage = load_stage(data.pop("stage", None), f"{path}: stage")  # nested keys: "run.yaml: stage.llm"
    config = _build(TrainConfig, data, f"{path}:")
    config.stage = stage
    if not config.data.meta and not config.data.drawn.molecules:
        raise ConfigError(f"{path}: data.meta must name an InternVL meta JSON (or data.drawn.molecules molecule files)")
    return config
