"""Benchmarks: each ``bench_*.py`` prints its kernel's speed as a ratio against a reference."""
