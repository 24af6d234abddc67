"""The graph head's learning curve from a training run's log (configs/train/graph.yaml): exact SMILES on the
drawn and the real hold-out checks, the graph loss and the pictures seen, per evaluation.

    python benchmarks/graph_curve.py runs/graph [--out benchmarks/results/graph-curve.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def curve(run: Path) -> list[dict]:
    rows, losses, batch = [], [], 16
    config = run / "run.json"
    if config.is_file():
        batch = json.loads(config.read_text()).get("per_device_batch", batch)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "graph-curve.md")
    args = parser.parse_args()
    rows = curve(args.run)
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
        f"check sets: {sizes} hold-out drawings, exact canonical SMILES of the head's graph).", "", *lines, ""])
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
