"""The ensemble's confidence: agreement of its readers, calibrated by a table (engines.confidence)."""

from chemvlm.engines.confidence import agreement, confidence, members_agreeing

TABLE = {"ensemble:osra,m": {"osra:2,m:1": [98, 100], "osra:2,m:0": [80, 100], "osra:1,m:0": [10, 40]}}


def test_agreement_counts_each_osra_variant_and_a_models_beams_once():
    candidates = {"osra": ["OCC", "C(O)C"], "m": ["CCO", "CCO", "CCC"]}  # both variants and two beams: ethanol
    assert agreement(candidates, "CCO", {"osra"}) == "osra:2,m:1"
    assert agreement(candidates, "CCC", {"osra"}) == "osra:0,m:1"
    assert members_agreeing("osra:2,m:0") == 1 and members_agreeing("osra:0,m:0") == 0


def test_confidence_is_the_smoothed_share_right_and_unseen_agreements_fall_back_to_their_vote_count():
    assert confidence("ensemble:osra,m", "osra:2,m:1", TABLE) == round(99 / 102, 3)
    assert confidence("ensemble:osra,m", "osra:1,m:0", TABLE) == round(11 / 42, 3)
    # never seen: one member agrees, like osra:2,m:0 and osra:1,m:0 together
    assert confidence("ensemble:osra,m", "osra:0,m:1", TABLE) == round(91 / 142, 3)
    assert confidence("ensemble:osra,other", "osra:2,other:1", TABLE) is None  # never calibrated: not said


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
    # the shipped table's cells (benchmarks/results/confidence.md): one of them, never a made-up number
    assert record.confidence in {0.1, 0.753, 0.6, 0.886, 0.9}
