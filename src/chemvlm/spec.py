"""The model spec: one string that names what answers, shared by `ask`, `ocr`, `eval` and `serve`.

    PATH                              a local checkpoint directory saved by this project (or converted)
    chemvlm-mini                      the model shipped inside the package (its name: no install path shown)
    tiny | chemvlm-26b | …            a preset (randomly initialised; for tests and shape checks)
    osra                              Debian's `osra` program (recognition only)
    openai:BASE_URL#MODEL             any OpenAI-compatible chat-completions server (vLLM, lmdeploy, GPT-4o)
    ensemble:SPEC,SPEC[,…]            several engines whose candidates are combined
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chemvlm.errors import InputError
from chemvlm.model.checkpoint import is_checkpoint


class ModelSpecError(InputError, ValueError):
    """A model spec string that names nothing usable."""


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "local", "preset", "osra", "openai" or "ensemble"
    target: str = ""  # checkpoint path, preset name or base URL
    model: str | None = None  # served model name (openai)
    members: tuple["ModelSpec", ...] = ()  # ensemble members
    text: str = ""  # the string as the user wrote it

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        from chemvlm.model.presets import preset_names

        text = text.strip()
        if not text:
            raise ModelSpecError("empty model spec")
        if text == "osra":
            return cls("osra", text=text)
        if text.startswith("openai:"):
            url, _, model = text[len("openai:"):].partition("#")
            if not url.startswith(("http://", "https://")):
                raise ModelSpecError(f"model spec {text!r}: expected openai:http(s)://HOST[:PORT]/v1#MODEL")
            return cls("openai", target=url.rstrip("/"), model=model or None, text=text)
        if text == BUNDLED_NAME:
            if not is_checkpoint(BUNDLED_MODEL):
                raise ModelSpecError(f"model spec {text!r}: this install has no bundled model ({BUNDLED_MODEL})")
            return cls("local", target=str(BUNDLED_MODEL), text=text)
        if text.startswith("ensemble:"):
            parts = [p for p in text[len("ensemble:"):].split(",") if p.strip()]
            if len(parts) < 2:
                raise ModelSpecError(f"model spec {text!r}: an ensemble needs at least two members")
            return cls("ensemble", members=tuple(cls.parse(p) for p in parts), text=text)
        if Path(text).is_dir():
            if not is_checkpoint(text):
                raise ModelSpecError(f"model spec {text!r}: not a checkpoint directory (no config.json)")
            return cls("local", target=str(Path(text)), text=text)
        if text in preset_names():
            return cls("preset", target=text, text=text)
        raise ModelSpecError(
            f"model spec {text!r}: not a checkpoint directory, a preset ({', '.join(preset_names())}), "
            f"{BUNDLED_NAME!r}, 'osra', 'openai:URL#MODEL' or 'ensemble:A,B'"
        )


# The model shipped inside the package (chemvlm-mini, see its README.md and docs/mini.md).
BUNDLED_NAME = "chemvlm-mini"
BUNDLED_MODEL = Path(__file__).parent / "assets" / BUNDLED_NAME


def default_model(osra_installed: bool | None = None) -> str:
    """The spec `ask`, `ocr` and `serve` use when none is given: the bundled model together with `osra` when
    that program is installed (osra wins ties, the model answers where osra finds nothing valid: measured in
    docs/mini.md), the bundled model alone without osra, and `osra` alone in a checkout without weights."""
    import shutil

    bundled = is_checkpoint(BUNDLED_MODEL)
    osra = shutil.which("osra") is not None if osra_installed is None else osra_installed
    if bundled and osra:
        return f"ensemble:osra,{BUNDLED_NAME}"
    return BUNDLED_NAME if bundled else "osra"
