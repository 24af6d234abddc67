import json

import pytest

from chemvlm.record import Prediction, PredictionWriter, RecordFileError, read_predictions
from chemvlm.spec import ModelSpec, ModelSpecError


def _prediction(i, smiles="CCO"):
    return Prediction.from_answer(
        id=f"img{i}", image=f"img{i}.png", question="q", answer=f"SMILES: {smiles}",
        engine="osra", model="osra", seconds=0.5,
    )


def test_record_fills_the_chemistry_fields():
    record = _prediction(1, "OCC")
    assert (record.smiles, record.canonical, record.valid) == ("OCC", "CCO", True)
    bad = _prediction(2, "C1CC")
    assert bad.smiles == "C1CC" and bad.canonical is None and not bad.valid


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "sdf"])
def test_writer_resumes_after_a_kill(tmp_path, suffix):
    path = tmp_path / f"out.{suffix}"
    writer = PredictionWriter(path)
    for i in range(3):
        writer.write(_prediction(i, "C1CC" if i == 1 else "CCO"))
    # A kill in the middle of the next record leaves half a line behind.
    with path.open("a") as handle:
        handle.write('{"id": "img3", "ima' if suffix == "jsonl" else "img3,img3.png,q,SMI" if suffix == "csv" else "img3\n  RDKit\n")
    resumed = PredictionWriter(path)
    assert resumed.done == {"img0", "img1", "img2"} and resumed.done_images == {"img0.png", "img1.png", "img2.png"}
    resumed.write(_prediction(3))
    assert PredictionWriter(path).done == {"img0", "img1", "img2", "img3"}
    assert PredictionWriter(path).done_images == {"img0.png", "img1.png", "img2.png", "img3.png"}
    if suffix == "jsonl":
        assert [r.id for r in read_predictions(path)] == ["img0", "img1", "img2", "img3"]
    if suffix == "sdf":
        from rdkit import Chem

        mols = list(Chem.SDMolSupplier(str(path)))
        assert len(mols) == 4 and mols[0].GetProp("canonical") == "CCO" and mols[1].GetNumAtoms() == 0


def test_writer_refuses_an_output_it_cannot_write(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder.csv").mkdir()
    for bad, message in [("out.txt", "must end in .jsonl"), ("file/out.jsonl", "is not a folder"),
                         ("folder.csv", "cannot be written")]:
        with pytest.raises(RecordFileError, match=message):  # a ValueError too, for callers of the library
            PredictionWriter(tmp_path / bad)


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_prediction(0).to_dict()) + "\n{broken\n")
    with pytest.raises(RecordFileError, match=r"p\.jsonl:2: not valid JSON"):
        read_predictions(path)


def test_model_specs(tmp_path):
    assert ModelSpec.parse("osra").kind == "osra"
    spec = ModelSpec.parse("openai:http://127.0.0.1:8000/v1/#qwen-vl")
    assert (spec.kind, spec.target, spec.model) == ("openai", "http://127.0.0.1:8000/v1", "qwen-vl")
    assert ModelSpec.parse("tiny").kind == "preset"
    (tmp_path / "config.json").write_text("{}")
    assert ModelSpec.parse(str(tmp_path)).kind == "local"
    ensemble = ModelSpec.parse(f"ensemble:osra,{tmp_path}")
    assert [m.kind for m in ensemble.members] == ["osra", "local"]
    for bad in ["", "nonsense-model", "openai:ftp://x", "ensemble:osra", str(tmp_path / "missing")]:
        with pytest.raises(ModelSpecError):
            ModelSpec.parse(bad)
