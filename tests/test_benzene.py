"""chem.benzene: a benzene read with one double bond missing is found, and completed only where the missing
bond has one place."""

from rdkit import Chem

from chemvlm.chem import canonical_smiles
from chemvlm.chem.benzene import broken_benzenes, complete_benzenes


def test_a_benzene_missing_one_bond_is_completed():
    # osra's reading of a drawn biphenyl amine (ocsr-dev JPO): the ring C1=CC(Ph)CC=C1 lost one double bond
    assert canonical_smiles(complete_benzenes("C1=CC(c2ccccc2)CC=C1N")) == canonical_smiles("Nc1ccc(-c2ccccc2)cc1")
    # fused to a heteroaromatic ring: a benzoxazole read with its benzene broken
    assert complete_benzenes("NC1=CC=C2OC(c3ccc(N)cc3)=NC2C1") == canonical_smiles("Nc1ccc(-c2nc3cc(N)ccc3o2)cc1")


def test_a_cyclohexadiene_is_found_and_benzene_and_a_quinone_are_not():
    found = {s: len(broken_benzenes(Chem.MolFromSmiles(s))) for s in ("C1=CCC(c2ccccc2)C=C1", "c1ccccc1", "O=C1C=CC(=O)C=C1")}
    assert found == {"C1=CCC(c2ccccc2)C=C1": 1, "c1ccccc1": 0, "O=C1C=CC(=O)C=C1": 0}


def test_rings_that_are_not_a_broken_benzene_stay():
    for smiles in ("C1=CCC=CC1",  # 1,4-cyclohexadiene: the two sp3 atoms are apart, no single place for a bond
                   "O=C1C=CC(=O)C=C1",  # quinone: double bonds leave the ring
                   "C1=CNC=CC1",  # a nitrogen in the ring: not a benzene
                   "c1ccccc1", "CCO", "not smiles"):
        assert complete_benzenes(smiles) == smiles, smiles


def test_a_ring_atom_without_hydrogen_takes_no_double_bond():
    # one of the two saturated ring atoms is quaternary, so the ring is a real cyclohexadiene
    smiles = "CC1(C)C=CC=CC1"
    assert broken_benzenes(Chem.MolFromSmiles(smiles)) and complete_benzenes(smiles) == smiles


def test_stereo_of_a_completed_atom_goes():
    completed = complete_benzenes("C1=CC=C[C@H](O)C1")
    assert completed == canonical_smiles("Oc1ccccc1") and "@" not in completed
