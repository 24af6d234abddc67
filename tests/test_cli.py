"""The `chemvlm` command end to end, as a user runs it (real osra, real files)."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chemvlm.spec import BUNDLED_MODEL

ROOT = Path(__file__).parent.parent


def chemvlm(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "chemvlm", *map(str, args)], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "COLUMNS": "200"}, timeout=300,
    )


def test_ask_with_osra_on_a_real_patent_image(fixtures):
    image = fixtures / "ocsr" / "US07314693-20080101-C00332.png"
    done = chemvlm("ask", image, "What molecule is this?", "--model", "osra", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["canonical"] == "CC(C)c1cc(S)cc(C(C)C)c1O" and record["engine"] == "osra"
    zh = chemvlm("ask", image, "这是什么分子？", "--model", "osra")
    assert zh.returncode == 0 and "按SMILES来说是 CC(C)c1cc(S)cc(C(C)C)c1O" in zh.stdout
    assert "C12H18OS" in zh.stdout and "osra" in zh.stdout


def test_ocr_directory_resumes_and_writes_every_format(tmp_path, fixtures):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("US07314693-20080101-C00332.png", "2008056680_159_chem.png"):
        (images / name).write_bytes((fixtures / "ocsr" / name).read_bytes())
    (images / "broken.png").write_text("not an image")
    out = tmp_path / "results.csv"
    first = chemvlm("ocr", images / "2008056680_159_chem.png", "-o", out, "--model", "osra")
    assert first.returncode == 0, first.stderr
    second = chemvlm("ocr", images, "-o", out, "--model", "osra")
    assert second.returncode == 0, second.stderr
    assert "1 already done, 2 recognised now" in second.stdout
    rows = {Path(r["id"]).name: r for r in csv.DictReader(out.open())}
    assert set(rows) == {"2008056680_159_chem.png", "US07314693-20080101-C00332.png", "broken.png"}
    assert rows["2008056680_159_chem.png"]["canonical"] == "CC(C)(O)Cc1cccc(CC(=O)O)c1"
    assert "not a readable image" in rows["broken.png"]["error"]
    sdf = chemvlm("ocr", images / "US07314693-20080101-C00332.png", "-o", tmp_path / "r.sdf", "--model", "osra")
    assert sdf.returncode == 0 and "$$$$" in (tmp_path / "r.sdf").read_text()


def test_ask_with_a_checkpoint_directory(tmp_path, molecule_png):
    shutil.copytree(BUNDLED_MODEL, tmp_path / "ckpt")  # a checkpoint by its path, not by the bundled name
    (tmp_path / "m.png").write_bytes(molecule_png)  # a drawing of aspirin
    done = chemvlm("ask", tmp_path / "m.png", "What is it?", "--model", tmp_path / "ckpt", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["engine"] == "chemvlm" and record["model"] == str(tmp_path / "ckpt")
    assert record["canonical"] == "CC(=O)Oc1ccccc1C(=O)O"
    # the bare SMILES the model gives is explained with aspirin's facts
    assert "Formula C9H8O4, molecular weight 180.16 g/mol, InChIKey BSYNRYMUTXBXSQ-UHFFFAOYSA-N" in record["answer"]


def test_info_reports_parameter_counts():
    done = chemvlm("info", "chemvlm-26b")
    assert done.returncode == 0 and "25,514,186,112" in done.stdout and "256 tokens per tile" in done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", "missing.png", "q", "--model", "osra"], "missing.png: no such file"),
        (["ask", "README.md", "q", "--model", "osra"], "README.md: not a readable image"),
        (["ask", "README.md", "q", "--model", "no-such-model"], "model spec 'no-such-model'"),
        (["info", "nothing"], "nothing: not a checkpoint directory or a preset"),
        (["info", "docs"], "docs: not a checkpoint directory (no config.json)"),
        (["ask", "README.md", "q", "-m", "docs"], "model spec 'docs': not a checkpoint directory (no config.json)"),
        (["ask", "README.md", "q", "--model", "chemvlm-26b"], "a preset has no trained weights"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message):
    done = chemvlm(*args, cwd=ROOT)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
