"""The graph head's learning curve from a training run's log (configs/train/graph.yaml): exact SMILES on the
drawn and the real hold-out checks, the graph loss and the pictures seen, per evaluation.

    python benchmarks/graph_curve.py runs/graph [--config configs/train/graph.yaml] [--recheck]
        [--out benchmarks/results/graph-curve.md]

--recheck also reads the run's kept checkpoints (and the starting model, step 0) on the same check sets with
today's evaluation (train.patch_loss.evaluate_graphs: atoms and bonds found as well as whole molecules).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def curve(run: Path, batch: int) -> list[dict]:
    rows, losses = [], []
    for line in (run / "log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "graph" in entry:
            losses.append((entry["step"], entry["graph"], entry.get("images_per_second")))
        if "eval/drawn_exact" in entry:
            recent = [loss for step, loss, _ in losses if entry["step"] - 100 < step <= entry["step"]]
            speed = [s for step, _, s in losses if s and entry["step"] - 100 < step <= entry["step"]]
            rows.append({"step": entry["step"], "pictures": entry["step"] * batch,
                         "loss": sum(recent) / len(recent) if recent else float("nan"),
                         "per_second": sum(speed) / len(speed) if speed else float("nan"),
                         **{k.split("/", 1)[1]: v for k, v in entry.items() if k.startswith("eval/")}})
    return rows


def recheck(run: Path, config_path: Path) -> list[dict]:
    import json as _json

    from chemvlm.chat.vlm import ChemVLM
    from chemvlm.model.graph_head import GraphHead
    from chemvlm.train.config import load_config
    from chemvlm.train.drawn import graph_holdout
    from chemvlm.train.patch_loss import PatchSupervised, evaluate_graphs

    config = load_config(str(config_path))
    drawn = config.data.drawn
    molecules = _json.loads((run / "molecules.json").read_text())
    real = _json.loads((run / "real.json").read_text()) if (run / "real.json").is_file() else {"holdout": []}
    checks = graph_holdout(molecules["holdout"][: drawn.eval_size], real["holdout"][: drawn.eval_size], drawn, config.seed)
    points = [(0, Path(config.model))] + sorted((int(p.name.split("-")[1]), p) for p in run.glob("checkpoint-*"))
    rows = []
    for step, path in points:
        vlm = ChemVLM.from_pretrained(path)
        model = PatchSupervised(vlm.model, {"graph": 1.0}, drawn.graph_size)
        head = GraphHead.load(path, vlm.model.config.vision_config.hidden_size)
        if head is not None:
            model.graph_head = head
        result = evaluate_graphs(model, checks, vlm.processor.single_ink_tile(drawn.graph_size))
        rows.append({"step": step, **result})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "graph-curve.md")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "train" / "graph.yaml")
    parser.add_argument("--recheck", action="store_true")
    args = parser.parse_args()
    from chemvlm.train.config import load_config

    rows = curve(args.run, load_config(str(args.config)).per_device_batch)
    extra = []
    if args.recheck:
        checked = recheck(args.run, args.config)
        extra = ["", "Kept checkpoints read again (step 0: the starting model with a fresh head):", "",
                 "| step | set | exact % | no molecule % | atoms found (recall) % | atoms right (precision) % | bonds found % |",
                 "|---|---|---|---|---|---|---|"]
        for r in checked:
            for name in ("drawn", "real"):
                if f"{name}_n" in r:
                    extra.append(f"| {r['step']} | {name} ({r[name + '_n']}) | {100 * r[name + '_exact']:.1f} | "
                                 f"{100 * r[name + '_invalid']:.1f} | {100 * r[name + '_atom_recall']:.1f} | "
                                 f"{100 * r[name + '_atom_precision']:.1f} | {100 * r[name + '_bond_recall']:.1f} |")
    lines = ["| step | pictures | graph loss (last 100 steps) | pictures/s | drawn hold-out exact % | drawn no molecule % | real hold-out exact % | real no molecule % |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['pictures']:,} | {r['loss']:.3f} | {r['per_second']:.2f} | "
                     f"{100 * r.get('drawn_exact', 0):.1f} | {100 * r.get('drawn_invalid', 0):.1f} | "
                     f"{100 * r.get('real_exact', 0):.1f} | {100 * r.get('real_invalid', 0):.1f} |")
    sizes = f"{rows[-1].get('drawn_n', '?')} drawn, {rows[-1].get('real_n', '?')} real" if rows else "none"
    text = "\n".join([
        "# Graph head: learning curve", "",
        f"Measured with `python benchmarks/graph_curve.py {args.run}` from the run's log (configs/train/graph.yaml; "
        f"check sets: {sizes} hold-out drawings, exact canonical SMILES of the head's graph).", "", *lines, *extra, ""])
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
