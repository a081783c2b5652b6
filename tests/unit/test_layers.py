"""The import layers of src/reidcam hold, and the check that says so can fail (tests/support/layers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import layers

SRC = Path(__file__).resolve().parents[2] / "src"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fake ``src/`` holding ``reidcam/<path>`` files with the given sources."""
    src = tmp_path / "src"
    for rel, text in files.items():
        path = src / "reidcam" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return src


def test_reidcam_imports_only_downwards() -> None:
    found = layers.scan(SRC)
    assert len(found) > 500  # the scan saw the package, not an empty folder
    assert layers.layer_violations(found) == []


def test_reidcam_has_no_import_cycle() -> None:
    assert layers.cycles(layers.scan(SRC)) == []


def test_every_part_of_reidcam_has_a_layer() -> None:
    parts = {p.stem if p.suffix == ".py" else p.name for p in (SRC / "reidcam").iterdir()}
    parts -= {"__init__", "__pycache__", "__main__", "py.typed"}
    for name in sorted(parts):
        layers.layer_of(name)  # raises KeyError naming the part


def test_an_upward_import_even_a_lazy_one_is_reported(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/types.py": "def f():\n    from reidcam.pipeline.step import run\n    return run\n",
            "pipeline/__init__.py": "",
            "pipeline/step.py": "from reidcam.core.types import f\nrun = f\n",
        },
    )
    bad = layers.layer_violations(layers.scan(src))
    assert len(bad) == 1
    assert "reidcam.core.types imports reidcam.pipeline.step (a higher layer)" in bad[0]
    assert bad[0].startswith(str(src / "reidcam" / "core" / "types.py") + ":2:")


def test_a_sibling_import_and_a_relative_one_are_reported(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "capture/__init__.py": "",
            "capture/grab.py": "from ..detect import yolo\n",
            "detect/__init__.py": "",
            "detect/yolo.py": "",
        },
    )
    bad = layers.layer_violations(layers.scan(src))
    assert bad == [
        f"{src / 'reidcam/capture/grab.py'}:1: reidcam.capture.grab imports reidcam.detect.yolo "
        "(a sibling in its layer)"
    ]


def test_a_downward_import_passes(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/types.py": "",
            "web/__init__.py": "",
            "web/app.py": "import reidcam.core.types\n",
        },
    )
    found = layers.scan(src)
    assert [(i.importer, i.target) for i in found] == [("reidcam.web.app", "reidcam.core.types")]
    assert layers.layer_violations(found) == []


def test_a_cycle_within_one_package_is_found(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "identity/__init__.py": "",
            "identity/memory.py": "from reidcam.identity import retention\n",
            "identity/retention.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from reidcam.identity.memory import IdentityMemory\n",
        },
    )
    found = layers.scan(src)
    assert layers.layer_violations(found) == []
    assert layers.cycles(found) == [["reidcam.identity.memory", "reidcam.identity.retention"]]


def test_a_part_without_a_layer_is_an_error(tmp_path: Path) -> None:
    src = _tree(
        tmp_path, {"core/__init__.py": "", "gadgets/__init__.py": "", "gadgets/x.py": "import reidcam.core\n"}
    )
    with pytest.raises(KeyError, match=r"reidcam\.gadgets is in no layer"):
        layers.layer_violations(layers.scan(src))
