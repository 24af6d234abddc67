"""`--ray`: `chemvlm ocr` spreads the pages of a folder of PDFs over a local Ray cluster started here with 2
CPUs and writes the records of the run without it, resumes after a kill with or without --ray; `chemvlm data
build --ray` writes the files of the local build. Without Ray, --ray is a one-line error."""

import json
import sys

import pytest
from typer.testing import CliRunner

from chemvlm.cli import app
from chemvlm.cluster import optional_address
from chemvlm.documents.resume import PageLog
from test_data_build import _config, _read
from test_document_ocr import DRAWN, _paper


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def papers(tmp_path_factory):
    """Three PDFs, five pages: two structures on a page, one, and a page without any."""
    folder = tmp_path_factory.mktemp("papers")
    _paper(folder / "a.pdf")
    _paper(folder / "b.pdf", structures=[("c1ccc2ccccc2c1", "7", 1, 72, 120)], pages=1)
    _paper(folder / "c.pdf", structures=[DRAWN[2][:2] + (2, 150, 200)], pages=2)
    return folder


@pytest.fixture(scope="module")
def reference(papers, tmp_path_factory):
    """The records of the run on this machine alone."""
    out = tmp_path_factory.mktemp("local") / "out.jsonl"
    done = cli("ocr", papers, "-o", out, "--model", "osra")
    assert done.exit_code == 0, done.output
    return records(out)


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def same(found, reference):
    """The same records (but for the time spent), each page's in the same order; pages may come in any order."""
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in found]
    ids = [r["id"] for r in strip]
    assert len(ids) == len(set(ids)), ids
    pages = lambda rs: {(r["image"], r["page"]): [x for x in rs if (x["image"], x["page"]) == (r["image"], r["page"])]
                        for r in rs}
    assert pages(strip) == pages([{k: v for k, v in r.items() if k != "seconds"} for r in reference])


def test_ocr_on_ray_gives_the_records_of_one_machine(cluster, papers, reference, tmp_path, monkeypatch):
    monkeypatch.chdir(papers.parent)  # documents as typed: a relative folder
    out = tmp_path / "out.jsonl"
    done = cli("ocr", papers.name, "--ray", "-o", out, "--model", "osra")
    assert done.exit_code == 0, done.output
    assert "3 documents: 0 pages already done, 5 read now (5 structures" in done.stdout
    assert f"{papers.name}/c.pdf: page 2/2, 1 structures" in done.stderr
    assert all(r["id"].startswith(papers.name + "/") for r in records(out))
    same(records(out), [r | {"id": r["id"].replace(str(papers), papers.name),
                             "document": r["document"].replace(str(papers), papers.name)} for r in reference])
    pages = [json.loads(line) for line in (tmp_path / "out.jsonl.pages.jsonl").read_text().splitlines()]
    assert sorted((p["document"], p["page"]) for p in pages) == sorted(
        {(str(papers / name), page) for name, page in [("a.pdf", 1), ("a.pdf", 2), ("b.pdf", 1), ("c.pdf", 1),
                                                       ("c.pdf", 2)]})


def killed_after(monkeypatch, pages):
    """Kill the run when it marks page `pages` + 1 done: its records are written, its line is not."""
    mark, count = PageLog.mark, []

    def marked(self, *args, **kwargs):
        if len(count) == pages:
            raise KeyboardInterrupt
        count.append(1)
        return mark(self, *args, **kwargs)

    monkeypatch.setattr(PageLog, "mark", marked)


def test_a_killed_run_resumes_with_or_without_ray(cluster, papers, reference, tmp_path, monkeypatch):
    out = tmp_path / "out.jsonl"
    for pages, ray in ((2, ["--ray"]), (1, [])):  # killed on a cluster, then on this machine alone
        with monkeypatch.context() as patch:
            killed_after(patch, pages)
            killed = cli("ocr", papers, "-o", out, "--model", "osra", *ray)
        assert killed.exit_code != 0 and "Traceback" not in killed.output
    assert len((tmp_path / "out.jsonl.pages.jsonl").read_text().splitlines()) == 3
    again = cli("ocr", papers, "-o", out, "--model", "osra", "--ray")
    assert again.exit_code == 0, again.output
    assert "3 pages already done, 2 read now" in again.stdout
    same(records(out), reference)  # the pages cut short are read again, their records are not written twice


def test_data_build_on_ray_writes_the_files_of_a_local_build(cluster, tmp_path):
    config = _config(tmp_path, workers=2)
    local = cli("data", "build", config, "-o", tmp_path / "local")
    assert local.exit_code == 0, local.output
    spread = cli("data", "build", config, "--ray", "-o", tmp_path / "ray")
    assert spread.exit_code == 0, spread.output
    assert _read(tmp_path / "ray") == _read(tmp_path / "local") and len(_read(tmp_path / "local")[1]) > 2


def test_without_ray_the_option_is_one_line_saying_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as it does where Ray is not installed
    pdf = _paper(tmp_path / "p.pdf", structures=[], pages=1)
    done = cli("ocr", pdf, "-o", tmp_path / "out.jsonl", "--ray")
    assert done.exit_code == 2 and "pip install 'chemvlm[ray]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.jsonl").exists()
    built = cli("data", "build", _config(tmp_path), "-o", tmp_path / "d", "--ray")
    assert built.exit_code == 2 and "pip install 'chemvlm[ray]'" in built.stderr


def test_ray_options_are_checked_in_one_line(tmp_path):
    pdf = _paper(tmp_path / "p.pdf", structures=[], pages=1)
    assert "--workers: sets the page readers of a --ray run" in cli("ocr", pdf, "-o", tmp_path / "o.jsonl",
                                                                   "--workers", "2").stderr
    done = cli("ocr", pdf, "-o", tmp_path / "o.jsonl", "--ray=nowhere")
    assert done.exit_code == 2 and "--ray nowhere: not a Ray address" in done.stderr


def test_a_bare_ray_option_takes_an_address_only_when_one_follows():
    assert optional_address(["papers", "--ray"]) == ["papers", "--ray", "local"]
    assert optional_address(["--ray", "papers/", "-o", "x"]) == ["--ray", "local", "papers/", "-o", "x"]
    assert optional_address(["--ray", "auto", "p"]) == ["--ray", "auto", "p"]
    assert optional_address(["--ray", "ray://head:10001"]) == ["--ray", "ray://head:10001"]
    assert optional_address(["--ray", "10.0.0.5:6379", "p"]) == ["--ray", "10.0.0.5:6379", "p"]
    assert optional_address(["--", "--ray"]) == ["--", "--ray"]


def test_an_engine_that_cannot_load_on_the_cluster_is_one_error(cluster, papers, tmp_path):
    from chemvlm.documents.distributed import ocr_documents_ray
    from chemvlm.engines.base import EngineError
    from chemvlm.record import PredictionWriter

    writer = PredictionWriter(tmp_path / "out.jsonl")
    with pytest.raises(EngineError, match="no-such-osra: program not found"):
        ocr_documents_ray([papers / "b.pdf"], "osra", {"executable": "no-such-osra"}, writer, print, print)
    assert (tmp_path / "out.jsonl").read_text() == ""
