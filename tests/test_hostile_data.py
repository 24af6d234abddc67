"""Hostile input to `chemvlm data build` and `chemvlm score`, through the real command line on real files.

Each bad input gets one line naming it (file and line where there is one) or the right result: a bad row
of a good source file is skipped and counted, a bad config fails before any work, ids that cannot be
scored are named in a warning and left out.
"""

import gzip
import json
import random

import pytest
import yaml
from typer.testing import CliRunner

from chemvlm.cli import app

GOOD = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def config(tmp_path, **settings) -> str:
    """A small, fast build config: a few molecules, one task, one style family, no reactions."""
    data = {"name": "t", "seed": 1, "molecules": ["mols.smi"], "reactions": [], "workers": 1, "shard_size": 10,
            "holdout": 0, "tasks": {"ocr": 1}, "families": {"rdkit": 1}, "augment": 0} | settings
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    if not (tmp_path / "mols.smi").exists():
        (tmp_path / "mols.smi").write_text("\n".join(GOOD) + "\n")
    return path


def line_of(path, key: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(f"{key}:"))


def build(tmp_path, cfg):
    return run("data", "build", cfg, "-o", tmp_path / "out")


def samples(tmp_path) -> int:
    return json.loads((tmp_path / "out" / "meta.json").read_text())["t"]["length"]


# --- data build: a bad row of a good file is skipped and counted, with its file and line


def test_a_byte_that_is_not_utf8_costs_its_row_only(tmp_path):
    source = tmp_path / "mols.csv"
    source.write_bytes(b"smiles,name\nCCO,ethanol\nc1ccccc1O,ph\xffenol\nCC(=O)O,acetic acid\n")
    result = build(tmp_path, config(tmp_path, molecules=["mols.csv"]))
    assert result.exit_code == 0, result.output
    assert one_line(result.stderr) == f"skipped 1 bad row(s) of {source}; the first: {source}:3: not UTF-8 text (byte 0xff)"
    assert "bad rows 1" in result.stdout and samples(tmp_path) == 2
    again = build(tmp_path, config(tmp_path, molecules=["mols.csv"]))  # a rerun resumes: nothing redone or lost
    assert again.exit_code == 0 and "(1 shards already done)" in again.stdout and samples(tmp_path) == 2


def test_a_csv_field_over_the_csv_limit_costs_its_row_only(tmp_path):
    source = tmp_path / "mols.csv"
    source.write_text(f"smiles,name\nCCO,ethanol\nCCCC,{'x' * 140_000}\nCC(=O)O,acetic acid\n")
    result = build(tmp_path, config(tmp_path, molecules=["mols.csv"]))
    assert result.exit_code == 0, result.output
    assert f"{source}:3: unreadable CSV row (field larger than field limit (131072))" in one_line(result.stderr)
    assert samples(tmp_path) == 2


def test_bad_rows_are_counted_per_file(tmp_path):
    (tmp_path / "a.smi").write_text("CCO\nnot_a_smiles\nC1CC\nCCN\n")
    (tmp_path / "b.smi").write_text("CCCl\n\nxyz\n")
    result = build(tmp_path, config(tmp_path, molecules=["a.smi", "b.smi"]))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"skipped 2 bad row(s) of {tmp_path / 'a.smi'}; the first: {tmp_path / 'a.smi'}:2: invalid SMILES 'not_a_smiles'",
        f"skipped 1 bad row(s) of {tmp_path / 'b.smi'}; the first: {tmp_path / 'b.smi'}:3: invalid SMILES 'xyz'",
    ]
    assert "bad rows 3" in result.stdout


def test_a_byte_order_mark_does_not_hide_the_smiles_column(tmp_path):
    (tmp_path / "mols.csv").write_bytes("\ufeffsmiles,name\nCCO,ethanol\nCCN,ethylamine\n".encode("utf-8"))
    result = build(tmp_path, config(tmp_path, molecules=["mols.csv"]))
    assert result.exit_code == 0, result.output
    assert samples(tmp_path) == 2


def test_molecules_given_as_one_file_name_means_that_file(tmp_path):
    result = build(tmp_path, config(tmp_path, molecules="mols.smi"))
    assert result.exit_code == 0, result.output
    assert samples(tmp_path) == len(GOOD)


# --- data build: a source file that cannot be read at all is an error naming it, before any output


def test_a_csv_gz_that_is_not_gzip_names_the_file(tmp_path):
    source = tmp_path / "mols.csv.gz"
    source.write_text("smiles\nCCO\n")
    result = build(tmp_path, config(tmp_path, molecules=["mols.csv.gz", "mols.smi"]))
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith(f"error: {source}: cannot be read (Not a gzipped file")
    assert not (tmp_path / "out").exists()


