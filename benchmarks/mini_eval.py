"""chemvlm-mini against its targets: hold-out accuracy, image dependence, speed.

    python benchmarks/mini_eval.py [CHECKPOINT] [--molecules FILE ...] [--n 500] [--styled 200]

- clean hold-out: molecules whose InChIKey skeleton never reached training (<= 20 heavy atoms), drawn in one
  plain RDKit style; exact canonical SMILES, validity, Tanimoto (the harness's metrics), and image
  dependence: answer loss with every picture swapped for another one's minus the loss with the true ones;
- styled hold-out: the same kind of molecules through the data engine's full styles and degradations
  (rdkit, rdkit-abbrev, rdkit-hand, indigo; augmentation strength 1);
- speed: pictures per second through `ChemVLM.ask_batch`, batch 1 and batch 32, greedy.
Writes benchmarks/results/mini-eval.md. The real-image benchmark is benchmarks/ocsr_real.py --model CHECKPOINT.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import torch

from chemvlm.bench.metrics import score_smiles, summarize_smiles
from chemvlm.chat.vlm import ChemVLM
from chemvlm.chem.smiles import extract_smiles
from chemvlm.data.render import FAMILIES
from chemvlm.data.patches import draw_traced
from chemvlm.data.rows import Row, render_row
from chemvlm.spec import BUNDLED_MODEL
from chemvlm.train.collate import Collator
from chemvlm.train.config import DrawnData
from chemvlm.train.drawn import holdout_drawings, questions, split_molecules
from chemvlm.train.encode import Encoder
from chemvlm.train.patch_loss import PatchSupervised, evaluate_holdout

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
QUESTION = "What is the SMILES of the molecule in this image?"


def clean_holdout(vlm: ChemVLM, checkpoint: Path, holdout: list[str]) -> dict:
    """The training recipe's own hold-out check (train.patch_loss.evaluate_holdout) on the checkpoint."""
    model = PatchSupervised(vlm.model, {"answer": 1.0, "patch_classes": 1.0})
    model.load_head(checkpoint)
    vision = vlm.model.config.vision_config
    drawings = holdout_drawings(holdout, 0, vision.image_size[0], vision.patch_size[0])
    collator = Collator(vlm.tokenizer.pad_token_id, 2048, packing=False)
    return evaluate_holdout(vlm, model, Encoder.for_vlm(vlm, 2048), collator, drawings, holdout, questions())


def styled(vlm: ChemVLM, smiles: list[str]) -> dict:
    rows = [Row(id=str(i), smiles=s, task="ocr", lang="en", family=FAMILIES[i % len(FAMILIES)], seed=i, augment=1.0)
            for i, s in enumerate(smiles)]
    drawn = [render_row(row) for row in rows]
    truths = [sample["meta"]["label"] for _, sample in drawn]
    predictions = []
    for i in range(0, len(drawn), 32):
        predictions += [a.text for a in vlm.ask_batch([([img], QUESTION) for img, _ in drawn[i : i + 32]], max_new_tokens=96)]
    scores = [score_smiles(t, extract_smiles(p)) for t, p in zip(truths, predictions)]
    result = {"all": summarize_smiles(scores)}
    for family in FAMILIES:
        result[family] = summarize_smiles([s for s, r in zip(scores, rows) if r.family == family])
    return result


def speed(vlm: ChemVLM, images: list, rounds: int = 3) -> dict:
    out = {}
    for batch in (1, 32):
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            for i in range(0, len(images), batch):
                vlm.ask_batch([([img], QUESTION) for img in images[i : i + batch]], max_new_tokens=96)
            rates.append(len(images) / (time.perf_counter() - start))
        out[f"batch {batch}"] = round(statistics.median(rates), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=str(BUNDLED_MODEL))
    parser.add_argument("--molecules", action="append",
                        help="molecule files to take the hold-out from (default: ../shared/data/molecules.csv.gz "
                             "and the bundled corpus, as the shipped model was trained)")
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / "cache" / "mini-molecules.json"))
    parser.add_argument("--n", type=int, default=500, help="clean hold-out pictures")
    parser.add_argument("--styled", type=int, default=200, help="styled hold-out pictures")
    args = parser.parse_args()
    torch.set_num_threads(2)
    sources = args.molecules or [str(ROOT.parent / "shared" / "data" / "molecules.csv.gz"),
                                 str(ROOT / "src" / "chemvlm" / "data" / "corpus" / "molecules.csv")]
    holdout = split_molecules(DrawnData(molecules=sources, max_heavy=20, holdout=0.02), Path(args.cache))["holdout"]
    vlm = ChemVLM.from_pretrained(args.checkpoint)
    clean = clean_holdout(vlm, Path(args.checkpoint), holdout[: args.n])
    style = styled(vlm, holdout[args.n : args.n + args.styled])
    rng, tile = random.Random(1), vlm.processor.tile_size
    pictures = [draw_traced(s, random.Random(rng.getrandbits(64)), tile, plain=True).image for s in holdout[:64]]
    rates = speed(vlm, pictures)
    params = sum(p.numel() for p in vlm.model.parameters())
    size = sum(f.stat().st_size for f in Path(args.checkpoint).glob("*.safetensors"))
    lines = [
        "# chemvlm-mini: hold-out accuracy, image dependence, speed",
        "",
        f"Checkpoint `{os.path.relpath(args.checkpoint, ROOT)}`: {params:,} parameters, {size / 2**20:.1f} MiB of"
        f" safetensors. Measured with `python benchmarks/mini_eval.py` on {os.cpu_count()} CPU cores,"
        " float32, greedy decoding. Hold-out: InChIKey skeletons never trained on, <= 20 heavy atoms.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| clean hold-out exact canonical SMILES (n={clean['n']}) | {clean['exact']} % | >= 50 % |",
        f"| clean hold-out Tanimoto@1.0 / avg Tanimoto | {clean['tanimoto@1.0']} % / {clean['avg_similarity']} % | |",
        f"| clean hold-out valid SMILES | {clean['validity']} % | |",
        f"| image dependence (loss shuffled {clean['loss_shuffled']} - true {clean['loss_true']}) |"
        f" {clean['image_dependence']} nats/token | >= 0.3 |",
        f"| styled hold-out Tanimoto@1.0 (n={style['all']['n']}) | {style['all']['tanimoto@1.0']} % | moonshot >= 90 % |",
        f"| styled hold-out exact / valid | {style['all']['exact']} % / {style['all']['validity']} % | |",
        *[f"| styled, {f}: exact / Tanimoto@1.0 (n={style[f]['n']}) | {style[f]['exact']} % /"
          f" {style[f]['tanimoto@1.0']} % | |" for f in FAMILIES],
        f"| speed, batch 32 | {rates['batch 32']} pictures/s | >= 10 |",
        f"| speed, batch 1 | {rates['batch 1']} pictures/s | |",
        "",
        "Examples (truth -> answer): " + "; ".join(f"`{e['true']}` -> `{e['pred']}`" for e in clean["examples"]),
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mini-eval.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(json.dumps(dict(clean=clean, styled=style, speed=rates)))


if __name__ == "__main__":
    main()
