"""The graph reader: drawn graphs and back to molecules (chem.graph), graphs of real drawings from their MOL
files (data.graphs), the graph head's targets and decoding (model.graph_head), and reading through ChemVLM
and the local engine."""

import csv
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rdkit import Chem

from chemvlm.chat.vlm import ChemVLM
from chemvlm.chem.graph import Graph, GraphError, graph_of, graph_smiles
from chemvlm.data.graphs import draw_graph, graph_look, molfile_graph, placed
from chemvlm.data.render import Style, render
from chemvlm.model.graph_head import GraphHead, loss, read, targets
from chemvlm.vision.processor import ImageProcessor

REAL = Path(__file__).parent / "fixtures" / "real-uspto"


def _canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize("smiles, abbreviate", [
    ("C[C@H](N)C(=O)O", False),  # a wedge or hash at the stereocentre
    ("C/C=C/C(=O)O", False),  # double-bond geometry from the positions
    ("C[N+](C)(C)CC(=O)[O-]", False),  # charges
    ("COc1ccc(C(=O)OCC)cc1", True),  # OMe and CO2Et drawn as labels, expanded back
    ("CC(C)(C)OC(=O)N[C@@H](Cc1ccccc1)C(=O)O", True),  # Boc and a stereocentre next to a superatom
])
def test_the_graph_of_a_drawing_gives_the_drawn_molecule(smiles, abbreviate):
    family = "rdkit-abbrev" if abbreviate else "rdkit"
    drawn = render(smiles, Style(family=family, stereo=True, abbreviate=abbreviate))
    mol = Chem.Mol(drawn.drawn)
    Chem.WedgeMolBonds(mol, mol.GetConformer())
    graph = graph_of(mol, drawn.points)
    if abbreviate:
        assert any(name in ("OMe", "CO2Et", "Boc", "Ph", "Bn") for name in graph.atoms)
    assert graph_smiles(graph) == _canonical(smiles)


def _chain(kind: str) -> Graph:
    """C-C(-O)-N with the C-O bond drawn as `kind`, narrow end at the centre (atom 1)."""
    points = np.array([[0, 0], [30, 17], [30, 50], [60, 0]], np.float32)
    return Graph(points, ["C", "C", "O", "N"], bonds=[(0, 1, "single"), (1, 2, kind), (1, 3, "single")])


def test_wedge_and_hash_give_the_two_enantiomers_and_a_plain_bond_none():
    wedge, hash_ = graph_smiles(_chain("wedge")), graph_smiles(_chain("hash"))
    assert {wedge, hash_} == {"C[C@H](N)O", "C[C@@H](N)O"}
    assert graph_smiles(_chain("single")) == "CC(N)O"
    assert graph_smiles(_chain("wavy")) == "CC(N)O"
    backwards = Graph(_chain("wedge").points, ["C", "C", "O", "N"],
                      bonds=[(0, 1, "single"), (2, 1, "wedge_back"), (1, 3, "single")])
    assert graph_smiles(backwards) == wedge  # the same wedge, written from its wide end


def test_a_graph_that_makes_no_molecule_is_an_error_not_a_guess():
    with pytest.raises(GraphError, match="no atoms"):
        graph_smiles(Graph(np.zeros((0, 2), np.float32), []))
    with pytest.raises(GraphError, match="cannot be expanded"):
        graph_smiles(Graph(np.zeros((2, 2), np.float32), ["C", "other"], bonds=[(0, 1, "single")]))
    five = Graph(np.zeros((6, 2), np.float32), ["C"] * 6, bonds=[(0, k, "single") for k in range(1, 6)])
    with pytest.raises(GraphError):
        graph_smiles(five)  # a carbon with five bonds


