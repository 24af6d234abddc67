"""Score Debian's osra on the 300 real patent images of ocsr-real with the harness's own metrics.

    python benchmarks/ocsr_real.py [--data ../shared/benchmarks] [--workers 2] [--model SPEC ...]

Runs `chemvlm eval` for each model (resumable: an interrupted run continues where it stopped), then
writes benchmarks/results/ocsr-real.md with the table and ocsr-real.png with the chart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path

from chemvlm.bench.report import bar_chart, compare_markdown
from chemvlm.bench.runner import run_eval
from chemvlm.engines.registry import takes
from chemvlm.record import read_predictions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def osra_version() -> str:
    try:
        done = subprocess.run(["osra", "--version"], capture_output=True, text=True, timeout=30)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CHEMVLM_BENCH_DIR", "../shared/benchmarks"))
    parser.add_argument("--model", action="append", help="model spec (repeatable); default: osra")
    parser.add_argument("--workers", type=int, default=2, help="osra processes at once (one per free core)")
    args = parser.parse_args()
    os.chdir(ROOT)  # image paths in the committed run files stay relative to the repository
    results, timing = [], []
    for model in args.model or ["osra"]:
        out = RESULTS / f"ocsr-real-{model.replace(':', '_').replace('/', '_')}"
        timeout = 120 if "timeout" in takes(model) else None  # osra's, per item; a local model has none
        result = run_eval("ocsr-real", model, out, data=args.data, workers=args.workers, timeout=timeout)
        results.append(result)
        seconds = [p.seconds for p in read_predictions(out / "predictions.jsonl")]
        timing.append((model, statistics.median(seconds), sum(seconds)))
    chart = bar_chart(results, RESULTS / "ocsr-real.png")
    lines = [
        "# ocsr-real: 300 real patent images (CLEF-2012, JPO, USPTO; 100 each)",
        "",
        "Measured with `python benchmarks/ocsr_real.py` through the evaluation harness (`chemvlm eval --bench"
        " ocsr-real`). ChemOCR metrics as the ChemVLM paper computes them (RDKit `RDKFingerprint` Tanimoto, an"
        " invalid prediction scores 0, an invalid truth is skipped), plus exact canonical SMILES with stereo,"
        " without stereo, Standard InChI equality and validity, all in % of the scored items. Prompts alternate"
        " zh/en (the paper's ChemOCR prompts); a recognition-only engine ignores them.",
        "",
        compare_markdown(results),
        f"![ocsr-real]({chart.name})",
        "",
        f"Invalid truths (skipped): {results[0]['smiles']['overall']['skipped']} CLEF labels whose molfiles RDKit"
        f" cannot sanitise. {results[0]['smiles']['overall']['markush']} further CLEF labels are Markush structures"
        " (`*` atoms); RDKit parses them, so they are scored as the paper would. Percentages are of the scored"
        " items: CLEF's 90.72 % exact is 88 of 97.",
        "",
        "| system | median s / image | total s |",
        "|---|---|---|",
        *[f"| {model} | {median:.2f} | {total:.0f} |" for model, median, total in timing],
        "",
        f"osra: `{osra_version()}`, {args.workers} processes at once on {platform.machine()} with"
        f" {os.cpu_count()} visible cores shared with other work, so timings are indicative only.",
        "ocsr-real's own CSV (osra 2.1.3, exact canonical SMILES: CLEF 88, USPTO 87, JPO 59 of 100) used"
        " Morgan fingerprints for its Tanimoto; the numbers above are recomputed by the harness.",
        "",
        "Data: GitHub Kohulan/OCSR_Review (MIT, (c) 2020 Kohulan Rajan), the benchmark of Rajan et al.,"
        " J Cheminform 12:60 (2020). No ChemVLM checkpoint is available on this machine, so no ChemVLM row.",
        "",
    ]
    (RESULTS / "ocsr-real.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(json.dumps([r["smiles"]["overall"] for r in results]))


if __name__ == "__main__":
    main()
