"""osra with the extended label table (engines.osra_labels): numbered R groups survive osra, wrong entries of
osra's own table are corrected, and the ensemble's osra member uses it."""

from pathlib import Path

from rdkit import Chem

from chemvlm.chem import canonical_smiles
from chemvlm.engines import load_engine
from chemvlm.engines.osra_labels import installed_table, restore_r_groups, superatom_table, table_file

FIXTURES = Path(__file__).parent / "fixtures" / "clef-rgroups"
IMAGE = FIXTURES / "US20050002859A1_p0016_x0451_y1771_c00095.png"
LABEL = (FIXTURES / "labels.csv").read_text().splitlines()[1].split(",", 1)[1]


def entries(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines())


def test_placeholders_become_numbered_r_groups():
    same = lambda a, b: canonical_smiles(a) == canonical_smiles(b)  # noqa: E731
    assert same(restore_r_groups("CC([Pa])c1ccc([Np])cc1"), "CC([1*])c1ccc([2*])cc1")
    assert same(restore_r_groups("[PaH2]C"), "[1*]C")  # an H osra's writer adds to the element goes too
    assert restore_r_groups("c1ccccc1O") == "c1ccccc1O"
    assert restore_r_groups("*C") == "*C"  # a bare R stays bare


def test_table_corrects_osra_and_keeps_its_other_entries(tmp_path):
    installed = tmp_path / "superatom.txt"
    installed.write_text("# comment\nMe\t C\niPr      CCC\nFoo X\nFoo Y\nR1 [*]\n")
    table = entries(superatom_table(installed))
    assert table["iPr"] == "C(C)C" and table["Me"] == "C" and table["Foo"] == "X"
    assert table["R1"] == "[Pa]" and table["R2"] == "[Np]"
    assert table["Boc"] == "C(=O)OC(C)(C)C"  # from chem.abbreviations, its `*` bond removed
    for label, smiles in table.items():  # every group osra could be given is a valid fragment
        assert Chem.MolFromSmiles(smiles) is not None or label == "Foo", label


def test_installed_table_is_found_beside_osra_and_every_group_is_valid():
    osra = load_engine("osra")
    found = installed_table(osra.executable)
    assert found is not None and "iPr" in found.read_text()
    # a group is valid bonded to a carbon (NO2 as N(=O)=O is, alone it is not) or alone (Et3N, a counter-ion)
    invalid = [label for label, smiles in entries(superatom_table(found)).items()
               if Chem.MolFromSmiles("C" + smiles) is None and Chem.MolFromSmiles(smiles) is None]
    assert invalid == []


def test_numbered_r_groups_read_from_a_real_patent_drawing(tmp_path):
    truth = canonical_smiles(LABEL)
    plain = load_engine("osra", cache_dir=str(tmp_path))
    extended = load_engine("osra", labels="extended", cache_dir=str(tmp_path))
    bare = plain.recognise(IMAGE)
    assert "*" in bare and "[2*]" not in bare and canonical_smiles(bare) != truth  # osra's table: R2 and R9 alike
    assert canonical_smiles(extended.recognise(IMAGE)) == truth


def test_ensemble_osra_member_reads_with_the_extended_table():
    engine = load_engine("ensemble:osra,chemvlm-mini")
    assert engine.members[0].options.labels == "extended"
    assert load_engine("osra").options.labels == "osra"  # osra alone stays osra (the baseline)


def test_without_osras_own_table_osra_keeps_it(tmp_path):
    # an osra program with no share/osra/superatom.txt beside it: no table of ours replaces the one it has
    program = tmp_path / "bin" / "osra"
    program.parent.mkdir()
    program.write_bytes(b"")  # a program file found by path only; it is never run
    assert installed_table(str(program)) is None and table_file(str(program)) is None


def test_smiles_without_placeholders_are_left_as_osra_wrote_them():
    # "Cn" here is a carbon on an aromatic n, not copernicium: the string stays as it is, not rewritten
    assert restore_r_groups("O=C(Cn1ccnc1)O") == "O=C(Cn1ccnc1)O"
