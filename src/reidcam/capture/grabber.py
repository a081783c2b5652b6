"""Keep only the newest frame of a live camera so processing never falls behind.

A camera produces frames at its own pace; if detection is slower, frames queue
up in the driver or the network buffer and the pipeline shows the past, further
behind every second. :class:`LatestFrameGrabber` reads the source on its own
thread as fast as it delivers and keeps one slot: a new frame replaces an
unconsumed one, which is counted as dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from reidcam.capture.base import FrameSource
from reidcam.core.types import Frame

logger = logging.getLogger(__name__)


class LatestFrameGrabber:
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

    def __init__(
        self, source: FrameSource, *, autostart: bool = True, on_frame: Callable[[], None] | None = None
    ) -> None:
        self.source = source
        self._on_frame = on_frame
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._latest_decode_ms = 0.0
        self.last_decode_ms = 0.0
        self._stop = threading.Event()
        self._ended = False
        self._grabbed = 0
        self._dropped = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"grabber-{source.camera_id}", daemon=True)
        if autostart:
            self.start()

    def start(self) -> LatestFrameGrabber:
        """Start the reader thread; calling it again does nothing."""
        if not self._thread.is_alive() and not self._thread.ident:
            self._thread.start()
        return self

    @property
    def grabbed(self) -> int:
        """Frames read from the source."""
        return self._grabbed

    @property
    def dropped(self) -> int:
        """Frames replaced by a newer one before anyone took them."""
        return self._dropped

    @property
    def ended(self) -> bool:
        """True once the source returned None, raised, or ``stop`` was called."""
        return self._ended

    @property
    def error(self) -> BaseException | None:
        """The exception that ended the reader thread, if any."""
        return self._error

    @property
    def exhausted(self) -> bool:
        """True once ended with no frame pending: ``get`` will never return a frame again."""
        with self._cond:
            return self._ended and self._latest is None

    def get(self, timeout_s: float | None = None) -> Frame | None:
        """Take the newest frame not yet taken, waiting up to ``timeout_s`` for one.

        Returns:
            The frame, or None on timeout or once the grabber has ended and no
            frame is pending (check ``ended`` to tell the two apart).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while self._latest is None and not self._ended:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._latest = self._latest, None
            if frame is not None:
                self.last_decode_ms = self._latest_decode_ms
            return frame

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread: close the source and wait up to ``timeout_s`` for the thread."""
        self._stop.set()
        self.source.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning(
                    "camera %r: grabber thread still blocked in read after %.1f s",
                    self.source.camera_id,
                    timeout_s,
                )
        self._finish()

    def __enter__(self) -> LatestFrameGrabber:
        return self.start()

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
            self._error = exc
            logger.exception("camera %r: frame grabber failed", self.source.camera_id)
        finally:
            self._finish()

    def _put(self, frame: Frame, decode_ms: float = 0.0) -> None:
        with self._cond:
            if self._latest is not None:
                self._dropped += 1
            self._latest, self._latest_decode_ms = frame, decode_ms
            self._grabbed += 1
            self._cond.notify_all()
        if self._on_frame is not None:
            self._on_frame()

    def _finish(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        if self._on_frame is not None:
            self._on_frame()
