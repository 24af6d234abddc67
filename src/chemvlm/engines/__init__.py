"""Engines answer questions about images; every one is chosen by a model spec and writes Prediction records.

engines.base is the interface (Engine, Query, EngineError), engines.registry maps a spec to its engine
(load_engine), and each engine module holds one engine with its typed options.
"""

from chemvlm.engines.base import Engine, EngineError, OptionError, Query
from chemvlm.engines.registry import load_engine

__all__ = ["Engine", "EngineError", "OptionError", "Query", "load_engine"]
