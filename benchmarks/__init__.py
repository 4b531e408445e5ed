"""Reproducible benchmarks, each measured beside its baseline in the same run; each prints a JSON
line last. Run one with ``python -m benchmarks.<name>``."""
