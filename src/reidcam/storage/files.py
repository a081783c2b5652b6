"""Crop files that rows refer to: safe path resolution, deletion, and the startup sweep.

Writes go file first (atomic temp + rename), row second; deletes go row first, file second.
A crash in between therefore leaves at worst an unreferenced file or a ``.tmp-*`` file, never
a row pointing at a missing or half-written file; ``sweep`` removes those leftovers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"


def safe_path(root: Path, relpath: str) -> Path | None:
    """``root / relpath`` if it stays inside ``root`` (no ``..``, absolute or symlink escapes, no
    NUL byte), else None."""
    if not relpath or "\x00" in relpath or Path(relpath).is_absolute():
        return None
    base = Path(root).resolve()
    path = (base / relpath).resolve()
    return path if path == base or base in path.parents else None


def remove_files(root: Path, relpaths: Iterable[str | None]) -> tuple[int, list[str]]:
    """Delete the files; returns (number removed, error messages). Missing files are fine."""
    removed, errors = 0, []
    for rel in {p for p in relpaths if p}:
        path = safe_path(root, rel)
        if path is None:
            errors.append(f"refusing to delete {rel!r}: outside {root}")
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"cannot delete {path}: {exc}")
    for msg in errors:
        log.warning("%s", msg)
    return removed, errors


@dataclass
class SweepReport:
    """Leftovers removed by ``sweep``: temp files of interrupted writes, files no row refers to."""

    temp_files: int = 0
    orphans: int = 0
    errors: list[str] = field(default_factory=list)


def sweep(root: Path, folder: str, referenced: set[str], min_age_s: float = 60.0) -> SweepReport:
    """Remove temp and unreferenced files under ``root/folder`` older than ``min_age_s``.

    The age limit keeps a sweep from racing a writer that has written a file but not yet
    committed its row; at startup, before any writer runs, 0 is safe.
    """
    report = SweepReport()
    base = Path(root) / folder
    if not base.is_dir():
        return report
    cutoff = time.time() - min_age_s
    for dirpath, _dirs, names in os.walk(base):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            is_temp = name.startswith(TEMP_PREFIX)
            if not is_temp and rel in referenced:
                continue
            try:
                if path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
            except OSError as exc:
                report.errors.append(f"cannot remove {path}: {exc}")
                continue
            if is_temp:
                report.temp_files += 1
            else:
                report.orphans += 1
    return report
