"""Named benchmarks and where their data lives.

    ocsr-real[/SUBSET]     300 real patent images (CLEF-2012, JPO, USPTO) with the paper's bilingual prompts
    ocsr-dev[/SUBSET]      1,242 more real patent images (CLEF-2012, JPO): for choosing settings, never training
    trec-chem              1,000 real patent-application TIFFs (TREC-CHEM 2011)
    chemocr                ChemVLM's 1000-item ChemOCR (the images are not distributed with the file)
    mmchembench-caption    MMChemBench molecule captions, four options (images not distributed)
    mmchembench-property   MMChemBench properties, four options (images not distributed)
    mmcr                   MMCR-Bench Gaokao chemistry, choice and free-form (images not distributed)
    PATH.jsonl             a file of BenchItems, or InternVL conversation JSONL
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from chemvlm.bench.importers import import_conversations
from chemvlm.bench.items import BenchFileError, BenchItem, read_items, read_jsonl

# The paper's ChemOCR prompts, as they appear in its benchmark file; half the items ask in each language.
PROMPTS = {
    "zh": ["能否帮我识别图中的这个分子？", "这个分子结构代表哪种化合物？", "这个分子的化学式能告诉我吗？",
           "这张图片中的是哪一种化学分子？", "您能识别出图片中的这个分子吗？", "您能解释一下图片中分子的组成吗？",
           "请问这张图片展示的分子名称是什么？", "这张图像中的化学结构是什么？", "图中所示的是哪种分子？"],
    "en": ["What kind of compound does this molecular structure represent?",
           "What kind of chemical molecule is in this image?", "Can you identify the molecule in the image?",
           "Can you help me identify this molecule in the image?",
           "Can you tell me the chemical formula of this molecule?",
           "What is the name of the molecule shown in this image?",
           "Can you explain the composition of the molecule in the image?",
           "What kind of molecule is shown in the image?", "What is the chemical structure in this image?"],
}

OCSR_SUBSETS = ("clef2012", "jpo", "uspto_osra")
# Sets of real images with a labels.csv (file, smiles, ...) per subset folder; "." is a set without subsets.
IMAGE_SETS = {"ocsr-real": OCSR_SUBSETS, "ocsr-dev": ("clef2012", "jpo"), "trec-chem": (".",)}
ORIGINAL = {  # name: (file in chemvlm-original/, subset label or None to take it from the image folder)
    "chemocr": ("mm_chem_ocr.jsonl.test.jsonl", None),
    "mmchembench-caption": ("chembench_mol2caption.jsonl", "caption"),
    "mmchembench-property": ("chembench_property.jsonl", "property"),
    "mmcr": ("mm_pure_fix.jsonl", "mmcr"),
}
NAMES = tuple(IMAGE_SETS) + tuple(ORIGINAL)


def data_dir(explicit: str | Path | None = None) -> Path:
    """Where benchmark data lives: the argument, $CHEMVLM_BENCH_DIR, or shared/benchmarks near the cwd."""
    candidates = [explicit, os.environ.get("CHEMVLM_BENCH_DIR"), "shared/benchmarks", "../shared/benchmarks"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    if explicit or os.environ.get("CHEMVLM_BENCH_DIR"):
        raise BenchFileError(f"{explicit or os.environ['CHEMVLM_BENCH_DIR']}: no such benchmark directory")
    raise BenchFileError("no benchmark directory: pass --data DIR or set CHEMVLM_BENCH_DIR")


def chemocr_prompt(index: int) -> tuple[str, str]:
    """(prompt, language) for the index-th item: alternating zh/en, cycling through the paper's prompts."""
    language = "zh" if index % 2 == 0 else "en"
    prompts = PROMPTS[language]
    return prompts[(index // 2) % len(prompts)], language


def ocsr_real(root: str | Path, subsets=OCSR_SUBSETS, name: str = "ocsr-real") -> list[BenchItem]:
    """Items from a set's `SUBSET/labels.csv` (file, smiles, …), images beside it."""
    items = []
    for subset in subsets:
        labels = Path(root) / subset / "labels.csv"
        subset = name if subset == "." else subset
        if not labels.is_file():
            raise BenchFileError(f"{labels}: no such file (expected {name}/{subset}/labels.csv)")
        with labels.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), 2):
                if not row.get("file") or row.get("smiles") is None:
                    raise BenchFileError(f"{labels}:{number}: expected columns file,smiles")
                prompt, language = chemocr_prompt(len(items))
                items.append(BenchItem(
                    id=f"{subset}/{Path(row['file']).stem}", question=prompt, answer=row["smiles"], kind="smiles",
                    images=[str(labels.parent / row["file"])], subset=subset, language=language,
                ))
    return items


def load_bench(name: str, data: str | Path | None = None, images: str | Path | None = None) -> list[BenchItem]:
    """The items of a named benchmark or of a benchmark file. `images` is the root that the original
    files' relative image paths resolve against (their images are not distributed with them)."""
    if name.endswith(".jsonl"):
        rows = read_jsonl(name)
        if rows and "conversations" in rows[0]:
            return import_conversations(name, root=images)
        return read_items(name)
    base, _, subset = name.partition("/")
    if base in IMAGE_SETS:
        subsets = IMAGE_SETS[base]
        if subset and subset not in subsets:
            raise BenchFileError(f"{base} has no subset {subset!r}: use one of {', '.join(subsets)}")
        return ocsr_real(data_dir(data) / base, (subset,) if subset else subsets, base)
    if base in ORIGINAL:
        filename, label = ORIGINAL[base]
        return import_conversations(data_dir(data) / "chemvlm-original" / filename, root=images, subset=label)
    raise BenchFileError(f"unknown benchmark {name!r}: use one of {', '.join(NAMES)} or a .jsonl file")


def missing_images(items: list[BenchItem]) -> list[str]:
    """Image paths that are not on disk; a benchmark is only scored when this is empty."""
    return [path for item in items for path in item.images if not Path(path).is_file()]
