"""Rebuild the default corpus shipped in this folder from the full corpora (run once, by hand):

    python -m chemvlm.data.corpus.make /path/to/shared/data /path/to/shared/benchmarks

Keeps only sources whose terms allow redistribution with attribution (MoleculeNet US-government,
public-domain and journal sets, USPTO-50K reactions from the training split), applies the default
filter, removes benchmark molecules, and samples a fixed number by hash (so reruns give the same files).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

from chemvlm.data.decontam import Decontaminator, keys_from_benchmarks, write_keys
from chemvlm.data.filters import Deduplicator, MoleculeFilter
from chemvlm.data.sources import read_file

HERE = Path(__file__).parent
MOLECULE_SOURCES = ("moleculenet-freesolv", "moleculenet-esol", "moleculenet-bbbp", "moleculenet-clintox",
                    "moleculenet-bace", "moleculenet-tox21", "moleculenet-hiv", "moleculenet-muv")
N_MOLECULES, N_STEREO, N_REACTIONS = 3000, 400, 1000


def _rank(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def main(data: Path, benchmarks: Path) -> None:
    keys = keys_from_benchmarks(benchmarks)
    write_keys(keys, HERE / "benchmark_keys.txt")
    clean, dedup, keep = Decontaminator(keys), Deduplicator(), MoleculeFilter()
    molecules = []
    for entry in read_file(data / "molecules.csv.gz"):
        first = entry.source.split("|")[0]
        if first not in MOLECULE_SOURCES:
            continue
        canonical, _ = keep.apply(entry.smiles)
        if canonical and dedup.first(canonical) and clean.is_clean(canonical):
            molecules.append((canonical, first, entry.name))
    stereo = sorted((m for m in molecules if "@" in m[0] or "/" in m[0]), key=lambda m: _rank(m[0]))[:N_STEREO]
    named = sorted((m for m in molecules if m[2] and m not in stereo), key=lambda m: _rank(m[0]))[:600]
    rest = sorted((m for m in molecules if m not in stereo and m not in named), key=lambda m: _rank(m[0]))
    chosen = sorted(stereo + named + rest[: N_MOLECULES - len(stereo) - len(named)], key=lambda m: _rank(m[0]))
    with open(HERE / "molecules.csv", "w", encoding="utf-8") as out:
        out.write("smiles,source,name\n")
        for smiles, source, name in chosen:
            out.write(f'{smiles},{source},"{name}"\n' if "," in name else f"{smiles},{source},{name}\n")
    reactions = [e for e in read_file(data / "reactions.csv.gz") if e.source.endswith("-train")]
    reactions = [e for e in sorted(reactions, key=lambda e: _rank(e.smiles)) if clean.is_clean(e.smiles)][:N_REACTIONS]
    with open(HERE / "reactions.csv", "w", encoding="utf-8") as out:
        out.write("rxn_smiles,source\n")
        out.writelines(f"{e.smiles},{e.source}\n" for e in reactions)
    for name in ("selfies_LICENSE_Apache-2.0.txt", "reaction_prediction_seq2seq_LICENSE_Apache-2.0.txt"):
        shutil.copy(data / "licenses" / name, HERE / "licenses" / name)
    print(f"molecules {len(chosen)} (stereo {len(stereo)}, named {len(named)}), reactions {len(reactions)}; "
          f"benchmark molecules removed: {clean.removed}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
