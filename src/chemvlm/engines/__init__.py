"""Engines answer questions about images; every one is chosen by a model spec and writes Prediction records."""

from chemvlm.engines.base import Engine, EngineError, Query, load_engine

__all__ = ["Engine", "EngineError", "Query", "load_engine"]
