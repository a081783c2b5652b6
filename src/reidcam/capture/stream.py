"""Live cameras: USB devices and rtsp/rtmp/http(s) streams that reconnect by themselves.

A network camera drops out (Wi-Fi, a reboot, a PoE switch); the pipeline must
not die with it. :class:`StreamSource` therefore never ends on its own: a failed
open or read releases the capture and retries with capped exponential backoff
until the camera is back or :meth:`StreamSource.close` is called.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.capture._image import age_s, to_bgr
from reidcam.capture.urls import describe_source, redact_text
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame

logger = logging.getLogger(__name__)


class CaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` a stream needs; tests pass fakes."""

    def isOpened(self) -> bool: ...  # OpenCV's camelCase name

    def read(self) -> tuple[bool, Any]: ...

    def release(self) -> None: ...


#: Opens a source (USB index or URL) and returns a capture, opened or not.
Opener = Callable[[int | str], CaptureLike]


def make_opener(open_timeout_s: float = 10.0, read_timeout_s: float = 10.0) -> Opener:
    """An :data:`Opener` backed by ``cv2.VideoCapture``.

    URLs go through the FFmpeg backend with open/read timeouts so a dead host
    cannot block a camera thread forever (RTSP over TCP can be forced with the
    environment variable ``OPENCV_FFMPEG_CAPTURE_OPTIONS="rtsp_transport;tcp"``).
    USB indexes use the platform's default backend.
    """
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(read_timeout_s * 1000),
    ]

    def opener(source: int | str) -> CaptureLike:
        if isinstance(source, int):
            return cv2.VideoCapture(source)
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)

    return opener


def next_backoff_s(current_s: float, max_s: float) -> float:
    """The delay after ``current_s``: doubled, capped at ``max_s``."""
    return min(current_s * 2.0, max_s)


def parse_device(source: int | str) -> int | str:
    """A USB index given as text (``"0"``) becomes an int; anything else is unchanged."""
    if isinstance(source, str) and source.strip().isdigit():
        return int(source.strip())
    return source


