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
