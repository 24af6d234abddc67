"""The ensemble engine with real osra and RDKit on molecules drawn by RDKit."""

import json
import os
import subprocess
import sys

import pytest

from chemvlm.chem import draw_molecule
from chemvlm.engines import Engine, EngineError, Query, load_engine
from chemvlm.engines.ensemble import EnsembleEngine, choose, member_labels
from chemvlm.engines.osra import parse_osra_confidence
from chemvlm.spec import ModelSpec

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture
def aspirin(tmp_path):
    path = tmp_path / "aspirin.png"
    path.write_bytes(draw_molecule(ASPIRIN, size=(400, 300)))
    return str(path)


class Fixed(Engine):
    """A member that proposes fixed candidates, or fails."""

    name = "fixed"

    def __init__(self, found=None, error=None):
        super().__init__(ModelSpec("osra", text="fixed"))
        self.found, self.error = found or [], error

    def candidates(self, queries):
        if self.error:
            raise EngineError(self.error)
        return [list(self.found) for _ in queries]


def ensemble(*members, **options):
    engine = EnsembleEngine(ModelSpec.parse("ensemble:" + ",".join(["osra"] * len(members))), members, **options)
    engine.labels = [f"m{i}" for i in range(len(members))]
    return engine


def test_choose_drops_invalid_candidates_and_counts_votes():
    smiles, sources, votes = choose({"a": ["C1CC(", "OCC"], "b": ["CCO", "c1ccccc1"], "c": ["not smiles"]})
    assert (smiles, sources, votes) == ("CCO", ["a", "b"], 2)
    # one vote per member: a member repeating a molecule does not outvote another member
    assert choose({"a": ["CCO"], "b": ["OCC", "CCO", "C(O)C"]})[:3] == ("CCO", ["a", "b"], 2)
    assert choose({"a": ["CCN"], "b": ["OCC", "CCO"]})[0] == "CCN"  # 1 vote each: the first member wins
    with pytest.raises(ValueError):
        choose({"a": ["C1CC("], "b": []})


def test_a_tie_goes_to_the_candidate_that_matches_the_drawing(aspirin):
    from chemvlm.vision import load_image

    image = load_image(aspirin)
    wrong_first = {"a": ["CC(=O)Oc1ccccc1"], "b": [ASPIRIN]}
    assert choose(wrong_first, image, rerank=True)[0] == "CC(=O)Oc1ccccc1C(=O)O"
    assert choose(wrong_first, image)[0] == "CC(=O)Oc1ccccc1"  # by default, as the engine: order alone keeps the first


def test_a_failing_member_does_not_sink_the_item(aspirin):
    engine = ensemble(Fixed(error="server unreachable"), Fixed(["C1CC(", "OC(=O)c1ccccc1OC(C)=O"]))
    [record] = engine.predict([Query("x", [aspirin], "What is this?")])
    assert record.error is None and record.canonical == ASPIRIN and record.engine == "ensemble"
    assert "proposed by m1" in record.answer and "1 of 1 members agree" in record.answer  # the failed member has no say


def test_every_member_failing_gives_a_clear_error_record(aspirin):
    engine = ensemble(Fixed(error="server unreachable"), Fixed(error="timeout after 5 s"))
    [record] = engine.predict([Query("x", [aspirin], "q")])
    assert not record.valid and record.engine == "ensemble"
    assert record.error == "every ensemble member failed (m0: server unreachable; m1: timeout after 5 s)"


def test_only_invalid_candidates_give_no_structure(aspirin):
    [record] = ensemble(Fixed(["C1CC("]), Fixed([])).predict([Query("x", [aspirin], "这是什么？")])
    assert record.error is None and not record.valid and "没有识别出化学结构" in record.answer


def test_a_bad_item_fails_alone_in_a_batch_with_real_osra(aspirin, tmp_path):
    engine = load_engine("ensemble:osra,osra", variants=("default",), cache_dir=tmp_path / "cache")
    assert engine.members[0] is engine.members[1] and member_labels(engine.spec.members) == ["osra", "osra#2"]
    (tmp_path / "bad.png").write_text("not an image")
    good, bad = engine.predict([Query("good", [aspirin], "What is this?"), Query("bad", [str(tmp_path / "bad.png")])])
    assert good.canonical == ASPIRIN and "proposed by osra, osra#2; 2 of 2 members agree" in good.answer
    # the file is named once, before any member reads it
    assert bad.error.endswith("bad.png: not a readable image (UnidentifiedImageError)") and bad.error.count("bad.png") == 1


def test_osra_confidence_and_variants(aspirin, tmp_path):
    osra = load_engine("osra", variants=("default", "jaggy"), cache_dir=tmp_path / "cache")
    found = osra.scored_candidates(aspirin)
    assert [v for v, _, _ in found] == ["default", "jaggy"] and all(c > 0 for _, _, c in found)
    assert len(list((tmp_path / "cache").iterdir())) == 2  # the second call reads the cache
    assert osra.scored_candidates(aspirin) == found
    assert parse_osra_confidence("CCO 1.5\nnot a line\n") == [("CCO", 1.5)]
    with pytest.raises(EngineError, match="osra variant"):
        load_engine("osra", variants=("sharpen",))


def test_ensemble_through_the_command_line(aspirin, tmp_path):
    out = tmp_path / "r.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "chemvlm", "ocr", aspirin, "-o", str(out), "--model", "ensemble:osra,osra"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    assert record["engine"] == "ensemble" and record["model"] == "ensemble:osra,osra"
    assert record["canonical"] == ASPIRIN and record["error"] is None
