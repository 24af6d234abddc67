"""The build configuration (YAML) as a typed dataclass; unknown keys are errors, not silently ignored."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from chemvlm.data.filters import MoleculeFilter


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


def load_config(path: str | Path) -> BuildConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ValueError(f"{path}:{mark.line + 1 if mark else '?'}: invalid YAML ({getattr(err, 'problem', err)})") from None
    known = {f.name for f in fields(BuildConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown config keys {unknown}; known keys: {sorted(known)}")
    config = BuildConfig(**data)
    base = path.parent
    # relative paths in a config are relative to the config file
    resolve = lambda p: p if p in ("default", "rdkit") or Path(p).is_absolute() else str((base / p).resolve())
    config.molecules = [resolve(p) for p in config.molecules]
    config.reactions = [resolve(p) for p in config.reactions]
    for key in ("benchmark_keys", "benchmarks_dir"):
        if getattr(config, key):
            setattr(config, key, resolve(getattr(config, key)))
    config.molecule_filter()  # fail now on bad filter values
    return config
