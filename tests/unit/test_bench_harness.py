"""``reidcam bench`` finds the benchmark harness in a source checkout and says what a wheel lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from reidcam.core.errors import ConfigError
from reidcam.perf import harness


def test_checkout_benchmarks_found_from_the_source_tree() -> None:
    folder = harness.checkout_benchmarks()
    assert folder is not None and (folder / "harness" / "index_bench.py").is_file()


def test_installed_package_has_no_checkout(tmp_path: Path) -> None:
    site = tmp_path / "site-packages" / "reidcam" / "perf"
    site.mkdir(parents=True)
    assert harness.checkout_benchmarks(str(site / "harness.py")) is None


def test_require_harness_from_a_wheel_names_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(harness, "checkout_benchmarks", lambda package_file=None: None)
    with pytest.raises(ConfigError, match=r"source checkout.*--index-sizes ''"):
        harness.require_harness()
