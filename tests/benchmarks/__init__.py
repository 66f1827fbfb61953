"""Benchmark scripts (run with ``python -m tests.benchmarks.<name>``; not pytest tests)."""
