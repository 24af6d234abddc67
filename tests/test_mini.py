"""chemvlm-mini's recipe: traced targets, patch labels, the ink view, the SMILES-aware tokenizer, and training a
small model from scratch with the main trainer (drawn rows, patch-class loss, exact resume, time budget)."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from rdkit import Chem

from chemvlm.chat.vlm import ChemVLM
from chemvlm.chem.smiles import canonical_smiles
from chemvlm.errors import InputError
from chemvlm.data.patches import PATCH_CLASSES, draw_traced, traced_smiles
from chemvlm.model.tokenizer import STARTER_CORPUS, build_tokenizer
from chemvlm.train.config import ConfigError, load_config
from chemvlm.train.drawn import smiles_tokenizer
from chemvlm.train.trainer import run
from chemvlm.vision import ink_tile, to_pixel_values
from chemvlm.vision.processor import ImageProcessor

CORPUS = "src/chemvlm/data/corpus/molecules.csv"


@pytest.mark.parametrize("smiles", ["CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
                                    "F/C=C/Cl", "O=[N+]([O-])c1ccc(Br)cc1", "C#CCO"])
def test_traced_target_is_the_same_molecule_in_kekule_form(smiles):
    drawing = draw_traced(smiles, random.Random(1))
    assert canonical_smiles(drawing.target) == canonical_smiles(smiles)
    assert not any(ch in drawing.target for ch in "cnos")  # Kekulé: no aromatic lower-case atoms


def test_traced_smiles_starts_at_the_leftmost_atom():
    mol = Chem.MolFromSmiles("OCCN")
    xy = np.array([[50, 0], [30, 0], [20, 0], [5, 0]], np.float32)  # N is leftmost, then C, C, O
    assert traced_smiles(mol, xy) == "NCCO"


def test_patch_labels_mark_the_drawn_elements_and_bonds():
    drawing = draw_traced("ClCC(=O)CBr", random.Random(0), plain=True)
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


def test_smiles_tokenizer_learns_bracket_atoms_from_its_smiles():
    tokenizer = smiles_tokenizer(["C[C@@H](N)C(=O)O"] * 50 + ["c1cc[nH]c1"] * 50, "sys", 700)
    assert "[C@@H]" in tokenizer.convert_ids_to_tokens(tokenizer("N[C@@H](C)C")["input_ids"])


INK = ImageProcessor(tile_size=224, max_tiles=1, use_thumbnail=False, ink_view=True)


def _recipe(tmp_path, **changes) -> str:
    """A small version of configs/train/mini.yaml: the tiny preset, 4 pictures a step."""
    settings = {"model": "tiny", "vocab_size": 500, "output_dir": str(tmp_path / "run"), "stage": "mini",
                "data": {"drawn": {"molecules": [CORPUS], "holdout": 0.05, "eval_size": 4},
                         "packing": False, "group_by_length": False},
                "losses": {"answer": 1.0, "patch_classes": 1.0}, "per_device_batch": 4, "grad_accum": 1,
                "max_steps": 4, "save_steps": 2, "logging_steps": 1, "eval": {"every_steps": 2}, "threads": 1,
                "image_processor": {"ink_view": True, "max_tiles": 1, "use_thumbnail": False}}
    for key, value in changes.items():
        settings[key] = {**settings[key], **value} if isinstance(value, dict) and isinstance(settings.get(key), dict) else value
    path = tmp_path / "recipe.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))  # JSON is YAML
    return str(path)


class StopAt:
    """Ends a run after `step` steps with a checkpoint, as a kill right after one would."""

    def __new__(cls, step):
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == step:
                    control.should_training_stop = control.should_save = True
        return _Stop()


def _log(tmp_path) -> list[dict]:
    return [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]


def test_the_shipped_recipe_reads_as_a_run_config():
    config = load_config("configs/train/mini.yaml")
    assert config.model == "mini" and config.losses == {"answer": 1.0, "patch_classes": 1.0}
    assert config.stage.optimizer.lr_groups["vision"] == 3e-3 and config.stage.optimizer.clip_per_part
    assert config.per_device_batch * config.max_steps == 400_000 and config.data.drawn.max_heavy == 20


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    run(load_config(_recipe(tmp_path / "a")))
    halves = load_config(_recipe(tmp_path / "b"))
    run(halves, callbacks=[StopAt(2)])
    assert [r["step"] for r in _log(tmp_path / "b") if "eval/exact" in r] == [2]
    run(load_config(_recipe(tmp_path / "b")))  # the same command again: resumes at step 2
    a = ChemVLM.from_pretrained(tmp_path / "a" / "run" / "merged").model.state_dict()
    b = ChemVLM.from_pretrained(tmp_path / "b" / "run" / "merged").model.state_dict()
    for name, tensor in a.items():
        assert torch.equal(tensor, b[name]), name
    heads = [torch.load(tmp_path / side / "run" / "merged" / "patch_head.pt") for side in "ab"]
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])
    log = _log(tmp_path / "b")
    train = [r for r in log if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4] and all("patch_classes" in r and "answer" in r for r in train)
    evals = [r for r in log if "eval/exact" in r]
    assert {"eval/validity", "eval/image_dependence", "eval/loss_true", "eval/loss_shuffled"} <= set(evals[-1])


def test_a_time_budget_ends_the_run_early_with_a_checkpoint_and_an_evaluation(tmp_path):
    summary = run(load_config(_recipe(tmp_path, max_steps=100_000, minutes=0.001, eval={"every_steps": 0})))
    assert 0 < summary["steps"] < 100_000
    log = _log(tmp_path)
    assert "eval/exact" in log[-1] and log[-1]["step"] == summary["steps"]
    assert (tmp_path / "run" / f"checkpoint-{summary['steps']}" / "patch_head.pt").is_file()


def test_the_merged_checkpoint_answers_through_the_cli(tmp_path, molecule_png):
    run(load_config(_recipe(tmp_path, max_steps=2, merged_dtype="bfloat16")))
    checkpoint = tmp_path / "run" / "merged"
    vlm = ChemVLM.from_pretrained(checkpoint)
    assert vlm.processor.ink_view and vlm.processor.max_tiles == 1  # the stage's processor, saved with it
    assert vlm.model.dtype == torch.float32  # loaded for CPU inference; stored as bf16
    assert json.loads((checkpoint / "config.json").read_text())["dtype"] == "bfloat16"
    image = tmp_path / "m.png"
    image.write_bytes(molecule_png)
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", "-m", str(checkpoint), str(image), "SMILES?",
                           "--max-new-tokens", "8", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["engine"] == "chemvlm"


def test_bad_recipes_fail_with_one_clear_line(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="nope.csv: no such molecule file"):
        run(load_config(_recipe(tmp_path, data={"drawn": {"molecules": [missing]}})))
    with pytest.raises(ConfigError, match="needs max_steps"):
        run(load_config(_recipe(tmp_path, max_steps=-1)))
    with pytest.raises(ConfigError, match="unknown component 'pixels'"):
        load_config(_recipe(tmp_path, losses={"pixels": 1.0}))
    with pytest.raises(ConfigError, match="unknown part 'eyes'"):
        load_config(_recipe(tmp_path, stage={"base": "mini", "optimizer": {"lr_groups": {"eyes": 1.0}}}))
    done = subprocess.run([sys.executable, "-m", "chemvlm", "train", _recipe(tmp_path, stage={"base": "stage1"})],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no LoRA part" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_bare_smiles_answers_are_told_from_words_and_explained():
    from chemvlm.chem.answer import answer_question
    from chemvlm.chem.smiles import looks_like_smiles

    assert looks_like_smiles("C1=CC=CC=C1") and looks_like_smiles("C1CC(")  # valid or not, a SMILES
    assert not looks_like_smiles("The molecule is benzene.") and not looks_like_smiles("B")  # not boron
    explained = answer_question("C1=CC=CC=C1", "这是什么分子？")
    assert "C6H6" in explained and "分子量" in explained
    assert "RDKit无法解析" in answer_question("C1CC(", "这是什么分子？")


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


def test_data_loader_workers_draw_the_same_pictures(tmp_path):
    from chemvlm.train.trainer import build_trainer

    trainer = build_trainer(load_config(_recipe(tmp_path)))
    here = [trainer.train_dataset[i]["sample"] for i in range(6)]
    loader = torch.utils.data.DataLoader(trainer.train_dataset, batch_size=3, num_workers=2, collate_fn=list)
    there = [item["sample"] for batch in loader for item in batch][:6]
    assert [s.input_ids for s in here] == [s.input_ids for s in there]
    assert all(torch.equal(a.pixel_values, b.pixel_values) and torch.equal(a.patch_classes, b.patch_classes)
               for a, b in zip(here, there))
    first = trainer.train_dataset.rows.render.plan(4)  # step 1's first picture depends only on the seed and step
    assert first == trainer.train_dataset.rows.render.plan(4) and first != trainer.train_dataset.rows.render.plan(0)


@pytest.mark.parametrize("smiles, seed, looks", [("ClCC(=O)CBr", 0, {}), ("Cn1cnc2c1c(=O)n(C)c(=O)n2C", 1, {}),
                                                 ("OC1CCCCC1N", 2, {}),
                                                 ("OC1CCCCC1N", 3, dict(hand=1.0, degrade_strength=3.0)),
                                                 ("Cn1cnc2c1c(=O)n(C)c(=O)n2C", 4, dict(hand=1.0, degrade_strength=3.0))])
def test_patch_labels_sit_on_the_ink_of_the_tile(smiles, seed, looks):
    # random size, padding to square, rotation; hand-drawn strokes, perspective and noise with `looks`
    drawing = draw_traced(smiles, random.Random(seed), **looks)
    ink = np.asarray(INK.tiles(drawing.image)[0].convert("L")) < 128
    cells = ink.reshape(16, 14, 16, 14).any(axis=(1, 3)).reshape(-1)
    labelled = drawing.patches > 0
    assert cells[labelled].mean() > 0.9  # atoms and bonds are where the ink is
    assert (~labelled[~cells]).mean() > 0.9  # blank patches are labelled empty


def test_hand_drawn_degraded_pictures_keep_their_target():
    clean = draw_traced("Cn1cnc2c1c(=O)n(C)c(=O)n2C", random.Random(7))
    rough = draw_traced("Cn1cnc2c1c(=O)n(C)c(=O)n2C", random.Random(7), hand=1.0, degrade_strength=3.0)
    assert canonical_smiles(rough.target) == canonical_smiles(clean.target) == canonical_smiles("Cn1cnc2c1c(=O)n(C)c(=O)n2C")
    assert not np.array_equal(np.asarray(rough.image), np.asarray(clean.image))


def test_a_new_run_can_start_from_a_merged_checkpoint(tmp_path):
    run(load_config(_recipe(tmp_path / "a", max_steps=2)))
    checkpoint = tmp_path / "a" / "run" / "merged"
    from chemvlm.train.trainer import build_trainer

    trainer = build_trainer(load_config(_recipe(tmp_path / "b", model=str(checkpoint), vocab_size=0)))
    exported = ChemVLM.from_pretrained(checkpoint).model.state_dict()
    started = trainer.model.model.state_dict()
    assert all(torch.equal(started[k], v) for k, v in exported.items())
    head = torch.load(checkpoint / "patch_head.pt")
    assert torch.equal(trainer.model.patch_head.weight, head["weight"])
    with pytest.raises(InputError, match="not a checkpoint directory"):
        build_trainer(load_config(_recipe(tmp_path / "c", model=str(tmp_path))))
