"""Every label round-trips: the SMILES of each image equals the molecule drawn (abbreviations expanded,
stereo only when drawn), for both renderers; rendering and degradation are deterministic for a seed."""

import random

import numpy as np
import pytest
from rdkit import Chem

from chemvlm.chem.abbreviations import GROUPS, condense, expand, used_labels
from chemvlm.data.degrade import STEPS, degrade
from chemvlm.data.reaction import reaction_label, render_reaction
from chemvlm.data.render import FAMILIES, Style, indigo_molecule, label_mol, render, sample_style
from chemvlm.data.rows import Row, render_row

MOLECULES = [
    "COc1ccc(C(=O)OCC)cc1-c1ccccc1",
    "CC(C)(C)OC(=O)N1CCC(C(F)(F)F)CC1",
    "C[C@H](N)C(=O)Oc1ccccc1/C=C/C",
    "O=[N+]([O-])c1ccc(S(=O)(=O)NC2CC2)cc1",
    "CC(=O)N[C@@H](Cc1ccccc1)C(=O)OC",
]


@pytest.mark.parametrize("smiles", MOLECULES)
def test_abbreviations_expand_back_to_the_label(smiles):
    mol = Chem.MolFromSmiles(smiles)
    condensed = condense(mol, max_coverage=0.6)
    assert used_labels(condensed)  # every test molecule has at least one group to abbreviate
    assert Chem.MolToSmiles(expand(condensed)) == Chem.MolToSmiles(mol)


def test_every_group_round_trips_on_benzene():
    for label, group in GROUPS.items():
        mol = Chem.MolFromSmiles(group.replace("*", "c1ccccc1"))
        condensed = condense(mol, labels=[label], max_coverage=0.9)
        assert Chem.MolToSmiles(expand(condensed)) == Chem.MolToSmiles(mol), label


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_match_the_drawn_molecule(family):
    rng = random.Random(5)
    for smiles in MOLECULES:
        style = sample_style(rng, family)
        drawn = render(smiles, style)
        truth = Chem.MolToSmiles(label_mol(smiles, style))
        assert drawn.label == truth
        assert ("@" in drawn.label or "/" in drawn.label) == (style.stereo and ("@" in smiles or "/" in smiles))
        assert drawn.image.size == (style.width, style.height)
        assert np.asarray(drawn.image).min() < 100  # something dark was drawn
        if family == "indigo":  # what Indigo lays out and draws, read back by RDKit
            drawn_mol = Chem.MolFromMolBlock(indigo_molecule(label_mol(smiles, style), style).molfile())
            assert Chem.MolToSmiles(drawn_mol) == drawn.label


def test_stereo_dropped_when_not_drawn():
    style = Style("rdkit", stereo=False)
    assert render("C[C@H](N)C(=O)O", style).label == "CC(N)C(=O)O"
    assert render("C/C=C/C", style).label == "CC=CC"


def test_render_and_degrade_are_deterministic():
    row = Row("r1", MOLECULES[0], "ocr", "en", "rdkit-abbrev", 11)
    (a, sa), (b, sb) = render_row(row), render_row(row)
    assert sa == sb and np.array_equal(np.asarray(a), np.asarray(b))
    image = render(MOLECULES[1], Style("rdkit")).image
    for name in STEPS:
        one, steps = degrade(image, random.Random(3), steps=[name])
        two, _ = degrade(image, random.Random(3), steps=[name])
        assert steps == [name] and one.size == image.size and np.array_equal(np.asarray(one), np.asarray(two))
        if name != "stray_marks":  # stray marks may find no blank corner
            assert not np.array_equal(np.asarray(one), np.asarray(image)), name


def test_reaction_scheme_label():
    assert reaction_label("CCO.CC(=O)O>>CCOC(C)=O") == "CC(=O)O.CCO>>CCOC(C)=O"
    image, label = render_reaction("CCO.CC(=O)O>OS(=O)(=O)O>CCOC(C)=O", Style("rdkit"))
    assert label == "CC(=O)O.CCO>O=S(=O)(O)O>CCOC(C)=O" and image.width > image.height
    with pytest.raises(ValueError, match="not a reaction"):
        reaction_label("CCO")


def test_invalid_smiles_is_a_clear_error():
    with pytest.raises(ValueError, match="C1CC"):
        render("C1CC", Style("rdkit"))
