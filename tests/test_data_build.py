"""`chemvlm data build`: deterministic, resumable, bad rows reported with their line numbers, InternVL output."""

import json
import tarfile

import typer
import yaml
from typer.testing import CliRunner

from chemvlm.data.build import build, open_image
from chemvlm.data.cli import register
from chemvlm.data.config import load_config


def _config(tmp_path, **extra):
    mols = tmp_path / "mols.smi"
    mols.write_text("CCO ethanol\nnot_a_smiles\nc1ccccc1O phenol\nCC(=O)Oc1ccccc1C(=O)O aspirin\nC1CC\n"
                    "CN1CCC[C@H]1c1cccnc1 nicotine\nCC(C)(C)OC(=O)NCC(=O)O\nFC(F)(F)c1ccc(Cl)cc1\n")
    rxns = tmp_path / "rxns.smi"
    rxns.write_text("CCO.CC(=O)O>>CCOC(C)=O\n")
    data = {"name": "t", "seed": 3, "molecules": ["mols.smi"], "reactions": ["rxns.smi"], "shard_size": 3,
            "workers": 1, "holdout": 0.2, "samples_per_molecule": 2, "benchmark_keys": None} | extra
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _read(out):
    return (out / "t.jsonl").read_text(), {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.tar"))}


def test_build_is_deterministic_and_resumable(tmp_path):
    config = load_config(_config(tmp_path))
    summary = build(config, tmp_path / "a")
    assert summary["bad_rows"] == 2
    assert [b.split(": ", 1)[0].rsplit(":", 1)[1] for b in summary["bad_row_examples"]] == ["2", "5"]
    build(config, tmp_path / "b")
    assert _read(tmp_path / "a") == _read(tmp_path / "b")
    # an interrupted build: drop a finished shard and the merged files, leave a half-written temp file
    c = tmp_path / "c"
    build(config, c)
    (c / "shards" / "t-00001.tar").unlink()
    (c / "t.jsonl").unlink()
    (c / "shards" / "t-00001.tar.tmp").write_bytes(b"partial")
    kept = (c / "shards" / "t-00000.tar").stat().st_mtime_ns
    build(config, c)
    assert (c / "shards" / "t-00000.tar").stat().st_mtime_ns == kept  # finished shards are not redone
    assert _read(c) == _read(tmp_path / "a")


def test_output_is_internvl(tmp_path):
    out = tmp_path / "o"
    build(load_config(_config(tmp_path)), out)
    meta = json.loads((out / "meta.json").read_text())
    lines = (out / "t.jsonl").read_text().splitlines()
    assert meta["t"]["length"] == len(lines) and meta["t"]["repeat_time"] == 1
    holdout = {json.loads(l)["smiles"] for l in (out / "holdout_rows.jsonl").read_text().splitlines()}
    for line in lines:
        sample = json.loads(line)
        human, gpt = sample["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n") and gpt["from"] == "gpt"
        assert open_image(out, sample["image"]).size[0] >= 300
        assert sample["meta"]["label"] not in holdout  # the hold-out never leaks into training
    with tarfile.open(next((out / "shards").glob("*.tar"))) as tar:
        assert all(m.name.endswith(".png") for m in tar.getmembers())
    assert (out / "contact_sheet.png").stat().st_size > 1000 and "| task | samples |" in (out / "README.md").read_text()


def test_cli_on_a_plain_typer_app(tmp_path):
    app = typer.Typer()

    @app.callback()
    def main():
        pass

    register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["data", "build", str(_config(tmp_path)), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "mols.smi:2" in result.output and (tmp_path / "out" / "meta.json").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\nsamples: 3\n")
    result = runner.invoke(app, ["data", "build", str(bad), "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown config keys ['samples']" in result.output
