"""`chemvlm eval` (resumable, appended predictions), scores and `chemvlm report`, end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import typer
from typer.testing import CliRunner

from chemvlm.bench.cli import register
from chemvlm.bench.items import BenchItem, write_items
from chemvlm.chem import draw_molecule
from test_bench_openai import ChatServer, free_port, text_of


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    register(app)
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def drawn_bench(tmp_path):
    """Six ChemOCR-style items on RDKit drawings; the question carries the id for the test server."""
    smiles = ["CCO", "c1ccccc1", "CC(=O)O", "CCN", "C1CCCCC1", "OC(=O)c1ccccc1"]
    items = []
    for n, s in enumerate(smiles):
        path = tmp_path / f"m{n}.png"
        path.write_bytes(draw_molecule(s, size=(200, 160)))
        items.append(BenchItem(id=f"m{n}", question=f"item m{n}", answer=s, images=[str(path)],
                               subset="even" if n % 2 == 0 else "odd", language="en"))
    write_items(tmp_path / "bench.jsonl", items)
    return tmp_path / "bench.jsonl", dict(zip([i.id for i in items], smiles))


def test_osra_on_real_patent_images(cli, fixtures, tmp_path):
    out = tmp_path / "run"
    result = cli("eval", "--bench", "ocsr-real/uspto_osra", "--model", "osra", "--data", fixtures / "bench",
                 "-o", out, "--workers", "2")
    assert result.exit_code == 0, result.output
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(json.loads(line)["engine"] == "osra" for line in lines)
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    overall = scores["smiles"]["overall"]
    assert overall["n"] == 2 and overall["validity"] == 100.0
    assert overall["exact"] >= 50.0  # osra reads the dimethoxytoluene (US07321063 C00398) exactly
    assert "| all | 2 |" in (out / "scores.md").read_text(encoding="utf-8")


def test_killed_run_resumes_without_redoing_items(drawn_bench, tmp_path):
    bench, truth = drawn_bench
    seen = []

    def slow(body):
        item = text_of(body).split()[-1]
        seen.append(item)
        time.sleep(0.4)
        return 200, f"The SMILES representation is {truth[item]}."

    out = tmp_path / "run"
    with ChatServer(slow) as server:
        command = [sys.executable, "-m", "chemvlm.bench.cli", "eval", "--bench", str(bench), "--model",
                   f"openai:{server.url}#m", "-o", str(out), "--workers", "1"]
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        predictions = out / "predictions.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not predictions.exists() or len(predictions.read_bytes().splitlines()) < 2):
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        done_before = [json.loads(line)["id"] for line in predictions.read_text(encoding="utf-8").splitlines()]
        assert 2 <= len(done_before) < 6
        asked_before = len(seen)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    ids = [json.loads(line)["id"] for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == sorted(truth)  # every item once: nothing lost, nothing doubled
    assert not set(seen[asked_before:]) & set(done_before)  # the resumed run did not redo finished items
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    assert scores["smiles"]["overall"]["exact"] == 100.0 and set(scores["smiles"]["by_subset"]) == {"even", "odd"}


def test_limit_and_report_put_systems_side_by_side(cli, drawn_bench, tmp_path):
    bench, truth = drawn_bench
    runs = []
    with ChatServer(lambda body: (200, f"SMILES: {truth[text_of(body).split()[-1]]}")) as right, \
            ChatServer(lambda body: (200, "SMILES: CCCCCCCC")) as wrong:
        for name, server in (("right", right), ("wrong", wrong)):
            out = tmp_path / name
            result = cli("eval", "--bench", bench, "--model", f"openai:{server.url}#{name}", "-o", out, "-n", 4)
            assert result.exit_code == 0, result.output
            runs.append(out)
    assert len((runs[0] / "predictions.jsonl").read_text(encoding="utf-8").splitlines()) == 4
    report = tmp_path / "cmp" / "report.md"
    result = cli("report", *runs, "-o", report)
    assert result.exit_code == 0, result.output
    text = report.read_text(encoding="utf-8")
    rows = {cells[1].rsplit("#")[-1]: cells for cells in
            ([c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| all |"))}
    assert rows["right"][2] == rows["wrong"][2] == "4"  # n: --limit 4
    assert rows["right"][5] == "100.00" and rows["wrong"][5] == "0.00"  # Tanimoto@1.0
    assert (report.with_suffix(".png")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_directory_holds_one_run(cli, drawn_bench, tmp_path):
    bench, truth = drawn_bench
    with ChatServer(lambda body: (200, "CCO")) as server:
        assert cli("eval", "--bench", bench, "--model", f"openai:{server.url}#a", "-o", tmp_path / "r", "-n", 1).exit_code == 0
        result = cli("eval", "--bench", bench, "--model", f"openai:{server.url}#b", "-o", tmp_path / "r", "-n", 1)
    assert result.exit_code == 1 and "holds a run of" in result.output


def test_bad_inputs_give_one_line(cli, fixtures, tmp_path, drawn_bench):
    bench, _ = drawn_bench
    unreachable = cli("eval", "--bench", bench, "--model", f"openai:http://127.0.0.1:{free_port()}/v1#m",
                      "-o", tmp_path / "u", "--retries", 0)
    assert unreachable.exit_code == 1 and "Traceback" not in unreachable.output
    errors = [line for line in unreachable.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot connect" in errors[0] and "1 attempts" in errors[0]
    no_images = cli("eval", "--bench", fixtures / "bench" / "chemvlm-original" / "chembench_property.sample.jsonl",
                    "--model", "osra", "-o", tmp_path / "p")
    assert no_images.exit_code == 1 and "3 image(s) are not here" in no_images.output
    bad_spec = cli("eval", "--bench", bench, "--model", "gpt5", "-o", tmp_path / "s")
    assert bad_spec.exit_code == 1 and "model spec 'gpt5'" in bad_spec.output
    unknown = cli("eval", "--bench", "nosuch", "--model", "osra", "-o", tmp_path / "n")
    assert unknown.exit_code == 1 and "unknown benchmark 'nosuch'" in unknown.output
    missing = cli("report", tmp_path / "nothing")
    assert missing.exit_code == 1 and "scores.json: no such file" in missing.output
