"""The engine interface: the package's import graph has no circle, typed options are refused by name when no
engine in play takes them (and reach the members of an ensemble that do), and `Engine.stream` gives exactly
predict's answer."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chemvlm.chat.vlm import Answer
from chemvlm.chem import describe
from chemvlm.engines import Engine, EngineError, OptionError, Query, load_engine
from chemvlm.spec import ModelSpec

SRC = Path(__file__).parent.parent / "src"
EXAMPLE = Path(__file__).parent.parent / "examples" / "uspto-US07314934-C00124.png"


def import_graph() -> dict[str, set[str]]:
    """chemvlm module -> the chemvlm modules it imports, at the top of the file or inside a function."""
    modules = {}
    for path in (SRC / "chemvlm").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def module_of(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chemvlm"):
                found |= {module_of(f"{node.module}.{alias.name}") for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {module_of(alias.name) for alias in node.names if alias.name.startswith("chemvlm")}
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the path of modules that closes it."""
    found, done = [], set()

    def visit(module, path):
        if module in path:
            circle = path[path.index(module):]
            if set(circle) not in [set(c) for c in found]:
                found.append(circle + [module])
            return
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert "chemvlm.engines.registry" in graph["chemvlm.engines"]  # the graph sees the package's imports
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]  # and the search finds circles
    assert cycles(graph) == []


def test_the_interface_module_holds_no_registry():
    graph = import_graph()
    assert {m for m in graph["chemvlm.engines.base"] if m.startswith("chemvlm.engines")} == set()
    import chemvlm.engines.base as base

    assert not hasattr(base, "load_engine")


def test_an_option_no_engine_takes_is_refused_in_one_line_naming_it_and_the_engine():
    with pytest.raises(OptionError) as refused:
        load_engine("osra", max_tiles=2)
    assert str(refused.value) == ("option max_tiles: not taken by engine osra "
                                  "(it takes: timeout, workers, executable, variants, cache_dir, labels, complete_benzenes)")
    with pytest.raises(OptionError, match=r"^option retries: not taken by engine ensemble:osra,chemvlm-mini nor by "
                                          r"any of its members \(they take: rerank, timeout, .*max_tiles"):
        load_engine("ensemble:osra,chemvlm-mini", retries=2)
    with pytest.raises(OptionError, match="^option timeout: not taken by engine chemvlm-mini"):
        load_engine("chemvlm-mini", timeout=5)
    assert isinstance(OptionError("x"), EngineError)  # callers that catch engine errors catch it too


def test_an_ensemble_passes_each_option_to_the_members_that_take_it():
    engine = load_engine("ensemble:osra,chemvlm-mini", max_tiles=2, max_new_tokens=7, timeout=5.0, rerank=True,
                         batch_size=None)  # None: not given
    osra, mini = engine.members
    assert (osra.timeout, osra.variants) == (5.0, ("default", "jaggy"))  # an osra member runs two variants
    assert (mini.options.max_tiles, mini.options.max_new_tokens, mini.batch_size) == (2, 7, 8)
    assert engine.options.rerank is True
    plain = load_engine("ensemble:osra,chemvlm-mini")
    assert plain.options.rerank is False and plain.members[1].options.max_tiles is None


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chemvlm", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "250"})


def test_ask_gives_the_answer_budget_to_the_model_members_of_an_ensemble(tmp_path):
    # The bundled model reads this clean drawing; with 3 tokens it cannot finish, so nothing is proposed.
    from chemvlm.chem import draw_molecule

    drawing = tmp_path / "ibuprofen.png"
    drawing.write_bytes(draw_molecule("CC(C)Cc1ccc(cc1)C(C)C(=O)O", size=(300, 300)))
    spec, question = "ensemble:chemvlm-mini,chemvlm-mini", "What is this molecule?"
    read = load_engine(spec).predict([Query("1", [str(drawing)], question)])[0]
    assert read.canonical == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    done = run_cli("ask", "--model", spec, "--max-new-tokens", "3", "--json", drawing, question)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["engine"] == "ensemble" and not record["valid"] and "No chemical structure" in record["answer"]


def test_the_command_line_refuses_an_option_the_engine_does_not_take():
    done = run_cli("ask", "--model", "osra", "--max-tiles", "2", EXAMPLE, "What is this?")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: option max_tiles: not taken by engine osra (it takes: timeout, workers, executable, variants, "
        "cache_dir, labels, complete_benzenes)"]


def test_eval_refuses_an_option_the_engine_does_not_take_before_writing_anything(tmp_path):
    done = run_cli("eval", "--bench", "ocsr-real/uspto_osra", "--model", "osra", "--max-tiles", "2",
                   "-o", tmp_path / "run")
    assert done.returncode == 2 and "option max_tiles: not taken by engine osra" in done.stderr
    assert not (tmp_path / "run").exists()


def test_the_max_tiles_help_names_the_checkpoint_setting():
    done = run_cli("ask", "--help")
    assert "Tiles per image of a local model (default: the checkpoint's own setting; the bundled model uses 1)" \
        in done.stdout and "the model's, 6" not in done.stdout
    from chemvlm.chat.vlm import ChemVLM
    from chemvlm.spec import BUNDLED_MODEL

    assert ChemVLM.from_pretrained(BUNDLED_MODEL).processor.max_tiles == 1  # what the help says it uses


