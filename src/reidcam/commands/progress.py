"""Progress of a long command on stderr: a bar on a terminal, a line every few seconds elsewhere.

A bar redrawn per frame is right on a terminal and wrong in a CI log or a file, where each
redraw becomes text: thousands of lines for one run. Off a terminal the progress is one plain
line every ``interval_s`` seconds and one at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting

#: Seconds between two progress lines when stderr is not a terminal.
LINE_INTERVAL_S = 5.0


class Progress:
    """EventSink counting frames and matches; shows them on ``stream`` (default stderr).

    Args:
        enabled: False shows nothing.
        stream: where to write; a terminal gets a tqdm bar, anything else plain lines.
        interval_s: seconds between plain lines.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval_s: float = LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.frames = 0
        self.matched = 0
        self.interval_s = interval_s
        self._clock = clock
        self._t0 = self._last = clock()
        is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = (
            tqdm(total=None, unit="frame", file=self.stream, dynamic_ncols=True)
            if enabled and is_tty
            else None
        )

    def on_frame(self, result: FrameResult) -> None:
        self.frames += 1
        self.matched += sum(o.matched for o in result.observations)
        if self.bar is not None:
            self.bar.set_postfix(matched=self.matched, refresh=False)
            self.bar.update(1)
        elif self.enabled and self._clock() - self._last >= self.interval_s:
            self._line()

    def _line(self) -> None:
        self._last = now = self._clock()
        elapsed = now - self._t0
        rate = self.frames / elapsed if elapsed > 0 else 0.0
        print(
            f"reidcam: {self.frames} frames, {self.matched} matched, {elapsed:.0f} s ({rate:.1f} frames/s)",
            file=self.stream,
            flush=True,
        )

    def on_sighting_closed(self, sighting: Sighting) -> None:
        return None

    def on_status(self, status: SourceStatus) -> None:
        return None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._line()
