"""The drawing match score: real RDKit drawings, the right structure must out-score wrong ones."""

import io

import numpy as np
from PIL import Image

from chemvlm.chem import draw_molecule
from chemvlm.chem.rerank import euler_number, ink_mask, match_score, rank


def picture(smiles, size=(420, 300)):
    return Image.open(io.BytesIO(draw_molecule(smiles, size=size)))


def test_euler_number_counts_pieces_minus_holes():
    ring = np.zeros((20, 20), bool)
    ring[2:18, 2:18] = True
    ring[5:15, 5:15] = False  # one piece, one hole
    dots = np.zeros((10, 10), bool)
    dots[1, 1] = dots[5, 5] = dots[8, 2] = True
    assert euler_number(ring) == 0 and euler_number(dots) == 3 and euler_number(np.ones((4, 4), bool)) == 1


def test_ink_mask_crops_to_the_drawing():
    mask = ink_mask(picture("CCO"))
    assert mask.any(axis=0)[[0, -1]].all() and mask.any(axis=1)[[0, -1]].all()
    assert ink_mask(Image.new("L", (50, 50), 255)).size == 0


def test_the_drawn_structure_wins_against_wrong_ring_and_label_counts():
    image = picture("O=C(O)c1ccc2ccccc2c1", size=(500, 320))  # other size than the candidates are drawn at
    ranked = rank(image, ["c1ccc2ccccc2c1", "OC(=O)c1ccccc1", "O=C(O)c1ccc2ccccc2c1", "CCCCCCCCCCCC"])
    assert ranked[0][0] == "O=C(O)c1ccc2ccccc2c1" and ranked[0][1] == 0.0
    assert all(score < 0 for _, score in ranked[1:])


def test_invalid_candidates_are_left_out():
    image = picture("c1ccccc1")
    assert match_score(image, "C1CC(") == float("-inf")
    assert [s for s, _ in rank(image, ["not a smiles", "c1ccccc1", "c1ccccc1"])] == ["c1ccccc1"]
    assert rank(Image.new("L", (50, 50), 255), ["c1ccccc1"]) == []  # a blank image scores nothing
