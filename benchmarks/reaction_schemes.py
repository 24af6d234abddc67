"""Reaction image -> reaction SMILES with engines that read one structure per picture.

    python benchmarks/reaction_schemes.py [--reactions FILE] [--n 60] [--cache RUN/molecules.json]

Reactions whose molecules all have <= 20 heavy atoms (1-3 reactants, 1-2 products) are drawn as RDKit schemes
by the data engine (reagents above the arrow where the reaction names them) and read through
`chemvlm.engines.schemes`: the scheme is split at the arrow and plus signs and each molecule read alone.
Scored: the split (molecule counts per side), the whole reaction (reactants>>products as sets of canonical
SMILES; reagents are not read), the products alone, and the molecules one by one. With --cache (the mini
run's molecules.json), a second row per engine covers the reactions none of whose molecules the model
trained on.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import time
from collections import Counter
from pathlib import Path

from rdkit import Chem

from chemvlm.chem.smiles import canonical_smiles
from chemvlm.data.reaction import reaction_label, render_reaction
from chemvlm.data.render import sample_style
from chemvlm.engines import Query, load_engine
from chemvlm.spec import BUNDLED_MODEL
from chemvlm.vision.scheme import split_scheme

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
QUESTION = "What is the reaction shown in this image? Write it as reaction SMILES."
CACHE = ROOT / "benchmarks" / "cache" / "osra"


def small_reactions(path: Path, n: int, max_heavy: int, seed: int = 0) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = [row["rxn_smiles"] for row in csv.DictReader(handle)]
    random.Random(seed).shuffle(rows)
    chosen = []
    for reaction in rows:
        try:
            label = reaction_label(reaction)
        except ValueError:
            continue
        reactants, _, products = label.split(">")
        molecules = [Chem.MolFromSmiles(s) for s in reactants.split(".") + products.split(".")]
        if (1 <= len(reactants.split(".")) <= 3 and 1 <= len(products.split(".")) <= 2
                and all(m is not None and m.GetNumHeavyAtoms() <= max_heavy for m in molecules)):
            chosen.append(label)
        if len(chosen) == n:
            break
    return chosen


def sides(reaction: str) -> tuple[Counter, Counter]:
    if ">" not in reaction:  # no scheme found: the engine read the picture as one structure
        return Counter(), Counter()
    reactants, *_, products = reaction.split(">")
    return tuple(Counter(canonical_smiles(s) or f"?{s}" for s in side.split(".") if s) for side in (reactants, products))


def score(truths: list[str], answers: list[str]) -> dict:
    whole = products = molecules = total = 0
    for truth, answer in zip(truths, answers):
        (tr, tp), (ar, ap) = sides(truth), sides(answer)
        whole += tr == ar and tp == ap
        products += tp == ap
        molecules += sum(((tr & ar) + (tp & ap)).values())
        total += sum(tr.values()) + sum(tp.values())
    n = max(1, len(truths))
    return dict(n=len(truths), reaction=round(100 * whole / n, 1), products=round(100 * products / n, 1),
                molecules=round(100 * molecules / max(1, total), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data" / "reactions.csv.gz"
    parser.add_argument("--reactions", type=Path,
                        default=shared if shared.is_file() else ROOT / "src" / "chemvlm" / "data" / "corpus" / "reactions.csv")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--max-heavy", type=int, default=20)
    parser.add_argument("--cache", type=Path, help="the mini run's molecules.json, for the unseen-molecule rows")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="the structure-reading checkpoint")
    args = parser.parse_args()
    reactions = small_reactions(args.reactions, args.n, args.max_heavy)
    pictures = [render_reaction(r, sample_style(random.Random(i), "rdkit", 448))[0] for i, r in enumerate(reactions)]
    split_right = 0
    for reaction, picture in zip(reactions, pictures):
        scheme = split_scheme(picture)
        truth = sides(reaction)
        split_right += scheme is not None and (len(scheme.reactants), len(scheme.products)) == tuple(
            sum(side.values()) for side in truth)
    seen = set()
    if args.cache:
        seen = {canonical_smiles(s) for s in json.loads(args.cache.read_text())["train"]}
    unseen = [i for i, r in enumerate(reactions) if not (set(sum(sides(r), Counter())) & seen)]
    mini = str(args.model.resolve().relative_to(ROOT)) if args.model.resolve().is_relative_to(ROOT) else str(args.model)
    engines = {"chemvlm-mini": mini, "osra": "osra", "ensemble:osra,chemvlm-mini (default)": f"ensemble:osra,{mini}"}
    rows = []
    for label, spec in engines.items():
        engine = load_engine(spec, **({"cache_dir": CACHE} if "osra" in spec else {}))
        start = time.perf_counter()
        answers = [p.smiles or "" for p in engine.predict([Query(id=str(i), images=[p], question=QUESTION)
                                                     for i, p in enumerate(pictures)])]
        seconds = (time.perf_counter() - start) / len(pictures)
        rows.append((label, "all", score(reactions, answers), seconds))
        if args.cache:
            rows.append((label, "molecules unseen in training", score([reactions[i] for i in unseen],
                                                                       [answers[i] for i in unseen]), None))
        print(rows[-1] if not args.cache else rows[-2:], flush=True)
    lines = [
        "# Reaction schemes: reaction image -> reaction SMILES",
        "",
        f"Measured with `python benchmarks/reaction_schemes.py{' --cache ...' if args.cache else ''}` on 2 CPU cores: "
        f"{len(reactions)} reactions from `{args.reactions.name}` whose molecules all have <= {args.max_heavy} heavy "
        "atoms, drawn as RDKit schemes by the data engine (`data.reaction.render_reaction`, random RDKit style), "
        "read through `engines.schemes` (split at the arrow and plus signs, each molecule read alone; reagents "
        "above the arrow are not read). Exact = the same multiset of canonical SMILES on each side.",
        "",
        f"Split (molecule counts per side right): {split_right} of {len(reactions)}.",
        "",
        "| engine | reactions | n | reaction exact % | products exact % | molecules exact % | seconds / scheme |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, subset, result, seconds in rows:
        lines.append(f"| {label} | {subset} | {result['n']} | {result['reaction']} | {result['products']} | "
                     f"{result['molecules']} | {'' if seconds is None else f'{seconds:.2f}'} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "reaction-schemes.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