def test_a_truncated_gzip_names_the_file(tmp_path):
    source = tmp_path / "mols.csv.gz"
    rng = random.Random(0)
    text = "smiles,name\n" + "".join(f"CCO,{rng.getrandbits(64):x}\n" for _ in range(5000))
    packed = gzip.compress(text.encode())
    source.write_bytes(packed[: len(packed) // 2])  # a download cut short
    result = build(tmp_path, config(tmp_path, molecules=["mols.csv.gz"]))
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith(f"error: {source}: cannot be read (")


def test_sources_without_a_single_usable_row_are_an_error(tmp_path):
    (tmp_path / "mols.smi").write_text("not_a_smiles\nC1CC\n")
    result = build(tmp_path, config(tmp_path))
    assert result.exit_code == 2
    assert one_line(result.stderr) == (f"error: no usable molecule or reaction in {tmp_path / 'mols.smi'}"
                                       " (2 rows read, 2 bad, 0 filtered out)")
    assert not (tmp_path / "out").exists()


# --- data build: config errors fail before any work, naming the config file, line and key


@pytest.mark.parametrize("key, value, message", [
    ("max_molecules", "twenty", "expected an integer, got 'twenty'"),
    ("seed", True, "expected an integer, got True"),
    ("molecules", [1, 2], "expected a list of files, got [1, 2]"),
    ("families", {"rdkit": 1, "chalk": 2}, "unknown style family 'chalk'; use rdkit, rdkit-abbrev, rdkit-hand, indigo"),
    ("tasks", {"ocr": 1, "smell": 1}, "unknown task 'smell'; use ocr, formula, weight, rings"),
    ("languages", {"fr": 1}, "unknown language 'fr'; use en, zh"),
    ("tasks", {"ocr": 0}, "needs at least one task with a weight above 0"),
    ("holdout", 1, "must be at least 0 and below 1, got 1"),
    ("clean_share", -0.5, "must be between 0 and 1, got -0.5"),
    ("shard_size", 0, "must be at least 1, got 0"),
    ("image_format", "gif", "must be png or jpeg, got 'gif'"),
    ("filter", {"min_heavy": "three"}, "filter: '>' not supported"),
    ("mix", [{"name": "x"}], "each entry needs 'name' and 'annotation'"),
])
def test_a_bad_config_value_names_the_file_line_and_key(tmp_path, key, value, message):
    cfg = config(tmp_path, **{key: value})
    result = build(tmp_path, cfg)
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert line.startswith(f"error: {cfg}:{line_of(cfg, key)}: {key}: ") and message in line, line
    assert not (tmp_path / "out").exists()  # nothing was started


def test_a_config_that_is_not_utf8_or_not_a_mapping(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(b"name: t\nseed: 1\nmolecules: [caf\xe9.smi]\n")
    assert one_line(build(tmp_path, cfg).stderr) == f"error: {cfg}:3: not UTF-8 text (byte 0xe9)"
    cfg.write_text("- name: t\n- seed: 1\n")
    result = build(tmp_path, cfg)
    assert result.exit_code == 2 and one_line(result.stderr) == f"error: {cfg}: expected a mapping of config keys, got list"


def test_bad_shards_option(tmp_path):
    result = run("data", "build", config(tmp_path), "-o", tmp_path / "out", "--shards", "a:b")
    assert result.exit_code == 2 and one_line(result.stderr) == "error: --shards 'a:b': use START:STOP, e.g. 0:10"


# --- score: ids that cannot be scored are named, with file and line, and left out; the first of an id wins


@pytest.fixture
def items(tmp_path):
    path = tmp_path / "items.jsonl"
    rows = [{"id": i, "question": "SMILES?", "answer": s, "kind": "smiles"} for i, s in (("a", "CCO"), ("b", "CCN"), ("7", "CCC"))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def score(items, tmp_path, *records):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run("score", items, predictions, "--items", items, "-o", tmp_path / "scores.json")
    assert result.exit_code == 0, result.output
    return predictions, result, json.loads((tmp_path / "scores.json").read_text())


def exact(result) -> tuple[int, float]:
    overall = result["smiles"]["overall"]
    return overall["n"], overall["exact"]


def test_a_dict_valued_id_is_named_and_left_out(items, tmp_path):
    path, result, scores = score(items, tmp_path, {"id": {"x": 1}, "answer": "CCO"}, {"id": "a", "answer": "CCO"})
    assert one_line(result.stderr) == f"warning: {path}:1: id {{'x': 1}} is not a string or an integer; not scored"
    assert scores["answered"] == 1 and exact(scores) == (1, 100.0)


def test_a_null_or_missing_id_is_named_and_left_out(items, tmp_path):
    path, result, scores = score(items, tmp_path, {"id": None, "answer": "CCO"}, {"answer": "CCN"}, {"id": "a", "answer": "CCO"})
    assert result.stderr.splitlines() == [f"warning: {path}:1: no id; not scored", f"warning: {path}:2: no id; not scored"]
    assert scores["answered"] == 1


def test_a_duplicate_id_is_named_and_the_first_is_scored(items, tmp_path):
    path, result, scores = score(items, tmp_path, {"id": "a", "answer": "CCO"}, {"id": "b", "answer": "CCN"},
                                 {"id": "a", "answer": "CCCCCC"})
    assert one_line(result.stderr) == f"warning: {path}:3: duplicate id 'a', first at line 1; not scored"
    assert scores["answered"] == 2 and exact(scores) == (2, 100.0)  # not double-counted, the first answer kept


def test_an_unknown_id_is_named_and_an_integer_id_matches(items, tmp_path):
    path, result, scores = score(items, tmp_path, {"id": "zz", "answer": "CCO"}, {"id": 7, "answer": "CCC"})
    assert one_line(result.stderr) == f"warning: {path}:1: id 'zz' is not an item of {items}; not scored"
    assert scores["answered"] == 1 and exact(scores) == (1, 100.0)


def test_duplicate_ids_in_a_generated_ground_truth_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"id": "q1", "generated": "CCO", "ground_truth": "CCO"}, {"id": "q1", "generated": "C", "ground_truth": "CCN"},
            {"generated": "CCN", "ground_truth": "CCN"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("score", "chemocr", path, "-o", tmp_path / "scores.json")
    assert result.exit_code == 0, result.output
    assert one_line(result.stderr) == f"warning: {path}:2: duplicate id 'q1', first at line 1; not scored"
    assert exact(json.loads((tmp_path / "scores.json").read_text())) == (2, 100.0)


def test_many_warnings_are_capped(items, tmp_path):
    path, result, _ = score(items, tmp_path, *({"id": f"x{n}", "answer": "C"} for n in range(30)))
    lines = result.stderr.splitlines()
    assert len(lines) == 21 and lines[-1] == f"warning: 10 more records of {path} not scored"


@pytest.mark.parametrize("which", ["predictions", "items"])
def test_a_file_that_is_not_utf8_names_the_file_and_line(items, tmp_path, which):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text('{"id": "a", "answer": "CCO"}\n')
    bad = predictions if which == "predictions" else items
    bad.write_bytes(bad.read_bytes() + b'{"id": "b", "answer": "\xff"}\n')
    result = run("score", items, predictions, "--items", items)
    assert result.exit_code == 1
    line = len(bad.read_bytes().splitlines())
    assert one_line(result.stderr) == f"error: {bad}:{line}: not UTF-8 text (byte 0xff)"


# --- JSONL and key files: a byte that is not UTF-8 is named with its file and line, whoever reads it


@pytest.mark.parametrize("reader", ["predictions", "exam"])
def test_a_jsonl_byte_that_is_not_utf8_names_the_file_and_line(tmp_path, reader):
    from chemvlm.data.exam import ExamFormatError, import_exam
    from chemvlm.record import RecordFileError, read_predictions

    read, error = {"predictions": (read_predictions, RecordFileError),
                   "exam": (lambda p: import_exam(p, check_images=False), ExamFormatError)}[reader]
    path = tmp_path / "lines.jsonl"
    good = json.dumps({"id": "1", "answer": "A", "question": "é?"}, ensure_ascii=False).encode()
    path.write_bytes(good + b"\n\n" + good + b"\n" + b'{"id": "2", "answer": "caf\xe9"}\n')
    with pytest.raises(error) as caught:
        read(path)
    assert str(caught.value) == f"{path}:4: not UTF-8 text (byte 0xe9)"


def test_a_jsonl_line_that_is_not_utf8_is_skipped_when_errors_are_collected(tmp_path):
    from chemvlm.jsonl import iter_jsonl

    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": "\xff"}\n{"n": 3}\n')
    problems = []
    rows = [row["n"] for _, row in iter_jsonl(path, on_error=lambda where, why: problems.append(f"{where}: {why}"))]
    assert rows == [1, 3] and problems == [f"{path}:2: not UTF-8 text (byte 0xff)"]


def test_a_keys_file_that_is_not_utf8_names_the_file_and_line(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_bytes(b"# InChIKey first block<TAB>benchmark\nAAAAAAAAAAAAAA\tocsr\nBBBBBBBBBBBBBB\tb\xe9nch\n")
    result = build(tmp_path, config(tmp_path, benchmark_keys="keys.txt"))
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"error: {keys}:3: not UTF-8 text (byte 0xe9)"
