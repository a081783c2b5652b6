"""Measuring the pipeline: ``reidcam bench`` (shipped) on the product's own stages.

Figures, never verdicts: each function returns a JSON-ready dict. Heavy models are built
here only when a bench asks for them. Load, soak and gallery-index harnesses live in
``benchmarks/harness/`` of the source checkout (:mod:`reidcam.perf.harness`).
"""
