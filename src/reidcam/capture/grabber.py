"""Keep only the newest frame of a live camera so processing never falls behind.

A camera produces frames at its own pace; if detection is slower, frames queue
up in the driver or the network buffer and the pipeline shows the past, further
behind every second. :class:`LatestFrameGrabber` reads the source on its own
thread as fast as it delivers and keeps one slot: a new frame replaces an
unconsumed one, which is counted as dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from reidcam.capture.base import FrameSource
from reidcam.capture.handoff import ReaderThread
from reidcam.core.types import Frame

logger = logging.getLogger(__name__)


class LatestFrameGrabber(ReaderThread):
    """A daemon thread that reads ``source`` continuously and keeps only the newest frame.

    The source should be opened by the caller first, so that open errors surface
    in the caller's thread. ``stop`` closes the source (the only way to interrupt
    a live source's reconnect wait) and joins the thread. Thread-safe: ``get``,
    ``stop`` and the counters may be used from any thread.

    Args:
        source: the frame source to drain, usually a live ``StreamSource``.
        autostart: start the thread in the constructor.
        on_frame: called (from the reader thread) after each new frame, so a consumer
            waiting on several cameras wakes at once instead of polling.
    """

    thread_prefix = "grabber"

    def __init__(
        self, source: FrameSource, *, autostart: bool = True, on_frame: Callable[[], None] | None = None
    ) -> None:
        self._latest: tuple[Frame, float] | None = None
        self._dropped = 0
        super().__init__(source, on_frame=on_frame, autostart=autostart)

    @property
    def dropped(self) -> int:
        """Frames replaced by a newer one before anyone took them."""
        return self._dropped

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread: close the source and wait up to ``timeout_s`` for the thread."""
        self._stop.set()
        self.source.close()
        if self._join(timeout_s):
            cam = self.source.camera_id
            logger.warning("camera %r: grabber thread still blocked in read after %.1f s", cam, timeout_s)
        self._finish()

    def __enter__(self) -> LatestFrameGrabber:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                frame = self.source.read()
                if frame is None:
                    break
                measured = (time.perf_counter() - t0) * 1000.0
                # A paced source sleeps inside read(); it reports its decode time itself.
                self._put(frame, float(getattr(self.source, "last_decode_ms", measured)))
        except Exception as exc:  # reported through .error and the log; the thread must not vanish silently
            self.error = exc
            logger.exception("camera %r: frame grabber failed", self.source.camera_id)
        finally:
            self._finish()

    def _pending(self) -> bool:
        return self._latest is not None

    def _take(self) -> tuple[Frame, float]:
        assert self._latest is not None
        item, self._latest = self._latest, None
        return item

    def _store(self, frame: Frame, decode_ms: float) -> None:
        if self._latest is not None:
            self._dropped += 1
        self._latest = (frame, decode_ms)
