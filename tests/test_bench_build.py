"""Builders of ChemOCR- and MMChemBench-style sets: truth from RDKit, images on disk, four options."""

import re

from chemvlm.bench.benchmarks import missing_images
from chemvlm.bench.build import caption_set, chemocr_set, property_set
from chemvlm.bench.items import read_items

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "OC(=O)c1ccccc1", "C1CCNCC1", "CCN(CC)CC", "not a smiles"]


def options(question: str) -> dict:
    return dict(re.findall(r"^([A-D])\. (.+)$", question, re.M))


def test_chemocr_set_renders_valid_molecules(tmp_path):
    items = chemocr_set(MOLECULES, tmp_path)
    assert len(items) == 6 and missing_images(items) == []
    assert [i.language for i in items[:2]] == ["zh", "en"]
    assert read_items(tmp_path / "items.jsonl") == items


def test_property_answers_are_what_rdkit_computes(tmp_path):
    items = property_set(MOLECULES, tmp_path, seed=1)
    by_subset = {i.subset: i for i in items}
    assert set(by_subset) == {"formula", "weight", "rings", "hbd"}
    ethanol = items[0]  # the first question asks for the formula of the first molecule
    assert ethanol.subset == "formula" and options(ethanol.question)[ethanol.answer] == "C2H6O"
    phenol = items[1]
    assert phenol.subset == "weight" and options(phenol.question)[phenol.answer] == "94.11"
    for item in items:
        assert len(set(options(item.question).values())) == 4  # four distinct options
    assert property_set(MOLECULES, tmp_path / "again", seed=1)[2].question == items[2].question  # seeded


def test_caption_set_uses_the_description(tmp_path):
    csv = tmp_path / "descriptions.csv"
    rows = [("CCO", "The molecule is a primary alcohol. It is a solvent."),
            ("CC(=O)O", "The molecule is a simple monocarboxylic acid."),
            ("c1ccccc1", "The molecule is an aromatic hydrocarbon."),
            ("CCN", "The molecule is a primary amine.")]
    csv.write_text("smiles,source,pubchem_cid,description\n" +
                   "".join(f'{s},chebi20-test,0,"{d}"\n' for s, d in rows), encoding="utf-8")
    items = caption_set(csv, tmp_path / "out", limit=4)
    assert len(items) == 4 and missing_images(items) == []
    # each molecule asked once: the right options are exactly the four first sentences
    assert {options(i.question)[i.answer] for i in items} == {d.split(". ")[0].rstrip(".") + "." for _, d in rows}
    assert all(len(set(options(i.question).values())) == 4 for i in items)


def test_styled_chemocr_set_from_a_data_build_holdout(tmp_path):
    from chemvlm.bench.build import styled_chemocr_set
    from chemvlm.chem import canonical_smiles
    from chemvlm.data.rows import Row
    from chemvlm.data.split import skeleton_key

    smiles = ["CC(=O)Nc1ccc(O)cc1", "C[C@H](N)C(=O)O", "OC(=O)c1ccccc1", "CCOC(=O)c1ccccc1"]
    rows = [Row(id=f"r{i}", smiles=s, task="formula", lang="en", family=family, seed=i)
            for i, (s, family) in enumerate(zip(smiles, ["rdkit", "rdkit-abbrev", "indigo", "rdkit-hand"]))]
    rows_file = tmp_path / "holdout_rows.jsonl"
    rows_file.write_text("".join(__import__("json").dumps(r.to_dict()) + "\n" for r in rows))
    items = styled_chemocr_set(rows_file, tmp_path / "set", augment=0)
    assert len(items) == 4 and missing_images(items) == []
    assert [i.subset for i in items] == ["rdkit", "rdkit-abbrev", "indigo", "rdkit-hand"]
    for item, source in zip(items, smiles):
        # The truth is the label of what is drawn: the same molecule (stereo may be dropped when not drawn).
        assert skeleton_key(item.answer) == skeleton_key(source) and canonical_smiles(item.answer) is not None
    assert read_items(tmp_path / "set" / "items.jsonl") == items
    assert styled_chemocr_set(rows_file, tmp_path / "again", augment=0)[2].answer == items[2].answer  # seeded
