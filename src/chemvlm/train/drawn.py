"""Rows drawn while training: molecules -> traced drawings with patch labels, an OCR question and its SMILES.

The small-model recipe (configs/train/mini.yaml) trains on these instead of a built data set. Molecules are
filtered, deduplicated and decontaminated by the data engine and split by InChIKey skeleton (cached in the run
folder as molecules.json). Row i is the (i mod B)-th picture of optimizer step i // B: the step's seed picks
its molecules, then their drawing seeds, then their questions, so a run draws the same pictures whatever its
data-loader workers, and a resumed run draws exactly those it would have drawn.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from chemvlm.data.decontam import Decontaminator, read_keys
from chemvlm.data.filters import Deduplicator, MoleculeFilter
from chemvlm.data.patches import draw_traced
from chemvlm.data.sources import SourceReport, read_file
from chemvlm.data.split import skeleton_key, split_of
from chemvlm.data.tasks import templates
from chemvlm.model.tokenizer import build_tokenizer
from chemvlm.train.config import ConfigError, DrawnData


def questions() -> list[str]:
    """The OCR questions of both languages, in a fixed order."""
    return [q for lang in ("en", "zh") for q in templates(lang)["ocr"]["questions"]]


def split_molecules(data: DrawnData, cache: Path | None = None) -> dict:
    """{"train": [...], "holdout": [...], "report": {...}}: canonical SMILES with <= max_heavy heavy atoms."""
    settings = {"sources": [Path(s).name for s in data.molecules], "max_heavy": data.max_heavy, "holdout": data.holdout}
    if cache is not None and cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("settings", settings) == settings:  # lists made by other settings are made again
            return cached
    for source in data.molecules:
        if not Path(source).is_file():
            raise ConfigError(f"{source}: no such molecule file")
    keep = MoleculeFilter(min_heavy=2, max_heavy=data.max_heavy, max_fragments=1)
    clean, seen = Decontaminator(read_keys()), Deduplicator()
    sides: dict[str, list[str]] = {"train": [], "holdout": []}
    report, rejected = SourceReport(), 0
    for source in data.molecules:
        for entry in read_file(source, report):
            if entry.smiles.count(">") == 2:
                continue  # reactions are not molecules
            smiles, _ = keep.apply(entry.smiles)
            if smiles is None:
                rejected += 1
            elif seen.first(smiles) and clean.is_clean(smiles):
                sides[split_of(skeleton_key(smiles), data.holdout)].append(smiles)
    result = {**sides, "settings": settings,
              "report": {"read": report.read, "bad_rows": report.bad_count, "filtered_out": rejected,
                         "decontaminated": clean.removed, "train": len(sides["train"]), "holdout": len(sides["holdout"])}}
    if not sides["train"] or not sides["holdout"]:
        raise ConfigError(f"{', '.join(data.molecules)}: too few molecules with <= {data.max_heavy} heavy atoms ({result['report']})")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result))
    return result


def smiles_tokenizer(smiles: list[str], system_message: str, vocab_size: int):
    """SMILES-aware BPE trained on the question and answer templates of both languages and on SMILES."""
    corpus = []
    for lang in ("en", "zh"):
        for task in templates(lang).values():
            if isinstance(task, dict):
                corpus += [str(t) for key in ("questions", "answers") for t in task.get(key, [])]
    corpus += [system_message] + smiles
    return build_tokenizer(corpus, system_message, vocab_size=vocab_size, smiles_aware=True)


class TracedPictures:
    """`render(i) -> (image, sample)` for train.data.LazyRows: row i of a run drawing `per_step` pictures a step."""

    def __init__(self, molecules: list[str], data: DrawnData, seed: int, per_step: int, tile: int, patch: int):
        self.molecules, self.data, self.seed, self.per_step = molecules, data, seed, per_step
        self.tile, self.patch = tile, patch
        self.questions = questions()

    def plan(self, index: int) -> tuple[str, int, str]:
        """(SMILES, drawing seed, question) of row `index`."""
        step, k = divmod(index, self.per_step)
        rng = random.Random(f"{self.seed}:{step}")
        picks = [rng.randrange(len(self.molecules)) for _ in range(self.per_step)]
        seeds = [rng.getrandbits(64) for _ in range(self.per_step)]
        asked = [rng.randrange(len(self.questions)) for _ in range(self.per_step)]
        return self.molecules[picks[k]], seeds[k], self.questions[asked[k]]

    def __call__(self, index: int):
        smiles, seed, question = self.plan(index)
        drawing = draw_traced(smiles, random.Random(seed), self.tile, self.patch, hand=self.data.hand,
                              degrade_strength=self.data.degrade)
        return drawing.image, traced_sample(f"drawn-{index}", question, drawing)


def traced_sample(sample_id: str, question: str, drawing) -> dict:
    return {"id": sample_id, "patch_classes": drawing.patches,
            "conversations": [{"from": "human", "value": "<image>\n" + question},
                              {"from": "gpt", "value": drawing.target}]}


def encode_traced(encoder, sample_id: str, question: str, drawing):
    """A drawing's training sample (train.encode.Sample): picture, question, traced SMILES, patch classes."""
    import torch

    sample = encoder.encode(sample_id, traced_sample(sample_id, question, drawing)["conversations"], [drawing.image], 1)
    sample.patch_classes = torch.as_tensor(drawing.patches)
    return sample


def holdout_drawings(holdout: list[str], seed: int, tile: int, patch: int) -> list:
    """Clean drawings of the hold-out molecules, the same for every evaluation of a run."""
    rng = random.Random(f"holdout:{seed}")
    return [draw_traced(s, random.Random(rng.getrandbits(64)), tile, patch, plain=True) for s in holdout]
