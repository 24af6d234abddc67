"""chemvlm-mini: traced targets, patch labels, the ink view, the SMILES-aware tokenizer, resumable training."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from rdkit import Chem

from chemvlm.chat.engine import ChemVLM
from chemvlm.chem.smiles import canonical_smiles
from chemvlm.mini.drawing import PATCH_CLASSES, draw_training_sample, traced_smiles
from chemvlm.mini.train import MiniConfig, MiniConfigError, export, mini_tokenizer, train
from chemvlm.model.tokenizer import STARTER_CORPUS, build_tokenizer
from chemvlm.vision import ink_tile, to_pixel_values

CORPUS = "src/chemvlm/data/corpus/molecules.csv"


@pytest.mark.parametrize("smiles", ["CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
                                    "F/C=C/Cl", "O=[N+]([O-])c1ccc(Br)cc1", "C#CCO"])
def test_traced_target_is_the_same_molecule_in_kekule_form(smiles):
    drawing = draw_training_sample(smiles, random.Random(1))
    assert canonical_smiles(drawing.target) == canonical_smiles(smiles)
    assert not any(ch in drawing.target for ch in "cnos")  # Kekulé: no aromatic lower-case atoms


def test_traced_smiles_starts_at_the_leftmost_atom():
    mol = Chem.MolFromSmiles("OCCN")
    xy = np.array([[50, 0], [30, 0], [20, 0], [5, 0]], np.float32)  # N is leftmost, then C, C, O
    assert traced_smiles(mol, xy) == "NCCO"


def test_patch_labels_mark_the_drawn_elements_and_bonds():
    drawing = draw_training_sample("ClCC(=O)CBr", random.Random(0), plain=True)
    counts = np.bincount(drawing.patches, minlength=len(PATCH_CLASSES))
    names = dict(zip(PATCH_CLASSES, counts))
    assert names["Cl"] > 0 and names["Br"] > 0 and names["O"] > 0 and names["double"] > 0
    assert names["N"] == 0 and names["S"] == 0 and names["triple"] == 0
    assert names["empty"] > len(drawing.patches) // 2  # a small molecule leaves most of the tile blank


def test_ink_tile_pads_instead_of_stretching():
    wide = Image.new("RGB", (400, 100), "white")
    wide.paste((0, 0, 0), (0, 0, 400, 100))  # all ink
    tile = ink_tile(wide, 224, thicken=1)
    grey = np.asarray(tile.convert("L"))
    assert tile.size == (224, 224)
    assert grey[112, 112] == 0 and grey[5, 112] == 255 and grey[218, 112] == 255  # band in the middle only
    values = to_pixel_values([tile], invert=True)
    assert values[0, :, 112, 112].tolist() == [2.0, 2.0, 2.0] and values[0, :, 5, 5].tolist() == [0.0, 0.0, 0.0]


def test_training_pixels_made_on_the_device_equal_the_inference_ink_view():
    from chemvlm.mini.train import _draw_job
    from chemvlm.vision.processor import ImageProcessor

    job = ("ClCC(=O)CBr", 5, 224, 14, 3, False, 0.0, 0.0)
    sent = _draw_job(job)  # what a drawing worker hands over: the grey tile only
    full = draw_training_sample("ClCC(=O)CBr", random.Random(5))
    assert sent.image is None and sent.tile.mode == "L"
    grey = torch.from_numpy(np.array(sent.tile))[None]
    processor = ImageProcessor(tile_size=224, max_tiles=1, use_thumbnail=False, ink_view=True)
    assert torch.equal(processor.pixel_values_of_grey(grey), to_pixel_values([full.tile], invert=True))


def test_ink_tile_thickens_strokes():
    line = Image.new("L", (224, 224), 255)
    line.paste(0, (0, 100, 224, 101))  # a 1-px line
    assert (np.asarray(ink_tile(line, 224, thicken=3).convert("L"))[:, 50] < 128).sum() == 3


def test_smiles_aware_tokenizer_keeps_atoms_whole_and_round_trips():
    tokenizer = build_tokenizer(STARTER_CORPUS * 5, "s", vocab_size=500, smiles_aware=True)
    plain = build_tokenizer(STARTER_CORPUS * 5, "s", vocab_size=500)
    smiles = "ClC1=CC=C(Br)C=C1C(=O)OCC#N"
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(smiles)["input_ids"])
    assert pieces == ["Cl", "C", "1", "=", "C", "C", "=", "C", "(", "Br", ")", "C", "=", "C", "1", "C", "(", "=",
                      "O", ")", "O", "C", "C", "#", "N"]
    assert len(plain(smiles)["input_ids"]) < len(pieces)  # plain BPE merges atoms into multi-atom tokens
    for text in [smiles, "What is the SMILES? 图中分子的SMILES是什么？ [C@@H] %12", "  spaced\n\nlines "]:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_mini_tokenizer_learns_bracket_atoms_from_its_smiles():
    tokenizer = mini_tokenizer(["C[C@@H](N)C(=O)O"] * 50 + ["c1cc[nH]c1"] * 50, "sys", 700)
    assert "[C@@H]" in tokenizer.convert_ids_to_tokens(tokenizer("N[C@@H](C)C")["input_ids"])


def _config(tmp_path, **changes):
    settings = dict(molecules=[CORPUS], out=str(tmp_path / "run"), images=16, batch_size=4, eval_every=8,
                    eval_size=4, holdout=0.05, vocab_size=500, preset="tiny", threads=1)
    settings.update(changes)
    return MiniConfig(**settings)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    straight = _config(tmp_path / "a", images=16)
    train(straight, progress=lambda _: None)
    halves = _config(tmp_path / "b", images=16, stop_after=8)
    train(halves, progress=lambda _: None)
    log = [json.loads(line) for line in open(tmp_path / "b" / "run" / "log.jsonl")]
    assert [r["seen"] for r in log if r["kind"] == "eval"] == [8]
    train(halves, progress=lambda _: None)  # the same call again: resumes at 8 pictures
    a = torch.load(tmp_path / "a" / "run" / "state.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "run" / "state.pt", weights_only=False)
    assert a["seen"] == b["seen"] == 16
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    evals = [json.loads(line) for line in open(tmp_path / "b" / "run" / "log.jsonl") if '"eval"' in line]
    assert {"exact", "validity", "image_dependence", "loss_true", "loss_shuffled"} <= set(evals[-1])


def test_a_time_budget_ends_the_run_early_with_a_checkpoint_and_an_evaluation(tmp_path):
    cfg = _config(tmp_path, images=100_000, eval_every=100_000, minutes=0.001)
    result = train(cfg, progress=lambda _: None)
    assert 0 < result["seen"] < 100_000
    log = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    assert log[-1]["kind"] == "eval" and log[-1]["seen"] == result["seen"]
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=False)["seen"] == result["seen"]


def test_export_gives_a_checkpoint_that_answers_through_the_cli(tmp_path, molecule_png):
    cfg = _config(tmp_path, images=8)
    train(cfg, progress=lambda _: None)
    checkpoint = export(cfg, tmp_path / "ckpt")
    vlm = ChemVLM.from_pretrained(checkpoint)
    assert vlm.processor.ink_view and vlm.processor.max_tiles == 1
    assert vlm.model.dtype == torch.float32  # loaded for CPU inference; stored as bf16
    image = tmp_path / "m.png"
    image.write_bytes(molecule_png)
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", "-m", str(checkpoint), str(image), "SMILES?",
                           "--max-new-tokens", "8", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["engine"] == "chemvlm"


def test_bad_settings_fail_with_one_clear_line(tmp_path):
    with pytest.raises(MiniConfigError, match="at least one batch"):
        _config(tmp_path, images=2, batch_size=4)
    with pytest.raises(MiniConfigError, match="nope.csv: no such molecule file"):
        train(_config(tmp_path, molecules=[str(tmp_path / "nope.csv")]), progress=lambda _: None)
    done = subprocess.run([sys.executable, "-m", "chemvlm", "mini", "train", "-o", str(tmp_path / "empty")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "give --molecules" in done.stderr


def test_bare_smiles_answers_are_checked_and_explained(tmp_path, molecule_png):
    from chemvlm.engines import Query, load_engine

    engine = load_engine("tiny", num_candidates=2, max_new_tokens=4)
    image = tmp_path / "m.png"
    image.write_bytes(molecule_png)
    query = Query(id="1", images=[str(image)], question="这是什么分子？")
    good = engine._record(query, "C1=CC=CC=C1", 0.0)
    assert good.canonical == "c1ccccc1" and "C6H6" in good.answer and "分子量" in good.answer
    broken = engine._record(query, "C1CC(", 0.0)  # invalid and no beam asked for here: RDKit says so
    assert not broken.valid and "RDKit无法解析" in broken.answer
    sentence = engine._record(query, "The molecule is benzene.", 0.0)
    assert sentence.answer == "The molecule is benzene."
    assert engine._record(query, "B", 0.0).answer == "B"  # an option letter is not boron


def test_default_model_combines_the_bundled_model_with_osra(monkeypatch, tmp_path):
    from chemvlm import spec

    monkeypatch.setattr(spec, "BUNDLED_MODEL", tmp_path / "chemvlm-mini")
    assert spec.default_model(osra_installed=True) == "osra"  # a checkout without weights
    (tmp_path / "chemvlm-mini").mkdir()
    (tmp_path / "chemvlm-mini" / "config.json").write_text("{}")
    combined = spec.ModelSpec.parse(spec.default_model(osra_installed=True))
    assert combined.kind == "ensemble" and [m.kind for m in combined.members] == ["osra", "local"]
    assert combined.members[1].target == str(tmp_path / "chemvlm-mini")
    assert spec.default_model(osra_installed=False) == "chemvlm-mini"  # a name, not the install path


def test_worker_processes_draw_the_same_pictures(tmp_path):
    from chemvlm.mini.train import Batcher, _questions, setup

    vlm, _, molecules = setup(_config(tmp_path))
    smiles = molecules["train"][:6]
    here = Batcher(vlm, _questions()).draw(smiles, random.Random(3))
    pooled = Batcher(vlm, _questions(), workers=2)
    there = pooled.draw(smiles, random.Random(3))
    pooled.pool.shutdown()
    assert [d.target for d in here] == [d.target for d in there]
    assert all(np.array_equal(np.asarray(a.tile), np.asarray(b.tile)) for a, b in zip(here, there))


@pytest.mark.parametrize("smiles, seed, looks", [("ClCC(=O)CBr", 0, {}), ("Cn1cnc2c1c(=O)n(C)c(=O)n2C", 1, {}),
                                                 ("OC1CCCCC1N", 2, {}),
                                                 ("OC1CCCCC1N", 3, dict(hand=1.0, degrade_strength=3.0)),
                                                 ("Cn1cnc2c1c(=O)n(C)c(=O)n2C", 4, dict(hand=1.0, degrade_strength=3.0))])
def test_patch_labels_sit_on_the_ink_of_the_tile(smiles, seed, looks):
    # random size, padding to square, rotation; hand-drawn strokes, perspective and noise with `looks`
    drawing = draw_training_sample(smiles, random.Random(seed), **looks)
    ink = np.asarray(drawing.tile.convert("L")) < 128
    cells = ink.reshape(16, 14, 16, 14).any(axis=(1, 3)).reshape(-1)
    labelled = drawing.patches > 0
    assert cells[labelled].mean() > 0.9  # atoms and bonds are where the ink is
    assert (~labelled[~cells]).mean() > 0.9  # blank patches are labelled empty


def test_hand_drawn_degraded_pictures_keep_their_target():
    clean = draw_training_sample("Cn1cnc2c1c(=O)n(C)c(=O)n2C", random.Random(7))
    rough = draw_training_sample("Cn1cnc2c1c(=O)n(C)c(=O)n2C", random.Random(7), hand=1.0, degrade_strength=3.0)
    assert canonical_smiles(rough.target) == canonical_smiles(clean.target) == canonical_smiles("Cn1cnc2c1c(=O)n(C)c(=O)n2C")
    assert not np.array_equal(np.asarray(rough.tile), np.asarray(clean.tile))


def test_a_new_run_can_start_from_an_exported_checkpoint(tmp_path):
    first = _config(tmp_path / "a", images=8)
    train(first, progress=lambda _: None)
    checkpoint = export(first, tmp_path / "ckpt")
    second = _config(tmp_path / "b", images=8, stop_after=0, init=str(checkpoint))
    messages = []
    train(second, progress=messages.append)
    assert any("started" in m and "ckpt" in m for m in messages)
    exported = ChemVLM.from_pretrained(checkpoint).model.state_dict()
    started = torch.load(tmp_path / "b" / "run" / "state.pt", weights_only=False)["model"]
    assert all(torch.equal(started["vlm_model." + k], v) for k, v in exported.items())
    with pytest.raises(MiniConfigError, match="not a checkpoint directory"):
        train(_config(tmp_path / "c", init=str(tmp_path)), progress=lambda _: None)
