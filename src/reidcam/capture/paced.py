"""A recording played as a live camera: at a fixed frame rate, looping, newest frame only.

A recording read as fast as the CPU allows burns a core and ends in seconds. The web app's
demo cameras and the benchmark's live mode instead play it the way a real camera delivers:
at its frame rate, over and over, without waiting for the model. Read through a
``LatestFrameGrabber`` (``is_live`` is True), frames the pipeline is too slow for are dropped
and counted, and the latency from capture to match is real.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from reidcam.capture.base import FrameSource
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame

log = logging.getLogger(__name__)


def _skip(source: FrameSource, n: int) -> None:
    """Pass over ``n`` frames: without decoding them when the source can (``skip``), else read."""
    skip = getattr(source, "skip", None)
    if skip is not None:
        skip(n)
        return
    for _ in range(n):
        if source.read() is None:
            return


class PacedSource:
    """Plays ``factory()`` sources one after another at ``fps``, renumbering frames.

    Frames are renumbered so indices keep growing across passes (trackers and sighting books
    expect that) and stamped with the time they are delivered; ``Frame.name`` keeps the file
    name, or ``frame000123`` (position in the pass) for videos, so a replayed frame can be
    recognised.

    ``real_time``: a video (a source that announces its frame rate, ``fps``) is never played in
    slow motion. ``fps`` is how many frames a second are taken from it: below the video's own
    rate the frames in between are skipped, so a 30 fps film with ``fps=5`` shows every 6th
    frame and still lasts as long as the film; None takes every frame at the film's rate. In
    both cases a frame delivered late does not slow the film: the next one is the frame due at
    that time. An ``fps`` above the video's rate plays every frame at ``fps`` (faster than real
    time: a benchmark that feeds the pipeline at a live camera's rate from a slower file). A
    source without a rate of its own (an image folder) plays at ``fps``, else ``stills_fps``.

    Args:
        camera_id: the camera's id.
        factory: builds a new, unopened finite source (one per pass).
        fps: frames per second to deliver; None plays as fast as frames are read (or, with
            ``real_time``, at the video's own rate).
        loop: start a new pass when a pass ends (else the source ends).
        max_frames: end after this many frames (None = never, with ``loop``).
        real_time: play videos at their own speed (see above).
        stills_fps: with ``real_time``, the pace of a source without a frame rate when ``fps`` is None.

    Raises:
        ValueError: ``fps`` or ``stills_fps`` is not positive.
    """

    def __init__(
        self,
        camera_id: str,
        factory: Callable[[], FrameSource],
        fps: float | None,
        loop: bool = True,
        max_frames: int | None = None,
        *,
        real_time: bool = False,
        stills_fps: float | None = None,
    ) -> None:
        if (fps is not None and fps <= 0) or (stills_fps is not None and stills_fps <= 0):
            raise ValueError("fps must be > 0 (None plays unpaced)")
        self.camera_id = camera_id
        self.fps = None if fps is None else float(fps)
        self.loop = loop
        self._factory = factory
        self._max_frames = max_frames
        self._inner: FrameSource | None = None
        self._closed = threading.Event()
        self._count = 0
        self._passes = 0
        self._pass_frames = 0
        self._next_due = 0.0
        self._ended = False
        self.real_time = real_time
        self.stills_fps = None if stills_fps is None else float(stills_fps)
        self._pass_start: float | None = None  # monotonic time of the pass's first frame
        self._media_pos = 0  # frames taken from the current pass (read or skipped)
        self._media_rate: float | None = None  # the current pass's video frame rate (real time only)
        self.last_decode_ms = 0.0  # the grabber reports this, not the pacing sleep

    @property
    def is_live(self) -> bool:
        return True

    def open(self) -> None:
        """Open the first pass. Raises SourceError if the file or folder is unusable."""
        if self._inner is None:
            inner = self._factory()
            inner.open()
            self._inner, self._passes = inner, 1
            self._opened(inner)

    def read(self) -> Frame | None:
        """The next frame when it is due (sleeps until then), or None once ended or closed."""
        if self._closed.is_set() or self._ended:
            return None
        if self._max_frames is not None and self._count >= self._max_frames:
            self._ended = True
            return None
        self.open()
        if self._film_clock() is not None:
            return self._read_in_real_time()
        t0 = time.perf_counter()
        frame = self._inner.read() if self._inner is not None else None
        if frame is None:
            frame = self._next_pass()
        self.last_decode_ms = (time.perf_counter() - t0) * 1000.0
        if frame is None:
            self._ended = True
            return None
        if not self._wait_for_slot():
            return None
        return self._deliver(frame)

    def _deliver(self, frame: Frame) -> Frame:
        self._pass_frames += 1
        name = frame.name or f"frame{frame.index:06d}"
        out = replace(frame, index=self._count, name=name, captured_at=time.time())
        self._count += 1
        return out

    def _media_fps(self) -> float | None:
        """The video's own frame rate when it plays in real time, else None."""
        return self._media_rate

    def _opened(self, inner: FrameSource) -> None:
        """A pass starts on ``inner`` (opened): note its frame rate, restart the film's clock."""
        rate = getattr(inner, "fps", None) if self.real_time else None
        self._media_rate = float(rate) if isinstance(rate, (int, float)) and rate > 0 else None
        self._pass_start, self._media_pos = None, 0

    def _film_clock(self) -> float | None:
        """The video's rate when frames are taken by the film's clock (skipping), else None."""
        media = self._media_fps()
        return media if media is not None and (self.fps is None or self.fps < media) else None

    def _pace(self) -> float | None:
        """Frames delivered per second; None: as fast as they are read."""
        if self.fps is not None:
            return self.fps
        if self._media_fps() is not None:
            return self._media_fps()
        return self.stills_fps if self.real_time else None

    def _read_in_real_time(self) -> Frame | None:
        """Wait for the next slot, then deliver the video frame due at that time (skipping the rest)."""
        if not self._wait_for_slot():
            return None
        due = self._next_due
        t0 = time.perf_counter()
        frame = self._frame_at(due)
        if frame is None:
            frame = self._next_pass()
            self._pass_start, self._media_pos = due, 0 if frame is None else 1
        self.last_decode_ms = (time.perf_counter() - t0) * 1000.0
        if frame is None:
            self._ended = True
            return None
        return self._deliver(frame)

    def _frame_at(self, due: float) -> Frame | None:
        """The frame of the current pass shown at monotonic time ``due``; None once the pass ends."""
        media, inner = self._film_clock(), self._inner
        if media is None or inner is None:
            return None
        if self._pass_start is None:
            self._pass_start = due
        target = round((due - self._pass_start) * media)
        if target > self._media_pos:
            _skip(inner, target - self._media_pos)
        self._media_pos = max(target, self._media_pos) + 1
        return inner.read()

    def _wait_for_slot(self) -> bool:
        """The first frame at once, then one per period; a late frame is not followed by a burst."""
        pace = self._pace()
        if pace is None:
            return True
        now, period = time.monotonic(), 1.0 / pace
        self._next_due = now if self._count == 0 else max(self._next_due + period, now - period)
        return not self._closed.wait(max(0.0, self._next_due - now))

    def _next_pass(self) -> Frame | None:
        if not self.loop or self._pass_frames == 0 or self._closed.is_set():
            return None  # an empty pass would loop forever
        if self._inner is not None:
            self._inner.close()
        self._inner = self._factory()
        self._inner.open()
        self._opened(self._inner)
        self._passes += 1
        self._pass_frames = 0
        log.debug("camera %s: pass %d", self.camera_id, self._passes)
        return self._inner.read()

    def close(self) -> None:
        self._closed.set()
        if self._inner is not None:
            self._inner.close()

    def status(self) -> SourceStatus:
        if self._inner is None:
            state = SourceState.STOPPED if self._closed.is_set() else SourceState.STARTING
            return SourceStatus(self.camera_id, state, 0, 0, None, None, "paced (not open)")
        inner = self._inner.status()
        state = inner.state
        if self._closed.is_set():
            state = SourceState.STOPPED
        elif self._ended:
            state = SourceState.ENDED
        elif state is SourceState.ENDED:
            state = SourceState.LIVE  # between two passes
        rate, media = self._pace(), self._media_fps()
        pace = f"{rate:g} fps" if rate else "unpaced"
        if media is not None:
            speed = "real time" if self._film_clock() is not None else "faster than real time"
            pace += f" of the video's {media:g}, {speed}"
        how = f"loop, pass {self._passes}" if self.loop else "once"
        return replace(
            inner, state=state, frames_read=self._count, description=f"{inner.description} ({how}, {pace})"
        )
