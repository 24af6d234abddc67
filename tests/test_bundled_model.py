"""The model shipped in the package: small enough for the repository, and the default of the main job."""

import json
import subprocess
import sys
from pathlib import Path

from chemvlm.chat.vlm import ChemVLM
from chemvlm.spec import BUNDLED_MODEL, ModelSpec, default_model

ROOT = Path(__file__).parent.parent


def test_bundled_weights_are_small_and_load_as_a_ink_view_chemvlm():
    weights = list(BUNDLED_MODEL.glob("*.safetensors"))
    assert weights and sum(f.stat().st_size for f in weights) <= 60 * 2**20
    vlm = ChemVLM.from_pretrained(BUNDLED_MODEL)
    assert vlm.processor.ink_view and vlm.tokens_per_tile == 64
    assert sum(p.numel() for p in vlm.model.parameters()) < 30_000_000
    assert (BUNDLED_MODEL / "README.md").is_file()  # the model card


def test_main_job_uses_the_bundled_model_with_osra():
    spec = ModelSpec.parse(default_model())
    assert spec.kind == "ensemble" and Path(spec.members[1].target) == BUNDLED_MODEL
    image = ROOT / "examples" / "uspto-US07314934-C00124.png"
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", str(image), "What is this molecule? Give its SMILES.",
                           "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["engine"] == "ensemble" and record["valid"]
    assert record["canonical"] == "CSc1nc(-c2ccccc2F)c2ccc(=O)n(C)c2n1"  # osra reads it; the model is asked too
    assert record["model"] == "ensemble:osra,chemvlm-mini"  # the bundled model by name: no install path shown
    assert str(BUNDLED_MODEL) not in record["answer"]


def test_bundled_model_answers_alone_with_a_checked_smiles(tmp_path):
    from chemvlm.chem import draw_molecule

    drawn = tmp_path / "ibuprofen.png"
    drawn.write_bytes(draw_molecule("CC(C)Cc1ccc(cc1)C(C)C(=O)O", size=(300, 300)))  # a clean drawing it reads
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", str(drawn), "这是什么分子？", "--json",
                           "--model", "chemvlm-mini"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["engine"] == "chemvlm" and record["canonical"] == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    assert "分子式 C13H18O2，分子量 206.28 g/mol" in record["answer"]  # explained in the question's language


def test_bundled_model_alone_gives_no_wrong_answer_for_the_patent_example():
    # The example is CSc1nc(-c2ccccc2F)c2ccc(=O)n(C)c2n1 (examples/ATTRIBUTION.md). The bundled model does not
    # read this real patent drawing: its best answer is another molecule, at a likelihood of 0.88, below the
    # 0.9 a structure reader's SMILES needs; so it says that it is unsure and gives no structure.
    image = ROOT / "examples" / "uspto-US07314934-C00124.png"
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", str(image), "What is this molecule?", "--json",
                           "--model", "chemvlm-mini"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["engine"] == "chemvlm" and record["canonical"] is None and not record["valid"]
    assert record["answer"].startswith("No chemical structure was recognised in the image: the model is unsure")
    assert "below 0.90" in record["answer"]
