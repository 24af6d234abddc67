"""ChemOCR metrics as the paper computes them, checked on a real model's output, and the score command."""

import json

import pytest
import typer
from typer.testing import CliRunner

from chemvlm.bench.cli import register
from chemvlm.bench.metrics import score_smiles, summarize_choice, summarize_smiles
from chemvlm.chem.smiles import extract_smiles

PREDICTIONS_8B = "chemvlm-8b-chemocr-predictions.jsonl"


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    register(app)
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def test_chemvlm_8b_predictions_reproduce_the_published_chemocr_figures(fixtures):
    rows = [json.loads(line) for line in (fixtures / "bench" / PREDICTIONS_8B).open(encoding="utf-8")]
    summary = summarize_smiles([score_smiles(r["ground_truth"], extract_smiles(r["generated"])) for r in rows])
    assert (summary["n"], summary["skipped"]) == (989, 11)
    assert (summary["avg_similarity"], summary["tanimoto@1.0"], summary["exact"]) == (88.58, 72.30, 66.03)
    assert summary["exact"] <= summary["exact_nostereo"] <= summary["tanimoto@1.0"] + 5
    assert summary["markush"] == 28  # `*` truths parse, so the paper scores them


def test_score_command_prints_the_table(cli, fixtures):
    result = cli("score", "chemocr", fixtures / "bench" / PREDICTIONS_8B)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| all"))
    assert row.split("|")[2:7] == [" 989 ", " 11 ", " 88.58 ", " 72.30 ", " 66.03 "]


def test_score_command_names_the_bad_line(cli, tmp_path):
    bad = tmp_path / "preds.jsonl"
    bad.write_text('{"generated": "CCO", "ground_truth": "CCO"}\n{"generated": "CC\n', encoding="utf-8")
    result = cli("score", "chemocr", bad)
    assert result.exit_code == 1
    assert f"{bad}:2:" in result.output and "Traceback" not in result.output
    missing = cli("score", "chemocr", tmp_path / "nope.jsonl")
    assert missing.exit_code == 1 and "nope.jsonl: no such file" in missing.output


def test_stereo_inchi_and_validity_are_distinct_metrics():
    stereo = score_smiles("C[C@H](N)C(=O)O", "CC(N)C(=O)O")  # alanine without its stereocentre
    assert stereo.valid and not stereo.exact and stereo.exact_nostereo and not stereo.inchi
    tautomer = score_smiles("O=c1cccc[nH]1", "Oc1ccccn1")  # 2-pyridone / 2-hydroxypyridine
    assert not tautomer.exact and tautomer.inchi  # Standard InChI normalises the mobile hydrogen
    same = score_smiles("OCC", "C(O)C")
    assert same.exact and same.tanimoto == 1.0
    invalid = score_smiles("CCO", "C1CC")
    assert invalid.scored and not invalid.valid and invalid.tanimoto == 0.0
    assert not score_smiles("C1CC", "CCO").scored  # an invalid truth is skipped, not counted wrong
    assert 0 < score_smiles("c1ccccc1O", "c1ccccc1N").tanimoto < 1


def test_summary_counts_over_scored_items_only():
    scores = [score_smiles("CCO", "OCC"), score_smiles("CCO", None), score_smiles("not-a-smiles", "CCO")]
    summary = summarize_smiles(scores)
    assert (summary["n"], summary["skipped"], summary["exact"], summary["validity"]) == (2, 1, 50.0, 50.0)


def test_the_scored_smiles_is_a_bare_smiles_or_the_one_in_a_sentence():
    assert extract_smiles("CC(=O)O") == "CC(=O)O"
    assert extract_smiles("The SMILES representation is CC(=O)O.") == "CC(=O)O"
    assert extract_smiles("  ") is None
    # RDKit reads "O the SMILES is CCO" as water named "the SMILES is CCO"; the answer gives ethanol
    assert extract_smiles("O the SMILES is CCO") == "CCO"
    assert score_smiles("CCO", extract_smiles("O the SMILES is CCO")).exact


def test_choice_summary_counts_unparseable_as_wrong():
    assert summarize_choice(["A", "B", "C"], ["A", None, "D"]) == {"n": 3, "accuracy": 33.33, "unparseable": 1}


def test_score_pairs_borrow_subset_and_language_from_the_benchmark_by_position(cli, fixtures, tmp_path):
    lines = (fixtures / "bench" / PREDICTIONS_8B).read_text(encoding="utf-8").splitlines()[:5]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("score", "chemocr", pairs, "--items",
                 fixtures / "bench" / "chemvlm-original" / "mm_chem_ocr.sample.jsonl", "-o", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["smiles"]
    # the sample's first four lines are the file's first four (3 zh, 1 en, staker); its fifth is another item
    assert {k: v["n"] for k, v in scores["by_language"].items()} == {"zh": 3, "en": 1, "unmatched": 1}
    assert scores["by_subset"]["staker"]["n"] == 4
