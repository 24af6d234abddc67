"""`ask` and `ocr` given what a hostile or careless user gives them: each bad input gets one line on stderr
that names it and exit status 2, before any work; resume and interrupts lose and duplicate nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from chemvlm.cli import app

ROOT = Path(__file__).parent.parent
CHEMVLM = Path(sys.executable).with_name("chemvlm")
FAST = "2008056680_159_chem.png"  # osra reads it in a fraction of a second
OTHER = "US07314693-20080101-C00332.png"


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *names, code=2):
    """The run failed with `code` and said so in one line that contains every one of `names`."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(str(name) in lines[0] for name in names), lines[0]
    assert result.stdout == ""


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def images(tmp_path, fixtures):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in (FAST, OTHER):
        (folder / name).write_bytes((fixtures / "ocsr" / name).read_bytes())
    return folder


def test_resume_recognises_a_file_however_its_path_is_typed(images, monkeypatch):
    monkeypatch.chdir(images.parent)
    out = images.parent / "r.jsonl"
    first = cli("ocr", images.resolve(), "-o", "r.jsonl", "--model", "osra")
    assert first.exit_code == 0, first.output
    # relative, with `..` and `./`, a file given twice: nothing is redone or written twice
    again = cli("ocr", "images", f"./images/../images/{FAST}", "-o", "r.jsonl", "--model", "osra")
    assert again.exit_code == 0, again.output
    assert "2 images: 2 already done, 0 recognised now" in again.stdout
    assert len(records(out)) == 2
    # ids keep the path as typed; `image` is the file read, absolute, so any later spelling finds it
    assert {r["id"] for r in records(out)} == {str(images.resolve() / FAST), str(images.resolve() / OTHER)}
    assert all(Path(r["image"]).is_absolute() for r in records(out))


def test_resume_from_another_directory_and_a_file_given_twice(images, monkeypatch):
    monkeypatch.chdir(images.parent)
    done = cli("ocr", f"images/{FAST}", f"images/{FAST}", "-o", "r.jsonl", "--model", "osra")
    assert done.exit_code == 0 and "1 images: 0 already done, 1 recognised now" in done.stdout
    monkeypatch.chdir(images)
    again = cli("ocr", ".", "-o", "../r.jsonl", "--model", "osra")
    assert again.exit_code == 0 and "2 images: 1 already done, 1 recognised now" in again.stdout
    assert [r["id"] for r in records(images.parent / "r.jsonl")] == [f"images/{FAST}", OTHER]


def test_result_files_of_earlier_versions_keep_resuming(images, monkeypatch):
    # Earlier versions wrote the path as typed in both `id` and `image`; it is read from where the run is.
    monkeypatch.chdir(images.parent)
    old = {"id": f"images/{FAST}", "image": f"images/{FAST}", "question": "q", "answer": "", "smiles": "",
           "canonical": None, "valid": False, "engine": "osra", "model": "osra", "seconds": 0.1, "error": None}
    (images.parent / "r.jsonl").write_text(json.dumps(old) + "\n")
    again = cli("ocr", images.resolve(), "-o", "r.jsonl", "--model", "osra")
    assert again.exit_code == 0 and "2 images: 1 already done, 1 recognised now" in again.stdout


