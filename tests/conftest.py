from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def tiny():
    """A randomly initialised `tiny` ChemVLM (same architecture as the 26B, ~190k parameters)."""
    from chemvlm.chat.vlm import ChemVLM

    return ChemVLM.from_preset("tiny", seed=0)


@pytest.fixture(scope="session")
def molecule_png() -> bytes:
    from chemvlm.chem import draw_molecule

    return draw_molecule("CC(=O)Oc1ccccc1C(=O)O", size=(320, 240))

from hypothesis import settings

# Tests are deterministic: hypothesis draws the same examples on every run.
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.load_profile("deterministic")
