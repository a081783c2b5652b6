"""Progress off a terminal: a line every few seconds and one at the end, never one per frame."""

import io

import numpy as np

from reidcam.commands.progress import Progress
from reidcam.core.events import FrameResult
from reidcam.core.types import Frame


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _result(i):
    return FrameResult(Frame("cam0", i, np.zeros((4, 4, 3), np.uint8), 0.0), ())


def test_a_file_gets_a_line_every_interval_not_per_frame():
    stream, clock = io.StringIO(), _Clock()
    progress = Progress(stream=stream, interval_s=5.0, clock=clock)
    for i in range(1200):  # 12 s at 100 frames/s
        clock.t += 0.01
        progress.on_frame(_result(i))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # at 5 s, at 10 s, and the closing line
    assert "\r" not in stream.getvalue()
    assert lines[-1].startswith("reidcam: 1200 frames, 0 matched, 12 s")


def test_disabled_progress_writes_nothing():
    stream = io.StringIO()
    progress = Progress(enabled=False, stream=stream, interval_s=0.0)
    progress.on_frame(_result(0))
    progress.close()
    assert stream.getvalue() == ""


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_the_bar():
    stream = _Tty()
    progress = Progress(stream=stream)
    progress.on_frame(_result(0))
    progress.close()
    assert progress.bar is not None and "frame" in stream.getvalue()