@pytest.mark.parametrize("output, message", [
    ("out.txt", "out.txt: output must end in .jsonl, .csv or .sdf"),
    ("results", "results: output must end in .jsonl, .csv or .sdf"),
    ("a-file.png/r.jsonl", "a-file.png/r.jsonl: a-file.png is not a folder"),
    ("a-folder.jsonl", "a-folder.jsonl: cannot be written (Is a directory)"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(images, monkeypatch, output, message):
    monkeypatch.chdir(images)
    Path("a-file.png").write_bytes(b"x")
    Path("a-folder.jsonl").mkdir()
    # a model spec that would fail when loaded: the output is checked first
    one_line_error(cli("ocr", FAST, "-o", output, "--model", "no-such-model"), message)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_an_output_nobody_may_create_is_refused():
    # /proc takes no new files, not even from root (a read-only folder does not stop root)
    one_line_error(cli("ocr", "README.md", "-o", "/proc/chemvlm/r.jsonl", "--model", "osra"), "/proc/chemvlm/r.jsonl: cannot be written")


def test_an_output_that_is_not_text_is_refused(images):
    out = images / "r.jsonl"
    out.write_bytes(b"\xff\xfe\x00binary\n")
    one_line_error(cli("ocr", images / FAST, "-o", out, "--model", "osra"), out, "not a UTF-8 text file")


@pytest.mark.parametrize("args, option", [
    (["ask", "x.png", "q", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["ask", "x.png", "q", "--max-tiles", "0"], "--max-tiles"),
    (["ask", "x.png", "q", "--max-tiles", "-3"], "--max-tiles"),
    (["ask", "x.png", "q", "--max-tiles", "many"], "--max-tiles"),
    (["ocr", "x.png", "-o", "r.jsonl", "--batch-size", "0"], "--batch-size"),
    (["ocr", "x.png"], "--output"),
    (["ask", "x.png", "q", "--no-such-option"], "--no-such-option"),
    (["no-such-command"], "no-such-command"),
])
def test_bad_options_are_one_line_naming_the_option(tmp_path, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)
    one_line_error(cli(*args, "--model", "tiny"), option)
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_ask_without_a_question_names_what_it_got():
    one_line_error(cli("ask", "x.png"), "x.png", "give at least one image and a question")


def test_a_directory_says_which_files_it_skips(images):
    (images / "drawing.SVG").write_text("<svg/>")
    (images / "notes.txt").write_text("hello")
    out = images.parent / "r.jsonl"
    result = cli("ocr", images, "-o", out, "--model", "osra")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[:2] == [
        f"{images / 'drawing.SVG'}: skipped, SVG drawings are not read yet",
        f"{images / 'notes.txt'}: skipped, not an image",
    ]
    assert "2 images: 0 already done, 2 recognised now (2 valid SMILES, 0 failed), 2 other files skipped" in result.stdout
    assert {Path(r["id"]).name for r in records(out)} == {FAST, OTHER}


def test_a_file_of_a_kind_not_read_named_on_the_command_line_gets_a_record_that_says_why(images):
    (images / "drawing.svg").write_text("<svg/>")
    out = images.parent / "r.jsonl"
    result = cli("ocr", images / "drawing.svg", images / FAST, "-o", out, "--model", "osra")
    assert result.exit_code == 0, result.output
    assert "2 images: 0 already done, 2 recognised now (1 valid SMILES, 1 failed)" in result.stdout
    drawing = next(r for r in records(out) if r["id"].endswith("drawing.svg"))
    assert drawing["error"] == f"{images / 'drawing.svg'}: SVG drawings are not read yet" and not drawing["valid"]
    again = cli("ocr", images / "drawing.svg", "-o", out, "--model", "osra")
    assert "1 images: 1 already done, 0 recognised now" in again.stdout


def test_a_damaged_pdf_in_a_folder_is_one_error_line_and_the_images_are_read(images):
    (images / "scheme.pdf").write_bytes(b"%PDF-1.4\n")
    out = images.parent / "r.jsonl"
    result = cli("ocr", images, "-o", out, "--model", "osra")
    assert result.exit_code == 2, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {images / 'scheme.pdf'}: a PDF without pages"]
    assert {Path(r["id"]).name for r in records(out)} == {FAST, OTHER}


def run_chemvlm(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # stderr is a pipe: rich would use 80 columns
    return subprocess.run([CHEMVLM, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize("args, names", [
    (["ask", "/no/such/folder/" + "a-rather-long-file-name-" * 5 + ".png", "q", "--model", "osra"], ["no such file"]),
    (["ocr", "README.md", "-o", "/tmp/" + "deep/" * 20 + "out.txt", "--model", "osra"], ["out.txt: output must end in"]),
    (["ask", "x.png", "q", "--max-tiles", "a-long-word-that-is-not-a-number-" * 3], ["--max-tiles", "valid integer"]),
])
def test_errors_of_the_installed_command_are_one_line_however_long(args, names):
    done = run_chemvlm(*args, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and all(name in done.stderr for name in names)


def osra_processes(marker: str) -> list[int]:
    """Running osra processes whose command line mentions `marker` (whoever their parent is now)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # not a process, or it just ended
        if command and command[0].endswith(b"osra") and any(marker.encode() in part for part in command):
            found.append(int(entry.name))
    return found


@pytest.fixture
def slow_folder(images, fixtures):
    """Two quick images, then one that osra spends minutes on (a drawing scaled up four times) and a quick one."""
    picture = Image.open(fixtures / "ocsr" / OTHER).convert("L")
    picture.resize((picture.width * 4, picture.height * 4)).save(images / "c-slow.png")
    (images / "d-quick.png").write_bytes((fixtures / "ocsr" / FAST).read_bytes())
    (images / FAST).rename(images / "a-quick.png")
    (images / OTHER).rename(images / "b-quick.png")
    yield images
    for pid in osra_processes(str(images)):  # what a failing run left behind
        os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_a_terminated_run_keeps_its_records_and_leaves_no_osra_behind(slow_folder):
    out = slow_folder.parent / "r.jsonl"
    run = subprocess.Popen([CHEMVLM, "ocr", slow_folder, "-o", out, "--model", "osra"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(b"c-slow.png" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in osra_processes(str(slow_folder))):
        assert time.monotonic() < deadline and run.poll() is None, "osra never started on the slow image"
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)  # to chemvlm alone, as `kill` and service managers send it
    stdout, stderr = run.communicate(timeout=30)
    assert osra_processes(str(slow_folder)) == []
    assert run.returncode == 130 and "Traceback" not in stderr
    assert f"interrupted: 2 of 4 images are in {out}; the same command resumes" in stderr
    assert [Path(r["id"]).name for r in records(out)] == ["a-quick.png", "b-quick.png"]
    quick = [slow_folder / name for name in ("a-quick.png", "b-quick.png", "d-quick.png")]
    again = run_chemvlm("ocr", *quick, "-o", out, "--model", "osra")
    assert again.returncode == 0 and "3 images: 2 already done, 1 recognised now" in again.stdout
    assert sorted(Path(r["id"]).name for r in records(out)) == ["a-quick.png", "b-quick.png", "d-quick.png"]