class StreamSource:
    """A USB camera or network stream that reconnects with capped exponential backoff.

    ``read`` blocks until a frame arrives and never returns None by itself: on a
    failed open or read it waits ``reconnect_backoff_s`` (doubling after each
    failed attempt, at most ``reconnect_backoff_max_s``, back to the start after
    a good frame) and reopens. The wait is interrupted at once by ``close``,
    after which ``read`` returns None. ``status().reconnects`` counts reopen
    attempts. A live stream that has delivered nothing for ``stall_after_s``
    reports ``STALLED`` (the read is still waiting); once the capture gives up
    (the default opener's FFmpeg read timeout is ``read_timeout_s``) the source
    reports ``RECONNECTING``. The stall threshold is below the read timeout on
    purpose: equal, the capture would give up the moment the stall shows, and a
    hung camera would never be seen as stalled. URLs are redacted in every log
    line, status and error. ``read`` is meant for one reader thread; ``close``
    and ``status`` may be called from any thread.

    Args:
        camera_id: id of the camera from the config.
        source: USB index (int or digits) or rtsp/rtmp/http(s) URL.
        reconnect_backoff_s: first delay before a reconnect, seconds.
        reconnect_backoff_max_s: cap of the doubling delay, seconds.
        read_timeout_s: the FFmpeg open/read timeout of the default opener:
            a read or open blocked this long fails and the source reconnects.
        opener: makes a capture from ``source``; defaults to :func:`make_opener`.
        stall_after_s: no frame for this long means ``STALLED``; default half of
            ``read_timeout_s``.
    """

    def __init__(
        self,
        camera_id: str,
        source: int | str,
        *,
        reconnect_backoff_s: float = 1.0,
        reconnect_backoff_max_s: float = 30.0,
        read_timeout_s: float = 10.0,
        opener: Opener | None = None,
        stall_after_s: float | None = None,
    ) -> None:
        if reconnect_backoff_s <= 0 or reconnect_backoff_max_s <= 0 or read_timeout_s <= 0:
            raise ValueError("backoff and timeout durations must be > 0")
        if stall_after_s is not None and stall_after_s <= 0:
            raise ValueError("stall_after_s must be > 0")
        self.camera_id = camera_id
        self._source = parse_device(source)
        self.description = describe_source(self._source)
        self.reconnect_backoff_s = reconnect_backoff_s
        self.reconnect_backoff_max_s = max(reconnect_backoff_s, reconnect_backoff_max_s)
        self.read_timeout_s = read_timeout_s
        self.stall_after_s = read_timeout_s / 2.0 if stall_after_s is None else stall_after_s
        self._opener = opener or make_opener(read_timeout_s, read_timeout_s)
        self._cap: CaptureLike | None = None
        self._cap_lock = threading.Lock()  # held while the capture is used or released
        self._closed = threading.Event()
        self._started = False
        self._backoff_s = reconnect_backoff_s
        self._state = SourceState.STARTING
        self._frames_read = 0
        self._reconnects = 0
        self._last_frame_mono: float | None = None
        self._last_error: str | None = None

    def __repr__(self) -> str:
        return f"StreamSource({self.camera_id!r}, {self.description!r})"

    @property
    def is_live(self) -> bool:
        return True

    @property
    def reconnects(self) -> int:
        """Reopen attempts after a failed open or a lost stream."""
        return self._reconnects

    @property
    def backoff_s(self) -> float:
        """The delay the next reconnect will wait, seconds."""
        return self._backoff_s

    def open(self) -> None:
        """Try to open the camera once; a failure is logged and retried by ``read``.

        Never raises for an unreachable camera: a camera that is off at start-up
        is the same situation as one that drops out later. Calling it again does
        nothing.
        """
        if self._started or self._closed.is_set():
            return
        self._started = True
        self._connect()

    def read(self) -> Frame | None:
        """Block until the next frame; None only once ``close`` was called."""
        if not self._started:
            self.open()
        while not self._closed.is_set():
            if self._cap is None and not self._reconnect():
                continue
            frame = self._grab()
            if frame is not None:
                return frame
        self._release()
        return None

    def close(self) -> None:
        """Stop: interrupts a backoff wait at once and makes ``read`` return None.

        A capture blocked inside its own read (a hung stream) is released by the
        reader thread as soon as that read returns, never under its feet.
        """
        if not self._closed.is_set():
            logger.info("camera %r: closing %s", self.camera_id, self.description)
        self._closed.set()
        if self._cap_lock.acquire(blocking=False):
            try:
                self._release_locked()
            finally:
                self._cap_lock.release()

    def status(self) -> SourceStatus:
        return SourceStatus(
            camera_id=self.camera_id,
            state=self._current_state(),
            frames_read=self._frames_read,
            reconnects=self._reconnects,
            last_frame_age_s=age_s(self._last_frame_mono),
            last_error=self._last_error,
            description=self.description,
        )

    def _current_state(self) -> SourceState:
        if self._closed.is_set():
            return SourceState.STOPPED
        if self._state is SourceState.LIVE:
            age = age_s(self._last_frame_mono)
            if age is not None and age > self.stall_after_s:
                return SourceState.STALLED
        return self._state

    def _reconnect(self) -> bool:
        """Wait the backoff (interruptible by close), then reopen; True if open."""
        self._state = SourceState.RECONNECTING
        delay = self._backoff_s
        logger.debug("camera %r: reconnecting to %s in %.3g s", self.camera_id, self.description, delay)
        if self._closed.wait(delay):
            return False
        self._backoff_s = next_backoff_s(delay, self.reconnect_backoff_max_s)
        self._reconnects += 1
        return self._connect()

    def _connect(self) -> bool:
        """Open a capture through the opener; on failure record why and return False."""
        try:
            cap = self._opener(self._source)
            opened = bool(cap.isOpened())
        except Exception as exc:  # an opener may raise anything (cv2.error, OSError, ...)
            return self._open_failed(self._redact(str(exc)) or type(exc).__name__)
        if not opened:
            cap.release()
            return self._open_failed("not opened")
        with self._cap_lock:
            if self._closed.is_set():
                cap.release()
                return False
            self._cap = cap
        logger.info("camera %r: opened %s", self.camera_id, self.description)
        return True

    def _open_failed(self, why: str) -> bool:
        self._last_error = f"cannot open {self.description}: {why}"
        self._state = SourceState.RECONNECTING
        logger.warning(
            "camera %r: cannot open %s (%s); retrying in %.3g s",
            self.camera_id,
            self.description,
            why,
            self._backoff_s,
        )
        return False

    def _redact(self, text: str) -> str:
        """Hide the source's credentials in a message that may quote the raw URL."""
        if isinstance(self._source, str) and self._source:
            text = text.replace(self._source, self.description)
        return redact_text(text)

    def _grab(self) -> Frame | None:
        """Read one frame; on failure release the capture so the next loop reconnects."""
        with self._cap_lock:
            cap = self._cap
            if cap is None:
                return None
            try:
                ok, raw = cap.read()
            except Exception as exc:  # a backend error is a lost stream, not a crash
                logger.debug("camera %r: read raised %r", self.camera_id, exc)
                ok, raw = False, None
            image = to_bgr(raw) if ok else None
            if image is None or self._closed.is_set():  # close() left the release to us
                self._release_locked()
        if image is None:
            self._lost()
            return None
        return self._deliver(image)

    def _deliver(self, image: NDArray[np.uint8]) -> Frame:
        if self._state is not SourceState.LIVE:
            if self._reconnects:
                logger.info("camera %r: %s is live again", self.camera_id, self.description)
            self._state = SourceState.LIVE
        self._backoff_s = self.reconnect_backoff_s
        frame = Frame(self.camera_id, self._frames_read, image, time.time())
        self._frames_read += 1
        self._last_frame_mono = time.monotonic()
        return frame

    def _lost(self) -> None:
        if self._closed.is_set():
            return
        self._last_error = f"read failed on {self.description}"
        self._state = SourceState.RECONNECTING
        logger.warning(
            "camera %r: lost %s after %d frames; reconnecting in %.3g s",
            self.camera_id,
            self.description,
            self._frames_read,
            self._backoff_s,
        )

    def _release(self) -> None:
        with self._cap_lock:
            self._release_locked()

    def _release_locked(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            try:
                cap.release()
            except Exception as exc:  # releasing a broken capture must not mask the real error
                logger.debug("camera %r: release raised %r", self.camera_id, exc)
