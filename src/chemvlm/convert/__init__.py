"""Released InternVL-Chat checkpoints (ChemVLM-26B/-8B) into the native transformers layout, and
assembling a stage-1 starting checkpoint from a vision checkpoint and a separate LLM."""

from chemvlm.convert.internvl_chat import convert_internvl_chat

__all__ = ["convert_internvl_chat"]