def _real_rows():
    with open(REAL / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("row", _real_rows(), ids=lambda r: Path(r["file"]).stem)
def test_a_real_mol_file_fits_its_drawing_and_gives_the_reference(row):
    image = Image.open(REAL / row["file"])
    graph, smiles = molfile_graph(image, REAL / row["ref_molfile"])
    assert smiles == row["smiles"]  # superatoms (CN), wedges and a wavy bond read as the reference has them
    ink = np.asarray(image.convert("L")) < 128
    x, y = np.round(graph.points).astype(int).T
    assert (x >= 0).all() and (y >= 0).all() and (x < image.width).all() and (y < image.height).all()
    near = np.array([ink[max(0, b - 5): b + 6, max(0, a - 5): a + 6].any() for a, b in zip(x, y)])
    assert near.mean() >= 0.9  # the atoms sit on the drawn lines and labels


def test_coordinates_of_another_drawing_do_not_fit():
    rows = _real_rows()
    other = Image.open(REAL / rows[3]["file"])
    with pytest.raises(GraphError, match="do not fit"):
        molfile_graph(other, REAL / rows[0]["ref_molfile"])


def test_graph_look_names_the_look_of_the_picture_draw_graph_makes():
    """The patent look is black and white; the others keep RDKit's grey edges (no degradation here)."""
    looks = {seed: graph_look(random.Random(seed)) for seed in range(12)}
    assert {patent for _, patent in looks.values()} == {True, False}
    for seed, (style, patent) in looks.items():
        image, _, _ = draw_graph("CC(=O)Nc1ccc(O)cc1", random.Random(seed), degrade_strength=0)
        assert (set(np.unique(np.asarray(image))) <= {0, 255}) == patent, (seed, style.family)


def test_targets_hold_every_atom_and_each_bond_in_both_orders():
    graph = _chain("wedge")
    found = targets(graph, 112, 14)
    assert (found["atoms"] > 0).sum() == 4 and found["collisions"] == 0
    pairs = {tuple(map(tuple, p)): c for p, c in zip(found["pairs"].tolist(), found["pair_classes"].tolist())}
    from chemvlm.chem.graph import BOND_INDEX
    assert pairs[((30, 17), (30, 50))] == BOND_INDEX["wedge"]
    assert pairs[((30, 50), (30, 17))] == BOND_INDEX["wedge_back"]
    assert pairs[((0, 0), (60, 0))] == BOND_INDEX["none"]  # near but not bonded: the head must say so
    crowded = Graph(np.array([[3, 3], [5, 5]], np.float32), ["C", "O"], bonds=[(0, 1, "single")])
    assert targets(crowded, 112, 14)["collisions"] == 1


SIZE = 112


def _overfit(seed: int = 0):
    """The tiny preset's tower and a graph head trained on one drawing until they read it."""
    torch.manual_seed(seed)
    vlm = ChemVLM.from_preset("tiny")
    vlm.processor = ImageProcessor(tile_size=56, max_tiles=1, use_thumbnail=False, ink_view=True)
    tower = vlm.model.model.vision_tower
    head = GraphHead(vlm.model.config.vision_config.hidden_size, SIZE, 14)
    image, graph, smiles = draw_graph("OC(=O)c1ccccc1", random.Random(3), SIZE, 0.0)
    goal = targets(placed(graph, image.width, image.height, SIZE), SIZE, 14)
    pixels = vlm.processor.single_ink_tile(SIZE).preprocess([image])
    optimiser = torch.optim.Adam([*tower.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(200):
        value = loss(head, head(tower(pixel_values=pixels).last_hidden_state), [goal])
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
    vlm.graph_head = head.eval()
    vlm.model.eval()
    return vlm, image, smiles


@pytest.fixture(scope="module")
def overfit():
    return _overfit()


def test_the_head_reads_a_drawing_it_learned_and_says_how_sure(overfit):
    vlm, image, smiles = overfit
    assert smiles == "O=C(O)c1ccccc1"
    reading, blank = vlm.read_graphs([image, Image.new("RGB", image.size, "white")])
    assert reading.smiles == smiles and reading.probability > 0.5
    assert reading.atoms == 7  # this drawing shows the acid as a CO2H label on the six ring atoms
    assert blank.smiles is None and blank.probability == 0.0 and "no atoms" in blank.problem


def test_an_untrained_head_gives_no_sure_answer():
    torch.manual_seed(1)
    head = GraphHead(32, SIZE, 14)
    hidden = torch.randn(1, 1 + (SIZE // 14) ** 2, 32)
    graph, probability = read(head, hidden, atom_threshold=0.0)[0]
    assert probability < 0.01  # dozens of coin-flip decisions multiply to next to nothing


def test_the_local_engine_answers_from_the_graph_head_of_a_checkpoint(overfit, tmp_path):
    from chemvlm.engines.registry import load_engine
    from chemvlm.engines.base import Query

    vlm, image, smiles = overfit
    vlm.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "graph_head.pt").is_file()
    picture = tmp_path / "acid.png"
    image.save(picture)
    engine = load_engine(str(tmp_path / "model"))
    record = engine.predict([Query(id="1", images=[str(picture)], question="SMILES?")])[0]
    assert record.canonical == smiles and record.answered_by == "graph"
    assert 0.5 < record.confidence <= 1.0
    unsure = load_engine(str(tmp_path / "model"), min_graph_probability=1.01)  # every graph left to generation
    record = unsure.predict([Query(id="1", images=[str(picture)], question="SMILES?")])[0]
    assert record.answered_by != "graph"


def _graph_recipe(tmp_path) -> str:
    """A small version of configs/train/graph.yaml: the tiny preset, a 112-px graph tile, the real fixtures
    plus one row whose drawing is missing."""
    import json
    import shutil

    real = tmp_path / "real"
    if not real.exists():
        shutil.copytree(REAL, real)
        with open(real / "labels.csv", "a") as handle:
            handle.write("images/missing.png,CCO,InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3,molfiles/missing.MOL,1\n")

    settings = {"model": "tiny", "vocab_size": 500, "output_dir": str(tmp_path / "run"), "stage": "graph",
                "data": {"drawn": {"molecules": ["src/chemvlm/data/corpus/molecules.csv"], "max_heavy": 30,
                                   "holdout": 0.05, "eval_size": 3, "graph_size": SIZE, "real": [str(real)],
                                   "real_share": 0.5, "degrade": 0.3},
                         "packing": False, "group_by_length": False},
                "losses": {"graph": 1.0}, "per_device_batch": 2, "grad_accum": 1, "max_steps": 4, "save_steps": 2,
                "logging_steps": 1, "eval": {"every_steps": 2}, "threads": 1,
                "image_processor": {"ink_view": True, "max_tiles": 1, "use_thumbnail": False}}
    path = tmp_path / "recipe.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))  # JSON is YAML
    return str(path)


def test_the_graph_recipe_trains_checks_and_resumes_to_the_same_head(tmp_path):
    import json

    from chemvlm.train.config import load_config
    from chemvlm.train.trainer import run

    from tests.test_mini import StopAt

    run(load_config(_graph_recipe(tmp_path / "a")))
    run(load_config(_graph_recipe(tmp_path / "b")), callbacks=[StopAt(2)])
    run(load_config(_graph_recipe(tmp_path / "b")))  # the same command again: resumes at step 2
    heads = [torch.load(tmp_path / side / "run" / "merged" / "graph_head.pt") for side in "ab"]
    assert heads[0]["size"] == SIZE and all(torch.equal(heads[0]["state"][k], heads[1]["state"][k]) for k in heads[0]["state"])
    log = [json.loads(line) for line in open(tmp_path / "a" / "run" / "log.jsonl")]
    train = [r for r in log if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4] and all("graph" in r and "answer" not in r for r in train)
    checks = [r for r in log if "eval/drawn_exact" in r]
    assert [r["step"] for r in checks] == [2, 4] and checks[-1]["eval/drawn_n"] == 3
    real = json.loads((tmp_path / "a" / "run" / "real.json").read_text())
    assert real["report"]["read"] == 5 and real["report"]["train"] + real["report"]["holdout"] == 4
    assert real["report"]["unreadable"] == 1 and "labels.csv:6" in real["report"]["unreadable_examples"][0]
    assert ChemVLM.from_pretrained(tmp_path / "a" / "run" / "merged").graph_head.size == SIZE


def test_the_check_counts_atoms_and_bonds_found():
    from chemvlm.train.patch_loss import graph_match

    truth = _chain("wedge")
    assert graph_match(truth, truth).tolist() == [4, 4, 4, 3, 3]
    backwards = Graph(truth.points + 2, truth.atoms, bonds=[(0, 1, "single"), (2, 1, "wedge_back"), (1, 3, "double")])
    assert graph_match(backwards, truth).tolist() == [4, 4, 4, 3, 2]  # the wedge read from its wide end counts
    far = Graph(truth.points + 40, truth.atoms, bonds=truth.bonds)
    assert graph_match(far, truth).tolist() == [4, 4, 0, 3, 0]
    wrong_element = Graph(truth.points, ["C", "C", "N", "N"], bonds=truth.bonds)
    assert graph_match(wrong_element, truth)[2] == 3


def test_a_head_saved_for_other_classes_is_refused_with_its_file(tmp_path):
    from chemvlm.model.checkpoint import CheckpointError

    GraphHead(32, SIZE, 14).save(tmp_path)
    assert GraphHead.load(tmp_path, 32).size == SIZE
    saved = torch.load(tmp_path / "graph_head.pt")
    saved["bond_classes"] = saved["bond_classes"][:-1]
    torch.save(saved, tmp_path / "graph_head.pt")
    with pytest.raises(CheckpointError, match=r"graph_head\.pt: a graph head for other bond classes"):
        GraphHead.load(tmp_path, 32)
    assert GraphHead.load(tmp_path / "nowhere", 32) is None
