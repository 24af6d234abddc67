"""OpenAI-compatible HTTP API and web page: `chemvlm serve`."""

from chemvlm.serve.app import create_app
from chemvlm.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
