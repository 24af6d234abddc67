import json

import pytest

from dataclasses import replace

from chemvlm.record import FIELDS, Prediction, PredictionWriter, RecordFileError, read_predictions, read_records
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


def _on_a_page(i):
    return replace(_prediction(i), id=f"paper.pdf#p2#{i}", document="paper.pdf", page=2, bbox=[10.0, 20.5, 300.0, 400.0],
                   page_size=[1654, 2339], label="12a" if i == 1 else None, confidence=0.75)


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "sdf"])
def test_document_fields_are_written_and_read_back_in_every_format(tmp_path, suffix):
    path = tmp_path / f"out.{suffix}"
    writer = PredictionWriter(path)
    written = [_on_a_page(1), _on_a_page(2), _prediction(3)]  # a single image's record has none of them
    for record in written:
        writer.write(record)
    assert _prediction(3).document is None and _prediction(3).confidence is None
    assert read_records(path) == written
    if suffix == "sdf":  # page, box and label are SDF properties
        from rdkit import Chem

        first = next(iter(Chem.SDMolSupplier(str(path))))
        assert (first.GetProp("page"), first.GetProp("bbox"), first.GetProp("label")) == ("2", "[10.0, 20.5, 300.0, 400.0]", "12a")


def test_old_records_without_the_document_fields_still_read_and_resume(tmp_path):
    old = {k: v for k, v in _prediction(0).to_dict().items() if k in FIELDS[:11]}  # the record before documents
    (tmp_path / "old.jsonl").write_text(json.dumps(old) + "\n")
    (record,) = read_predictions(tmp_path / "old.jsonl")
    assert record.page is None and record.bbox is None and record.id == "img0"
    csv_path = tmp_path / "old.csv"
    csv_path.write_text(",".join(FIELDS[:11]) + "\n" + ",".join("" if old[k] is None else str(old[k]) for k in FIELDS[:11]) + "\n")
    writer = PredictionWriter(csv_path)
    assert writer.done == {"img0"}
    writer.write(_on_a_page(1))  # the file keeps its columns, so that its rows stay aligned
    assert [r.id for r in read_records(csv_path)] == ["img0", "paper.pdf#p2#1"]
    assert csv_path.read_text().splitlines()[0] == ",".join(FIELDS[:11])


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
