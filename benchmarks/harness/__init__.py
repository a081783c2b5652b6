"""Benchmark harness: load, soak and served-process probes, a raw HTTP client, FAISS gallery indexes.

Used by the scripts in ``benchmarks/``, by tests (pytest puts ``benchmarks/`` on ``sys.path``) and,
from a source checkout, by ``reidcam bench`` for its gallery search figures. Not in the wheel.
"""
