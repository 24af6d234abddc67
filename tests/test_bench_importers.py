"""Importers on real lines of ChemVLM's benchmark files, and on the published ScienceQA and CMMU layouts."""

import json

import pytest

from chemvlm.bench.benchmarks import chemocr_prompt, load_bench, missing_images, ocsr_real
from chemvlm.bench.importers import import_cmmu, import_conversations, import_scienceqa, split_exam_answer
from chemvlm.bench.items import BenchFileError, read_items, write_items


@pytest.fixture(scope="module")
def original(fixtures):
    return fixtures / "bench" / "chemvlm-original"


def test_mmcr_real_lines_become_choice_and_free_items(original):
    items = import_conversations(original / "mm_pure_fix.sample.jsonl", root="/data/mmcr")
    kinds = {item.id: (item.kind, item.answer) for item in items}
    assert kinds["mm98022"] == ("choice", "C")  # "答案：\nC\n解析：…"
    assert kinds["mm160359"] == ("choice", "D")  # "【答案】D\n【解析】…"
    assert kinds["mm70869"] == ("choice", "D")  # "这一题的答案是D\n这题的解析是…"
    assert [i.kind for i in items].count("free") == 3  # calculations and fill-in answers go to the judge
    free = next(i for i in items if i.kind == "free")
    assert free.answer.startswith("(1)$28.6$") and free.analysis.startswith("(1)已知混合物")
    assert any(i.answer == "AB" for i in items)
    assert all(i.language == "zh" and i.analysis for i in items)
    assert all("<image>" not in i.question for i in items)
    assert max(len(i.images) for i in items) >= 3  # several images per question survive
    assert items[0].images[0].startswith("/data/mmcr/image/mm_pure_fix/")


def test_exam_answer_formats():
    assert split_exam_answer("这一题的答案是D\n这题的解析是电解精炼铜时……") == ("D", "电解精炼铜时……")
    assert split_exam_answer("【答案】(1)$C$、$O$\n【解析】(1)固态") == ("(1)$C$、$O$", "(1)固态")
    assert split_exam_answer("plain text") == ("plain text", "")


def test_chemocr_reference_answers_give_the_smiles(original):
    items = import_conversations(original / "mm_chem_ocr.sample.jsonl")
    assert [i.kind for i in items] == ["smiles"] * 5
    assert items[0].answer == "CC1C=C(C=CN=1)C1C=CC2N=C(NC3C=C(C=CN=3)N3CCN(CC3)C(=O)COC)SC=2N=1"
    assert items[2].answer == "CN1C2[Ir]C3CCCCC3N2C2C=CC=CC1=2" and items[2].language == "en"
    assert items[0].subset == "staker" and items[0].language == "zh"
    assert items[4].answer == ""  # the reference names no SMILES: an invalid truth, skipped when scored


def test_mmchembench_lines_are_four_option_questions(original):
    captions = import_conversations(original / "chembench_mol2caption.sample.jsonl", subset="caption")
    props = import_conversations(original / "chembench_property.sample.jsonl", subset="property")
    assert [i.answer for i in captions] == ["B", "D", "B"] and captions[0].subset == "caption"
    assert [i.answer for i in props] == ["D", "C", "C"] and props[0].id == "1"
    assert "LUMO" in props[0].question and all(i.kind == "choice" for i in captions + props)


def test_malformed_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text('{"id": 1, "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "A"}]}\n'
                    '{"id": 2, "conversations": [\n', encoding="utf-8")
    with pytest.raises(BenchFileError, match=r"bench.jsonl:2: not valid JSON"):
        import_conversations(path)
    path.write_text('{"id": 1, "conversations": []}\n', encoding="utf-8")
    with pytest.raises(BenchFileError, match=r"bench.jsonl: record 1: expected 'conversations'"):
        import_conversations(path)
    with pytest.raises(BenchFileError, match="no such file"):
        import_conversations(tmp_path / "absent.jsonl")


