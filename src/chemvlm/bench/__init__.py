"""Benchmarks, metrics and the evaluation harness: items in, predictions out, scores and reports."""

from chemvlm.bench.items import BenchFileError, BenchItem, read_items, write_items

__all__ = ["BenchItem", "BenchFileError", "read_items", "write_items"]
