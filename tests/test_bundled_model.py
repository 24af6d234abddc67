"""The model shipped in the package: small enough for the repository, and the default of the main job."""

import json
import subprocess
import sys
from pathlib import Path

from chemvlm.chat.engine import ChemVLM
from chemvlm.spec import BUNDLED_MODEL, ModelSpec, default_model

ROOT = Path(__file__).parent.parent


def test_bundled_weights_are_small_and_load_as_a_ink_view_chemvlm():
    weights = list(BUNDLED_MODEL.glob("*.safetensors"))
    assert weights and sum(f.stat().st_size for f in weights) <= 60 * 2**20
    vlm = ChemVLM.from_pretrained(BUNDLED_MODEL)
    assert vlm.settings.ink_view and vlm.tokens_per_tile == 64
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
    assert str(BUNDLED_MODEL) in record["model"]


def test_bundled_model_answers_alone_with_a_checked_smiles():
    image = ROOT / "examples" / "uspto-US07314934-C00124.png"
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", str(image), "这是什么分子？", "--json",
                           "--model", str(BUNDLED_MODEL)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["engine"] == "chemvlm" and record["smiles"]
    assert ("分子量" in record["answer"]) == record["valid"]  # a valid SMILES is explained in the question's language
