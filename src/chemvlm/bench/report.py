"""Markdown tables and a bar chart of scored runs (`chemvlm report DIR...`)."""

from __future__ import annotations

import json
from pathlib import Path

from chemvlm.bench.items import BenchFileError

COLUMNS = {  # kind: [(key in the summary, column header)]
    "smiles": [("n", "n"), ("skipped", "invalid truth"), ("avg_similarity", "avg Tanimoto %"),
               ("tanimoto@1.0", "Tanimoto@1.0 %"), ("exact", "exact %"), ("exact_nostereo", "no-stereo %"),
               ("inchi", "InChI %"), ("validity", "valid %")],
    "choice": [("n", "n"), ("accuracy", "accuracy %"), ("unparseable", "unparseable")],
    "free": [("n", "n"), ("accuracy", "judged correct %"), ("unjudged", "unjudged")],
}
HEADLINE = {"smiles": "tanimoto@1.0", "choice": "accuracy", "free": "accuracy"}
TITLES = {"smiles": "Chemical OCR", "choice": "Multiple choice", "free": "Free-form (LLM judge)"}


def _cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def groups(section: dict) -> list[tuple[str, dict]]:
    """("all" | subset | language, summary) rows of one kind's section."""
    rows = [("all", section["overall"])]
    rows += [(name, summary) for name, summary in section.get("by_subset", {}).items()]
    rows += [(f"lang {name}", summary) for name, summary in section.get("by_language", {}).items()]
    return rows


def _table(kind: str, rows: list[tuple[list[str], dict]], lead: list[str]) -> str:
    columns = COLUMNS[kind]
    lines = ["| " + " | ".join(lead + [header for _, header in columns]) + " |",
             "|" + "---|" * (len(lead) + len(columns))]
    for labels, summary in rows:
        if "note" in summary:
            lines.append("| " + " | ".join(labels + [_cell(summary.get("n")), summary["note"]]) + " |")
            continue
        lines.append("| " + " | ".join(labels + [_cell(summary.get(key)) for key, _ in columns]) + " |")
    return "\n".join(lines)


def run_markdown(result: dict) -> str:
    """The scores of one run, a table per kind of question."""
    out = [f"# {result.get('model', '?')} on {result.get('bench', '?')}", "",
           f"{result['answered']} of {result['items']} items answered, {result['errors']} with errors.", ""]
    for kind in COLUMNS:
        if kind in result:
            out += [f"## {TITLES[kind]}", "", _table(kind, [([g], s) for g, s in groups(result[kind])], ["group"]), ""]
    return "\n".join(out)


def load_run(path: str | Path) -> dict:
    path = Path(path)
    scores = path if path.suffix == ".json" else path / "scores.json"
    if not scores.is_file():
        raise BenchFileError(f"{scores}: no such file (run `chemvlm eval` or `chemvlm score` first)")
    try:
        return json.loads(scores.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BenchFileError(f"{scores}:{err.lineno}: not valid JSON ({err.msg})") from None


def system_name(result: dict, several_benches: bool) -> str:
    name = str(result.get("model") or result.get("name") or "?")
    return f"{name} ({result.get('bench')})" if several_benches else name


def compare_markdown(results: list[dict]) -> str:
    """One table per kind of question, the systems side by side within each group."""
    several = len({r.get("bench") for r in results}) > 1
    out = []
    for kind in COLUMNS:
        having = [r for r in results if kind in r]
        if not having:
            continue
        rows, order = [], []
        for result in having:
            for group, summary in groups(result[kind]):
                if group not in order:
                    order.append(group)
                rows.append((group, [group, system_name(result, several)], summary))
        rows.sort(key=lambda row: order.index(row[0]))  # stable: systems stay in the given order
        out += [f"### {TITLES[kind]}", "", _table(kind, [(labels, s) for _, labels, s in rows], ["group", "system"]), ""]
    return "\n".join(out)


def bar_chart(results: list[dict], path: str | Path, kind: str | None = None) -> Path:
    """A grouped bar chart of the headline metric (Tanimoto@1.0 or accuracy) per group and system."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import numpy as np

    kind = kind or next((k for k in COLUMNS if any(k in r for r in results)), None)
    having = [r for r in results if kind and kind in r and "note" not in r[kind]["overall"]]
    if not having:
        raise BenchFileError("nothing to plot: no scored run among the inputs")
    several = len({r.get("bench") for r in having}) > 1
    names = [g for g, _ in groups(having[0][kind])]
    x = np.arange(len(names))
    width = 0.8 / len(having)
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(names) * max(1, len(having) / 2)), 4))
    for index, result in enumerate(having):
        summaries = dict(groups(result[kind]))
        values = [summaries.get(name, {}).get(HEADLINE[kind], 0.0) for name in names]
        bars = axes.bar(x + index * width - 0.4 + width / 2, values, width, label=system_name(result, several))
        axes.bar_label(bars, fmt="%.0f", fontsize=7)
    axes.set_xticks(x, names)
    axes.set_ylim(0, 105)
    axes.set_ylabel(f"{HEADLINE[kind]} (%)")
    axes.set_title(TITLES[kind])
    axes.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
