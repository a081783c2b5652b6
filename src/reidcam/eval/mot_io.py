"""MOTChallenge sequences on disk: ``seqinfo.ini``, ``img1/`` frames, ``gt/gt.txt`` rows.

gt.txt columns (MOT16/17): ``frame, id, x, y, w, h, consider_flag, class, visibility``;
class 1 is pedestrian, flag 0 marks a box not to be evaluated. Frames are numbered from 1.
Tracker output uses the same first six columns, then ``conf, -1, -1, -1``.
"""

from __future__ import annotations

import configparser
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reidcam.eval.dataset import IMAGE_SUFFIXES, DatasetError

log = logging.getLogger(__name__)

PEDESTRIAN = 1
GT_COLUMNS = 9


@dataclass(frozen=True)
class MotSequence:
    """One sequence: its name, frame rate, size and the frames that are really on disk.

    ``frames`` is ``[(frame_number, path), ...]`` sorted by number; a sequence may hold fewer
    frames than its ``seqinfo.ini`` ``seqLength`` (MOT17-mini keeps 4-8 of them).
    """

    name: str
    root: Path
    frame_rate: float
    width: int
    height: int
    frames: tuple[tuple[int, Path], ...]

    @property
    def gt_path(self) -> Path:
        return self.root / "gt" / "gt.txt"

    @property
    def frame_numbers(self) -> list[int]:
        return [n for n, _ in self.frames]


def _frame_number(path: Path) -> int | None:
    return int(path.stem) if path.stem.isdigit() else None


def read_sequence(root: str | Path) -> MotSequence:
    """Read ``seqinfo.ini`` and list the frames present in its image folder.

    Raises:
        DatasetError: no seqinfo.ini, or no numbered frames in the image folder.
    """
    root = Path(root)
    ini = root / "seqinfo.ini"
    if not ini.is_file():
        raise DatasetError(f"{root} is not a MOTChallenge sequence: no seqinfo.ini")
    parser = configparser.ConfigParser()
    parser.read(ini)
    info = parser["Sequence"] if parser.has_section("Sequence") else {}
    img_dir = root / info.get("imDir", "img1")
    numbered = [
        (_frame_number(p), p) for p in sorted(img_dir.glob("*")) if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    frames = tuple(sorted((n, p) for n, p in numbered if n is not None))
    if not frames:
        raise DatasetError(f"{img_dir} holds no numbered frames (000001.jpg, ...)")
    return MotSequence(
        name=info.get("name", root.name),
        root=root,
        frame_rate=float(info.get("frameRate", 30)),
        width=int(info.get("imWidth", 0)),
        height=int(info.get("imHeight", 0)),
        frames=frames,
    )


def find_sequences(root: str | Path) -> list[MotSequence]:
    """``root`` itself when it is a sequence, else each sub-folder that is one, by name.

    Raises:
        DatasetError: no sequence found.
    """
    root = Path(root)
    if (root / "seqinfo.ini").is_file():
        return [read_sequence(root)]
    seqs = (
        [read_sequence(d) for d in sorted(root.iterdir()) if (d / "seqinfo.ini").is_file()]
        if root.is_dir()
        else []
    )
    if not seqs:
        raise DatasetError(f"no MOTChallenge sequence (a folder with seqinfo.ini and img1/) in {root}")
    return seqs


def read_gt(path: str | Path) -> NDArray[np.float64]:
    """gt.txt as an (N, 9) float64 array (an empty file gives (0, 9)).

    Raises:
        DatasetError: missing file or fewer than 9 columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"ground truth not found: {path}")
    rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    if rows.size == 0:
        return np.zeros((0, GT_COLUMNS))
    if rows.shape[1] < GT_COLUMNS:
        raise DatasetError(f"{path}: {rows.shape[1]} columns, MOT16/17 ground truth has {GT_COLUMNS}")
    return rows[:, :GT_COLUMNS]


def keep_frames(rows: NDArray[np.float64], frames: list[int]) -> NDArray[np.float64]:
    """Only the rows of the given frame numbers (full-sequence gt against a few frames on disk)."""
    return rows[np.isin(rows[:, 0].astype(np.int64), np.asarray(frames, np.int64))]


def renumber_frames(rows: NDArray[np.float64], frames: list[int]) -> NDArray[np.float64]:
    """Map frame numbers onto 1..len(frames) in order (evaluators want contiguous time steps).

    Rows whose frame is not in ``frames`` are dropped.
    """
    rows = keep_frames(rows, frames)
    lookup = {n: i + 1 for i, n in enumerate(sorted(frames))}
    out = rows.copy()
    out[:, 0] = [lookup[int(f)] for f in rows[:, 0]]
    return out


def write_mot_txt(path: Path, rows: NDArray[np.float64]) -> None:
    """Write rows in MOTChallenge text format (frame and id as integers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for r in rows:
        head = f"{int(r[0])},{int(r[1])}"
        rest = ",".join(f"{v:.2f}" if abs(v - round(v)) > 1e-9 else f"{v:.0f}" for v in r[2:])
        lines.append(f"{head},{rest}")
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def pedestrian_boxes(rows: NDArray[np.float64], min_visibility: float = 0.0) -> NDArray[np.float64]:
    """Rows of evaluated pedestrians: class 1, consider flag 1, visibility at least ``min_visibility``."""
    keep = (rows[:, 7] == PEDESTRIAN) & (rows[:, 6] != 0) & (rows[:, 8] >= min_visibility)
    return np.asarray(rows[keep], dtype=np.float64)
