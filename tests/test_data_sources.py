"""Sources, filters, the InChIKey hold-out split and decontamination, on real files and real RDKit."""

import gzip

import pytest

from chemvlm.data.decontam import Decontaminator, read_keys
from chemvlm.data.filters import Deduplicator, MoleculeFilter
from chemvlm.data.sources import SourceError, SourceReport, brics_molecules, read_file
from chemvlm.data.split import skeleton_key, split_of


def test_bad_rows_are_skipped_and_reported_with_line_numbers(tmp_path):
    path = tmp_path / "mols.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("smiles,source,name\nCCO,a,ethanol\nC1CC,a,\n,a,\nc1ccccc1,a,\n")
    report = SourceReport()
    entries = list(read_file(path, report))
    assert [e.smiles for e in entries] == ["CCO", "c1ccccc1"]
    assert entries[0].name == "ethanol" and entries[0].origin.endswith("mols.csv.gz:2")
    assert report.read == 4 and report.bad_count == 2
    assert str(report.bad[0]) == f"{path}:3: invalid SMILES 'C1CC'" and str(report.bad[1]) == f"{path}:4: empty SMILES"


def test_missing_column_and_missing_file_name_the_input(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("mol,name\nCCO,x\n")
    with pytest.raises(ValueError, match=r"x.csv:1: no 'smiles'"):
        list(read_file(path))
    with pytest.raises(SourceError, match="nope.smi: no such source file"):
        list(read_file(tmp_path / "nope.smi"))


def test_smi_files_and_reactions(tmp_path):
    path = tmp_path / "r.smi"
    path.write_text("# comment\nCCO.CC(=O)O>>CCOC(C)=O esterification\nCC>>C1CC\n")
    report = SourceReport()
    entries = list(read_file(path, report))
    assert entries[0].name == "esterification" and report.bad[0].origin.endswith("r.smi:3")


def test_filter_rules():
    keep = MoleculeFilter(max_heavy=10, stereo="drop")
    assert keep.apply("C[C@H](N)C(=O)O") == ("CC(N)C(=O)O", "")
    assert keep.apply("CCO.[Na+].[Cl-]")[0] == "CCO"  # largest fragment
    assert keep.apply("CC[Pt]")[1] == "element Pt"
    assert keep.apply("[13CH3]CO")[1] == "isotope"
    assert keep.apply("C" * 11)[1] == "11 heavy atoms"
    with pytest.raises(ValueError, match="stereo"):
        MoleculeFilter(stereo="maybe")


def test_dedup_is_canonical():
    dedup, keep = Deduplicator(), MoleculeFilter()
    kept = [s for s in ("OCC", "CCO", "C(O)C", "CCN") if dedup.first(keep.apply(s)[0])]
    assert kept == ["OCC", "CCN"]


def test_holdout_split_never_leaks_a_skeleton():
    # stereoisomers and different spellings share the InChIKey first block, hence the side
    variants = ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "CC(N)C(=O)O", "OC(=O)C(C)N"]
    assert len({skeleton_key(v) for v in variants}) == 1
    sides = {split_of(skeleton_key(v), 0.5) for v in variants}
    assert len(sides) == 1
    keys = [skeleton_key(s) for s in ("CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl", "CCBr", "CCI", "CCF") * 1]
    share = [split_of(k, 0.5) for k in keys]
    assert {"train", "holdout"} == set(share)  # both sides used


def test_decontamination_removes_benchmark_molecules_by_skeleton():
    keys = read_keys()
    assert len(keys) > 1000
    some_key, bench = next(iter(keys.items()))
    clean = Decontaminator({"QTBSBXVTEAMEQO": "test"})  # acetic acid
    assert not clean.is_clean("CC(=O)O") and not clean.is_clean("CCO.CC(=O)O>>CCOC(C)=O")
    assert clean.is_clean("CCO") and clean.removed == {"test": 2}
    assert bench.startswith(("ocsr-real", "chemocr")) and len(some_key) == 14


def test_shipped_corpus_is_decontaminated():
    keys = read_keys()
    from importlib import resources
    corpus = resources.files("chemvlm.data.corpus").joinpath("molecules.csv")
    entries = list(read_file(corpus))
    assert len(entries) == 3000
    assert not [e for e in entries[::7] if skeleton_key(e.smiles) in keys]


def test_brics_is_deterministic_and_valid():
    seeds = ["CCOC(=O)c1ccccc1N", "CN1CCN(c2ccc(Cl)cc2)CC1", "O=C(NC1CC1)c1cccnc1"]
    first = [e.smiles for e in brics_molecules(seeds, 10, seed=1)]
    assert first == [e.smiles for e in brics_molecules(seeds, 10, seed=1)]
    assert len(set(first)) == len(first) >= 5
    assert all(skeleton_key(s) for s in first)
