"""Measuring the pipeline: ``reidcam bench`` and the scripts in ``benchmarks/``.

Figures, never verdicts: each function returns a JSON-ready dict. Heavy models are built
here only when a bench asks for them.
"""
