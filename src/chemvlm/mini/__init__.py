"""chemvlm-mini: a small ChemVLM trained from scratch on 2 CPU cores (see docs/mini.md)."""
