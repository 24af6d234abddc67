"""The ensemble's confidence: a logistic model of its readers' agreement and of the answer (engines.confidence)."""

import random

from chemvlm.chem import canonical_smiles
from chemvlm.engines.confidence import confidence, fit, probability, signals


def test_signals_count_each_osra_variant_a_models_beams_once_and_what_the_molecule_is():
    candidates = {"osra": ["OCC", "C(O)C"], "m": ["CCO", "CCO", "CCC"]}  # both variants and two beams: ethanol
    ethanol = signals(candidates, "CCO", {"osra"})
    assert ethanol["agree:osra"] == 2 and ethanol["agree:m"] == 1 and ethanol["rival"] == 1  # m also said CCC
    assert ethanol["silent:osra"] == ethanol["silent:m"] == 0 and ethanol["heavy_atoms"] == 3 / 40
    assert ethanol["r_group"] == ethanol["charged"] == ethanol["stereo"] == ethanol["rare_element"] == 0
    salt = "*C(=O)[O-].[Na+]"
    lone = signals({"osra": [salt], "m": []}, canonical_smiles(salt), {"osra"})
    assert lone["agree:osra"] == 1 and lone["silent:m"] == 1 and lone["rival"] == 0
    assert lone["r_group"] == lone["charged"] == lone["pieces"] == lone["rare_element"] == 1


def test_the_fitted_model_follows_its_signal_and_a_rare_signal_is_not_made_certain():
    rng = random.Random(0)
    rows = [({"agree": float(a), "rare": 0.0}, rng.random() < (0.9 if a else 0.3)) for a in [0, 1] * 200]
    rows += [({"agree": 1.0, "rare": 1.0}, True)] * 2  # two answers only: the penalty keeps it near the rest
    model = fit(rows)
    assert model["answers"] == 402 and model["weights"]["agree"] > 1.5
    agreeing, alone = probability(model, {"agree": 1.0}), probability(model, {"agree": 0.0})
    assert 0.8 < agreeing < 0.95 and 0.2 < alone < 0.4
    assert probability(model, {"agree": 1.0, "rare": 1.0}) < 0.97


def test_an_ensemble_never_fitted_gets_no_confidence():
    model = {"weights": {"agree:osra": 1.0}, "bias": 0.0}
    assert confidence("ensemble:osra,m", {"agree:osra": 0.0}, {"ensemble:osra,m": model}) == 0.5
    assert confidence("ensemble:osra,other", {"agree:osra": 2.0}, {"ensemble:osra,m": model}) is None


def test_the_shipped_model_trusts_agreeing_osra_runs_and_not_an_r_group():
    """The model fitted on ocsr-dev (benchmarks/results/confidence.md): CLEF numbers its R groups, osra writes
    them bare, so such an answer is rarely exactly right."""
    plain = {"osra": ["CC(=O)Nc1ccc(O)cc1"] * 2, "chemvlm-mini": []}
    marked = {"osra": ["*CC(=O)Nc1ccc(O)cc1"] * 2, "chemvlm-mini": []}
    sure = confidence("ensemble:osra,chemvlm-mini", signals(plain, canonical_smiles(plain["osra"][0]), {"osra"}))
    unsure = confidence("ensemble:osra,chemvlm-mini", signals(marked, canonical_smiles(marked["osra"][0]), {"osra"}))
    assert sure > 0.85 and unsure < 0.5


def test_answers_below_the_threshold_are_held_for_review_with_what_was_read():
    from chemvlm.record import Prediction, hold_for_review

    read = Prediction.from_answer(id="1", image="a.png", question="?", answer="CCO", smiles="CCO", engine="e",
                                  model="m", seconds=0)
    sure, unsure = [hold_for_review(Prediction(**{**read.to_dict(), "confidence": c}), 0.8) for c in (0.9, 0.42)]
    assert sure.smiles == "CCO" and sure.valid
    assert unsure.smiles is None and not unsure.valid and unsure.canonical is None
    assert unsure.answer == "Held for review (confidence 0.42, below 0.80); the engine read CCO."
    assert hold_for_review(read, 0.8).answer.startswith("Held for review (no confidence given")


def test_ocr_min_confidence_holds_what_osra_alone_reads_for_review(tmp_path, fixtures):
    import json
    import subprocess
    import sys

    image = next((fixtures / "ocsr").rglob("*.png"))
    out = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ocr", str(image), "--model", "osra", "-o", str(out),
                           "--min-confidence", "0.5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text().splitlines()[0])
    assert record["smiles"] is None and record["answer"].startswith("Held for review (no confidence given")
    bad = subprocess.run([sys.executable, "-m", "chemvlm", "ocr", str(image), "-o", str(out), "--min-confidence", "2"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_the_default_engine_gives_each_answer_a_calibrated_confidence(fixtures):
    from chemvlm.engines import Query, load_engine

    engine = load_engine("ensemble:osra,chemvlm-mini")
    image = next((fixtures / "ocsr").rglob("*.png"))
    record = engine.predict([Query(id="1", images=[str(image)], question="SMILES?")])[0]
    assert record.valid
    assert 0 < record.confidence < 1 and record.confidence == round(record.confidence, 3)