def test_scienceqa_chemistry_questions(tmp_path):
    problems = {
        "7": {"question": "Which is a compound?", "choices": ["O2", "H2O", "Ne"], "answer": 1, "hint": "",
              "image": "image.png", "topic": "chemistry", "category": "Atoms and molecules", "split": "test",
              "solution": "Water has two elements."},
        "8": {"question": "Which animal?", "choices": ["a", "b"], "answer": 0, "hint": "", "image": "image.png",
              "topic": "biology", "split": "test"},
        "9": {"question": "Which is a gas?", "choices": ["ice", "steam"], "answer": 1, "hint": "", "image": None,
              "topic": "chemistry", "split": "test"},
    }
    (tmp_path / "problems.json").write_text(json.dumps(problems), encoding="utf-8")
    items = import_scienceqa(tmp_path / "problems.json")
    assert [(i.id, i.answer, i.kind) for i in items] == [("scienceqa-7", "B", "choice")]
    assert "A. O2\nB. H2O\nC. Ne" in items[0].question
    assert items[0].images == [str(tmp_path / "images" / "test" / "7" / "image.png")]


def test_cmmu_chemistry_questions(tmp_path):
    rows = [
        {"id": "c1", "type": "multiple-choice", "subject": "chemistry", "question_info": "哪种是单质？",
         "options": ["水", "氧气", "盐"], "answer": ["B"], "image": "img/c1.png", "solution_info": "氧气"},
        {"id": "c2", "type": "multiple-response", "subject": "chemistry", "question_info": "哪些是酸？",
         "options": ["HCl", "NaOH", "H2SO4"], "answer": ["C", "A"]},
        {"id": "c3", "type": "fill-in-the-blank", "subject": "chemistry", "question_info": "水的化学式是___",
         "answer": ["H2O"]},
        {"id": "p1", "type": "multiple-choice", "subject": "physics", "question_info": "?", "answer": ["A"]},
    ]
    path = tmp_path / "val.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    items = import_cmmu(path)
    assert [(i.id, i.kind, i.answer) for i in items] == [
        ("cmmu-c1", "choice", "B"), ("cmmu-c2", "choice", "AC"), ("cmmu-c3", "free", "H2O")]
    assert items[0].images == [str(tmp_path / "img" / "c1.png")] and "B. 氧气" in items[0].question


def test_ocsr_real_items_alternate_languages_with_the_papers_prompts(fixtures):
    items = ocsr_real(fixtures / "bench" / "ocsr-real")
    assert len(items) == 9 and {i.subset for i in items} == {"clef2012", "jpo", "uspto_osra"}
    assert [i.language for i in items[:4]] == ["zh", "en", "zh", "en"]
    assert items[0].question == chemocr_prompt(0)[0] == "能否帮我识别图中的这个分子？"
    assert missing_images(items) == []
    assert load_bench("ocsr-real/jpo", fixtures / "bench")[0].id.startswith("jpo/")
    with pytest.raises(BenchFileError, match="no subset 'uob'"):
        load_bench("ocsr-real/uob", fixtures / "bench")


def test_items_round_trip(tmp_path, fixtures):
    items = ocsr_real(fixtures / "bench" / "ocsr-real")
    write_items(tmp_path / "items.jsonl", items)
    assert read_items(tmp_path / "items.jsonl") == items


def test_original_sets_without_their_images_are_reported_missing(original):
    items = import_conversations(original / "chembench_property.sample.jsonl", root="/nowhere")
    assert len(missing_images(items)) == 3


def test_trec_chem_and_ocsr_dev_are_named_sets_of_labelled_images(tmp_path, molecule_png):
    (tmp_path / "trec-chem" / "images").mkdir(parents=True)
    (tmp_path / "trec-chem" / "images" / "a.png").write_bytes(molecule_png)
    (tmp_path / "trec-chem" / "labels.csv").write_text("file,smiles\nimages/a.png,CCO\n")
    items = load_bench("trec-chem", tmp_path)
    assert [(i.id, i.subset, i.answer) for i in items] == [("trec-chem/a", "trec-chem", "CCO")]
    assert missing_images(items) == []
    with pytest.raises(BenchFileError, match="ocsr-dev has no subset 'uspto_osra'"):
        load_bench("ocsr-dev/uspto_osra", tmp_path)
