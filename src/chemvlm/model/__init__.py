"""The ChemVLM model on transformers' native InternVL classes: presets, building, tokenizer."""

from chemvlm.model.presets import ChatSettings, Preset, load_preset, preset_names

__all__ = ["ChatSettings", "Preset", "load_preset", "preset_names"]
