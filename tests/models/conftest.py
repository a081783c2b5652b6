"""Fixtures for tests that run the real weights on real media.

Every test in this folder is marked ``models``. The folders come from
``REIDCAM_WEIGHTS_DIR`` and ``REIDCAM_MEDIA_DIR``; when either is unset or
missing the tests skip with a message saying how to get them, never pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

_HERE = Path(__file__).parent

_HOW_TO = {
    "REIDCAM_WEIGHTS_DIR": (
        "point it at a folder holding the verified model files (CI uses ../shared/assets/weights; "
        "`reidcam weights list` names each file and where to download it)"
    ),
    "REIDCAM_MEDIA_DIR": (
        "point it at a folder holding the test media: bus.jpg, zidane.jpg (from the ultralytics wheel's "
        "assets/), vtest.avi (OpenCV sample data) ... (CI uses ../shared/assets/media)"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/models as ``models`` (hooks see all items, so filter by path)."""
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.models)


def _dir_from_env(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"{var} is not set: {_HOW_TO[var]}")
    path = Path(value).expanduser()
    if not path.is_dir():
        pytest.skip(f"{var}={value} is not a folder: {_HOW_TO[var]}")
    return path


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """Folder with the real model weights, from $REIDCAM_WEIGHTS_DIR."""
    return _dir_from_env("REIDCAM_WEIGHTS_DIR")


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """Folder with the real test images and videos, from $REIDCAM_MEDIA_DIR."""
    return _dir_from_env("REIDCAM_MEDIA_DIR")


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.exists():
        pytest.skip(f"{name} is not in {folder}; put the verified file there to run this test")
    return path


@pytest.fixture(scope="session")
def weights_file(weights_dir: Path) -> Callable[[str], Path]:
    """``weights_file("x.tflite")`` -> the path, or skip naming the missing file."""
    return lambda name: _require(weights_dir, name)


@pytest.fixture(scope="session")
def media_file(media_dir: Path) -> Callable[[str], Path]:
    """``media_file("bus.jpg")`` -> the path, or skip naming the missing file."""
    return lambda name: _require(media_dir, name)
