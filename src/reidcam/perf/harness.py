"""Where ``reidcam bench`` finds the benchmark harness, which ships with the source, not the wheel.

The gallery-search figures (``--index-sizes``) run code from ``benchmarks/harness/`` of a source
checkout (FAISS indexes and synthetic galleries are benchmark tools, not product code). From a
checkout (``pip install -e .``) the folder is found next to ``src/``; from an installed wheel it is
not there, and :func:`require_harness` says so before any model loads.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from reidcam.core.errors import ConfigError

HARNESS = "harness"
NEEDS_CHECKOUT = (
    "the gallery search figures (--index-sizes) need the benchmark harness of a source checkout "
    "(benchmarks/harness/, not part of the installed package) and faiss-cpu: run reidcam bench from "
    "a checkout installed with `pip install -e '.[dev]'` (or `python benchmarks/bench.py`), "
    "or pass --index-sizes '' to skip them"
)


def checkout_benchmarks(package_file: str | None = None) -> Path | None:
    """The ``benchmarks/`` folder of the source checkout this package runs from, or None (a wheel)."""
    here = Path(package_file or __file__).resolve()
    for parent in here.parents:
        folder = parent / "benchmarks"
        if (folder / HARNESS / "__init__.py").is_file() and (parent / "src" / "reidcam").is_dir():
            return folder
    return None


def require_harness() -> None:
    """Makes ``import harness`` work from a source checkout; raises ConfigError from a wheel.

    Called by the ``bench`` entry point only (it extends ``sys.path``, which is the entry point's
    business, never a library import's).
    """
    if importlib.util.find_spec(HARNESS) is not None:
        return
    folder = checkout_benchmarks()
    if folder is None:
        raise ConfigError(NEEDS_CHECKOUT)
    sys.path.insert(0, str(folder))
