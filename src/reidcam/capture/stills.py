"""Is an image folder a video cut into frames, or stills taken far apart?

Frames of a video can be tracked from one to the next; stills cannot (see
``reidcam.track.stills``). ``cameras[].stills: auto`` decides from two clues, either of which
says "stills":

- frame numbers in the file names (``c1s1_002301.jpg``): the number that changes most from
  file to file steps by more than :data:`MAX_VIDEO_STEP` frames in the median. A video sampled
  every few frames still tracks; a step of dozens of frames (a second or more) does not.
- file times: successive files were written :data:`MIN_STILLS_GAP_S` or more apart in the
  median. Frames cut from a video are written in milliseconds; photos and snapshots are not.

With neither clue (no numbers, all files written at once) the folder is played as video.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter
from pathlib import Path

#: Largest median step between frame numbers still treated as video (every 5th frame of 25 fps).
MAX_VIDEO_STEP = 5
#: Smallest median gap between file times (s) that marks stills.
MIN_STILLS_GAP_S = 1.0

_DIGITS_RE = re.compile(r"\d+")


def frame_number_step(files: list[Path]) -> int | None:
    """Median forward step of the frame number in the names, None when the names carry none."""
    runs = [[int(d) for d in _DIGITS_RE.findall(p.stem)] for p in files]
    if not runs:
        return None
    width = Counter(len(r) for r in runs).most_common(1)[0][0]
    runs = [r for r in runs if len(r) == width]
    if width == 0 or len(runs) < 3:
        return None
    # The frame number is the run with the most distinct values (the last one on a tie).
    column = max(range(width), key=lambda i: (len({r[i] for r in runs}), i))
    values = [r[column] for r in runs]
    steps = [b - a for a, b in itertools.pairwise(values) if b > a]
    return int(statistics.median_low(steps)) if len(steps) >= 2 else None


def file_time_gap_s(files: list[Path]) -> float | None:
    """Median gap between the modification times of successive files (s), None if unreadable."""
    try:
        times = [p.stat().st_mtime for p in files]
    except OSError:
        return None
    gaps = [abs(b - a) for a, b in itertools.pairwise(times)]
    return float(statistics.median(gaps)) if len(gaps) >= 2 else None


def looks_like_stills(files: list[Path]) -> tuple[bool, str]:
    """(stills?, why) for the files of an image folder in play order."""
    step = frame_number_step(files)
    if step is not None and step > MAX_VIDEO_STEP:
        return True, f"frame numbers in the names step by {step} in the median"
    gap = file_time_gap_s(files)
    if gap is not None and gap >= MIN_STILLS_GAP_S:
        return True, f"files were written {gap:.0f} s apart in the median"
    if step is not None:
        return False, f"frame numbers in the names step by {step} in the median"
    return False, "no frame numbers in the names and file times close together"