# ---- Engine.stream -----------------------------------------------------------------------------------------

def drain(stream) -> tuple[list[str], object]:
    """The pieces a stream yields and the Prediction it returns."""
    pieces = []
    while True:
        try:
            pieces.append(next(stream))
        except StopIteration as end:
            return pieces, end.value


class Echo(Engine):
    name = "echo"

    def __init__(self):
        super().__init__(ModelSpec("osra", text="echo"))

    def predict(self, queries):
        from chemvlm.record import Prediction

        return [Prediction.from_answer(id=q.id, image="", question=q.question, answer=f"said {q.question}",
                                       engine=self.name, model="echo", seconds=0) for q in queries]


def test_the_default_stream_is_the_whole_predict_answer():
    pieces, prediction = drain(Echo().stream(Query("1", question="hi")))
    assert pieces == ["said hi"] and prediction.answer == "said hi" and not Echo.streams_tokens
    with pytest.raises(OptionError, match="^option x: not taken by engine echo"):
        Engine(ModelSpec("osra", text="echo"), x=1)


def test_osra_streams_its_checked_answer():
    osra = load_engine("osra")
    query = Query("1", [str(EXAMPLE)], "What is this molecule?")
    pieces, prediction = drain(osra.stream(query))
    assert "".join(pieces) == osra.predict([query])[0].answer == prediction.answer
    assert prediction.canonical == "CSc1nc(-c2ccccc2F)c2ccc(=O)n(C)c2n1"


@pytest.fixture(scope="module")
def chat_model():
    return load_engine("tiny", max_tiles=1)


def test_structure_reading_has_one_name(chat_model):
    bundled = load_engine("chemvlm-mini")
    assert bundled.reads_structures and not bundled.streams_tokens
    assert not chat_model.reads_structures and chat_model.streams_tokens


def test_a_chat_model_streams_token_by_token_the_text_predict_gives(chat_model):
    query = Query("1", [str(EXAMPLE)], "What is this molecule?", max_tokens=12)
    pieces, prediction = drain(chat_model.stream(query))
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == prediction.answer == chat_model.predict([query])[0].answer
    assert prediction.answer == chat_model.vlm.ask(str(EXAMPLE), query.question, max_new_tokens=12, max_tiles=1).text


def test_the_answer_budget_of_a_query_is_used(chat_model):
    short = chat_model.predict([Query("1", [str(EXAMPLE)], "What is this molecule?", max_tokens=2)])[0]
    assert short.answer == chat_model.vlm.ask(str(EXAMPLE), "What is this molecule?", max_new_tokens=2, max_tiles=1).text
    assert chat_model.options.max_new_tokens == 256  # a query's budget changes no shared setting


class Scripted:
    """Stands in for a chat model's generation: fixed tokens, and beams for the repair of a broken SMILES."""

    def __init__(self, tokens, beams=()):
        self.tokens, self.beams, self.generations = tokens, list(beams), 0

    def stream(self, *args, **kwargs):
        self.generations += 1
        yield from self.tokens

    def ask_batch(self, items, num_return_sequences=1, **kwargs):
        self.generations += 1
        if num_return_sequences > 1:
            return [[Answer(s, describe(s), len(s), 0.0, 0.99) for s in self.beams] for _ in items]
        text = "".join(self.tokens).strip()
        return [Answer(text, describe(text), len(self.tokens), 0.0, 0.5) for _ in items]


@pytest.mark.parametrize("tokens,beams,expected", [
    ([" It", " is", " ethanol", ",", " CCO", "."], [], "It is ethanol, CCO."),  # prose: as written
    (["C", "C", "O", " "], [], "C2H6O"),  # a bare SMILES: explained with RDKit's facts
    (["C1", "CC", "("], ["OCC"], "C2H6O"),  # a SMILES RDKit rejects: repaired from the beams, then explained
])
def test_a_chat_model_streams_exactly_the_checked_answer(chat_model, monkeypatch, tokens, beams, expected):
    scripted = Scripted(tokens, beams)
    monkeypatch.setattr(chat_model, "vlm", type("V", (), {"processor": chat_model.vlm.processor})())
    chat_model.vlm.stream, chat_model.vlm.ask_batch = scripted.stream, scripted.ask_batch
    query = Query("1", [str(EXAMPLE)], "What is this?")
    pieces, prediction = drain(chat_model.stream(query))
    assert "".join(pieces) == prediction.answer == chat_model.predict([query])[0].answer
    assert expected in prediction.answer
    if expected.startswith("It"):
        assert prediction.answer == expected and len([p for p in pieces if p]) > 1


def test_a_chat_model_stream_names_an_unreadable_image(chat_model, tmp_path):
    (tmp_path / "bad.png").write_text("not an image")
    pieces, prediction = drain(chat_model.stream(Query("1", [str(tmp_path / "bad.png")], "What?")))
    assert pieces == [] and "bad.png" in prediction.error

