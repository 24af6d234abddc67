"""The build configuration (YAML) as a typed dataclass. Unknown keys, wrong types, out-of-range numbers
and unknown task, language or style-family names are errors naming the file, line and key, before any work."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from chemvlm.data.filters import MoleculeFilter
from chemvlm.data.render import FAMILIES
from chemvlm.data.tasks import LANGUAGES, MOLECULE_TASKS, REACTION_TASKS
from chemvlm.errors import InputError
from chemvlm.jsonl import text_lines


@dataclass
class BuildConfig:
    name: str = "chemvlm_data"  # key in the InternVL meta JSON
    seed: int = 0  # the whole build is a function of this seed and the inputs
    molecules: list[str] = field(default_factory=lambda: ["default"])  # files, "default" (shipped) or "rdkit"
    reactions: list[str] = field(default_factory=lambda: ["default"])
    brics: int = 0  # extra novel molecules made by BRICS recombination of the sources
    max_molecules: int = 0  # 0: all that pass the filters
    max_reactions: int = 0
    samples_per_molecule: int = 1
    samples_per_reaction: int = 1
    filter: dict = field(default_factory=dict)  # MoleculeFilter fields
    holdout: float = 0.05  # share of InChIKey skeletons kept out of training
    benchmark_keys: str | None = None  # key file; None: the shipped list
    benchmarks_dir: str | None = None  # or read keys from benchmark files directly
    tasks: dict = field(default_factory=lambda: {"ocr": 6, "formula": 1, "weight": 1, "rings": 1, "hbond": 1,
                                                 "groups": 1, "lipinski": 1, "describe": 1, "choice": 2})
    reaction_tasks: dict = field(default_factory=lambda: {"reaction": 2, "reactants": 1, "products": 1})
    languages: dict = field(default_factory=lambda: {"en": 1, "zh": 1})
    families: dict = field(default_factory=lambda: {"rdkit": 4, "rdkit-abbrev": 2, "rdkit-hand": 1, "indigo": 3})
    augment: float = 1.0  # degradation strength (0 = clean)
    clean_share: float = 0.2  # share of samples left clean whatever `augment` says
    size: int = 448
    shard_size: int = 1000
    workers: int = 2
    image_format: str = "png"  # png (lossless line art) or jpeg (smaller)
    mix: list[dict] = field(default_factory=list)  # extra InternVL datasets for the meta JSON: {name, annotation, root, repeat_time}

    def molecule_filter(self) -> MoleculeFilter:
        return MoleculeFilter(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.filter.items()})


class ConfigError(InputError, ValueError):
    """A build config that cannot be used; one line naming the file, the line and the key."""


# what each annotation of BuildConfig accepts, and how to say it; bool is refused where a number is meant
_TYPES = {"int": (int, "an integer"), "float": ((int, float), "a number"), "str": (str, "a string"),
          "str | None": ((str, type(None)), "a path or null"), "dict": (dict, "a mapping"),
          "list[str]": (list, "a list of files"), "list[dict]": (list, "a list of mappings")}
_AT_LEAST = {"brics": 0, "max_molecules": 0, "max_reactions": 0, "samples_per_molecule": 0,
             "samples_per_reaction": 0, "augment": 0, "size": 1, "shard_size": 1, "workers": 0}
_WEIGHTS = {"tasks": ("task", MOLECULE_TASKS), "reaction_tasks": ("reaction task", REACTION_TASKS),
            "languages": ("language", LANGUAGES), "families": ("style family", FAMILIES)}


def _key_lines(text: str) -> dict[str, int]:
    """The line of each top-level key, so that a complaint points at it."""
    node = yaml.compose(text)
    return {k.value: k.start_mark.line + 1 for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}


def _check(config: BuildConfig, where) -> None:
    """Refuse wrong types, out-of-range numbers and unknown names before any work starts."""
    for f in fields(BuildConfig):
        value = getattr(config, f.name)
        kinds, wanted = _TYPES[f.type]
        items_ok = not isinstance(value, list) or all(isinstance(v, str if f.type == "list[str]" else dict) for v in value)
        if isinstance(value, bool) or not isinstance(value, kinds) or not items_ok:
            raise ConfigError(f"{where(f.name)}: expected {wanted}, got {value!r:.80}")
        if f.name in _AT_LEAST and value < _AT_LEAST[f.name]:
            raise ConfigError(f"{where(f.name)}: must be at least {_AT_LEAST[f.name]}, got {value!r}")
    if not 0 <= config.holdout < 1:  # a hold-out of everything would leave nothing to train on
        raise ConfigError(f"{where('holdout')}: must be at least 0 and below 1, got {config.holdout!r}")
    if not 0 <= config.clean_share <= 1:
        raise ConfigError(f"{where('clean_share')}: must be between 0 and 1, got {config.clean_share!r}")
    if config.image_format not in ("png", "jpeg"):
        raise ConfigError(f"{where('image_format')}: must be png or jpeg, got {config.image_format!r}")
    used = {"tasks": config.molecules, "reaction_tasks": config.reactions, "languages": True, "families": config.molecules}
    for key, (what, names) in _WEIGHTS.items():
        weights = getattr(config, key)
        unknown = sorted(str(name) for name in set(weights) - set(names))
        if unknown:
            raise ConfigError(f"{where(key)}: unknown {what} {unknown[0]!r}; use {', '.join(names)}")
        if any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights.values()):
            raise ConfigError(f"{where(key)}: weights must be numbers >= 0, got {weights!r:.80}")
        if used[key] and not sum(weights.values()) > 0:
            raise ConfigError(f"{where(key)}: needs at least one {what} with a weight above 0")
    for extra in config.mix:
        if not {"name", "annotation"} <= set(extra):
            raise ConfigError(f"{where('mix')}: each entry needs 'name' and 'annotation', got {extra!r:.80}")
    try:
        config.molecule_filter()
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where('filter')}: {err}") from None


def load_config(path: str | Path) -> BuildConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    text = "".join(line for _, line in text_lines(path, error=ConfigError))  # a bad byte names its line
    try:
        data, lines = yaml.safe_load(text) or {}, _key_lines(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(f"{path}:{mark.line + 1 if mark else '?'}: invalid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    known = {f.name for f in fields(BuildConfig)}
    unknown = sorted(map(str, set(data) - known))
    if unknown:
        raise ConfigError(f"{path}: unknown config keys {unknown}; known keys: {sorted(known)}")
    for key in ("molecules", "reactions"):
        if isinstance(data.get(key), str):  # `molecules: mols.csv` means that one file
            data[key] = [data[key]]
    config = BuildConfig(**data)
    _check(config, lambda key: f"{path}:{lines[key]}: {key}" if key in lines else f"{path}: {key}")
    base = path.parent
    # relative paths in a config are relative to the config file
    resolve = lambda p: p if p in ("default", "rdkit") or Path(p).is_absolute() else str((base / p).resolve())
    config.molecules = [resolve(p) for p in config.molecules]
    config.reactions = [resolve(p) for p in config.reactions]
    for key in ("benchmark_keys", "benchmarks_dir"):
        if getattr(config, key):
            setattr(config, key, resolve(getattr(config, key)))
    return config
