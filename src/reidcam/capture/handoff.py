"""The reader thread shared by the two ways a camera hands frames to the pipeline.

Both read a source on a daemon thread (OpenCV releases the GIL while decoding, so decoding
overlaps inference) and hand frames to one consumer under a condition variable; they differ
only in what they keep: the newest frame (a live camera) or every frame in order (a file).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from reidcam.capture.base import FrameSource
from reidcam.core.types import Frame


class ReaderThread:
    """Reads ``source`` on a daemon thread; subclasses decide what is kept (``_store``/``_take``).

    Thread-safe: ``get``, ``stop`` and the counters may be used from any thread.

    Args:
        source: the frame source, opened by the caller (so open errors surface there).
        on_frame: called from the reader thread after each frame and at the end, so a
            consumer waiting on several cameras wakes at once instead of polling.
        autostart: start the thread in the constructor.
    """

    thread_prefix = "reader"

    def __init__(
        self, source: FrameSource, *, on_frame: Callable[[], None] | None = None, autostart: bool = True
    ) -> None:
        self.source = source
        self._on_frame = on_frame
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ended = False
        self.grabbed = 0  # frames read from the source
        self.last_decode_ms = 0.0  # of the frame ``get`` returned last
        self.error: BaseException | None = None  # what ended or last upset the reader
        self._thread = threading.Thread(
            target=self._run, name=f"{self.thread_prefix}-{source.camera_id}", daemon=True
        )
        if autostart:
            self.start()

    def start(self) -> ReaderThread:
        """Start the reader thread; calling it again does nothing."""
        if not self._thread.is_alive() and not self._thread.ident:
            self._thread.start()
        return self

    @property
    def ended(self) -> bool:
        """True once the source returned None, failed for good, or ``stop`` was called."""
        return self._ended

    @property
    def exhausted(self) -> bool:
        """True once ended with nothing pending: ``get`` will never return a frame again."""
        with self._cond:
            return self._ended and not self._pending()

    def take_errors(self) -> int:
        """Read failures since the last call; none unless a subclass counts them (``PrefetchReader``)."""
        return 0

    def get(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame to process, waiting up to ``timeout_s`` for one.

        Returns:
            The frame, or None on timeout or once ended with nothing pending (check
            ``ended`` to tell the two apart).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._pending() and not self._ended:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if not self._pending():
                return None
            frame, self.last_decode_ms = self._take()
            self._cond.notify_all()  # room for the reader, where it waits for some
            return frame

    def _run(self) -> None:
        raise NotImplementedError

    def _pending(self) -> bool:
        raise NotImplementedError

    def _take(self) -> tuple[Frame, float]:
        raise NotImplementedError

    def _store(self, frame: Frame, decode_ms: float) -> None:
        raise NotImplementedError

    def _put(self, frame: Frame, decode_ms: float = 0.0) -> None:
        with self._cond:
            self._store(frame, decode_ms)
            self.grabbed += 1
            self._cond.notify_all()
        if self._on_frame is not None:
            self._on_frame()

    def _join(self, timeout_s: float) -> bool:
        """Wait for the reader thread; True if it is still running afterwards."""
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return self._thread.is_alive() and self._thread is not threading.current_thread()

    def _finish(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        if self._on_frame is not None:
            self._on_frame()
