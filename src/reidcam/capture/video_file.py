"""A video file played as a camera: finite, or looping for demo cameras."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.capture._image import age_s, to_bgr
from reidcam.core.errors import SourceError
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame

logger = logging.getLogger(__name__)


class VideoFileSource:
    """Decodes a video file frame by frame with ``cv2.VideoCapture``.

    Finite: ``read`` returns None at the end of the file. A read failure in the
    middle (a truncated or corrupt file, even one that makes OpenCV raise) also ends
    the stream cleanly, so one bad recording does not stop the other cameras; when
    fewer frames came out than the container announced, the file is logged as
    truncated or corrupt at ERROR level and ``status().last_error`` says so. With
    ``loop=True`` the file is reopened at the end and plays forever, which turns
    a recording into a demo camera. ``Frame.index`` keeps counting across loops.
    """

    def __init__(self, camera_id: str, path: str | Path, loop: bool = False) -> None:
        self.camera_id = camera_id
        self.path = Path(os.path.expanduser(str(path)))
        self.loop = loop
        self._cap: cv2.VideoCapture | None = None
        self._state = SourceState.STARTING
        self._frames_read = 0
        self._frames_this_pass = 0
        self._expected_frames = 0
        self._loops = 0
        self._last_frame_mono: float | None = None
        self._last_error: str | None = None
        # ``close`` comes from another thread (the grabber's stop) while ``read`` may be inside
        # OpenCV's decoder: releasing the capture under it crashes the process. Reentrant:
        # ``read`` opens and logs ``fps`` while holding it.
        self._lock = threading.RLock()

    @property
    def is_live(self) -> bool:
        return False

    @property
    def fps(self) -> float | None:
        """Frame rate announced by the container, None if unknown or not open."""
        with self._lock:
            if self._cap is None:
                return None
            fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return fps if fps > 0 else None

    def open(self) -> None:
        """Open the file. Calling it again on an open source does nothing.

        Raises:
            SourceError: the file does not exist or OpenCV cannot decode it.
        """
        if self._cap is not None:
            return
        if not self.path.is_file():
            self._fail(f"camera {self.camera_id!r}: video file {self.path} does not exist")
        self._cap = self._open_capture()
        self._state = SourceState.LIVE
        logger.info(
            "camera %r: opened video %s (%d frames, %.1f fps)",
            self.camera_id,
            self.path,
            self._expected_frames,
            self.fps or 0.0,
        )

    def _open_capture(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            self._fail(
                f"camera {self.camera_id!r}: cannot open video file {self.path} "
                "(not a video, a truncated or corrupt file, or a codec this OpenCV build lacks)"
            )
        self._expected_frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self._frames_this_pass = 0
        return cap

    def _fail(self, message: str) -> None:
        self._state = SourceState.FAILED
        self._last_error = message
        raise SourceError(message)

    def read(self) -> Frame | None:
        """The next frame, or None at the end (never with ``loop``) or after ``close``.

        Opens the source first if ``open`` was not called.
        """
        with self._lock:
            return self._read()

    def _read(self) -> Frame | None:
        if self._state in (SourceState.STOPPED, SourceState.ENDED):
            return None
        if self._cap is None:
            self.open()
        image = self._next_image()
        if image is None and self.loop and self._frames_this_pass > 0:
            image = self._restart()
        if image is None:
            self._end()
            return None
        frame = Frame(self.camera_id, self._frames_read, image, time.time())
        self._frames_read += 1
        self._frames_this_pass += 1
        self._last_frame_mono = time.monotonic()
        return frame

    def skip(self, n: int) -> int:
        """Pass over the next ``n`` frames without decoding them; returns how many there were.

        Frame numbers count the skipped frames, so ``Frame.index`` stays the frame's position
        in the file. At the end of the file (or a damaged part) it stops early; the next
        ``read`` then ends the pass.
        """
        with self._lock:
            return self._skip(n)

    def _skip(self, n: int) -> int:
        if self._state in (SourceState.STOPPED, SourceState.ENDED):
            return 0
        if self._cap is None:
            self.open()
        done = 0
        while done < n and self._cap is not None:
            try:
                ok = bool(self._cap.grab())
            except Exception:  # cv2.error on a damaged file: the next read ends the pass
                ok = False
            if not ok:
                break
            done += 1
        self._frames_read += done
        self._frames_this_pass += done
        return done

    def _next_image(self) -> NDArray[np.uint8] | None:
        if self._cap is None:
            return None
        try:
            ok, image = self._cap.read()
        except Exception as exc:  # cv2.error on a damaged file ends the pass like a failed read
            logger.debug("camera %r: decoding %s raised %r", self.camera_id, self.path, exc)
            return None
        return to_bgr(image) if ok else None

    def _restart(self) -> NDArray[np.uint8] | None:
        """Reopen the file for the next loop; reopening is more reliable than seeking."""
        self._warn_if_short()
        self._release()
        self._loops += 1
        logger.debug("camera %r: looping %s (pass %d)", self.camera_id, self.path, self._loops + 1)
        try:
            self._cap = self._open_capture()
        except SourceError as exc:
            logger.warning("%s", exc)
            return None
        return self._next_image()

    def _end(self) -> None:
        self._warn_if_short()
        self._release()
        self._state = SourceState.ENDED
        logger.info("camera %r: video %s ended after %d frames", self.camera_id, self.path, self._frames_read)

    def _warn_if_short(self) -> None:
        """A pass that stopped before the announced frame count means a damaged file: say so."""
        missing = self._expected_frames - self._frames_this_pass
        if missing <= 0:
            return
        self._last_error = (
            f"video file {self.path} is truncated or corrupt: decoding stopped after "
            f"{self._frames_this_pass} of {self._expected_frames} frames"
        )
        # Some containers only estimate the count: one frame short is not worth an error;
        # a looping demo camera says it once, not on every pass.
        level = logging.ERROR if missing > 1 else logging.WARNING
        level = level if self._loops == 0 else logging.DEBUG
        logger.log(level, "camera %r: %s", self.camera_id, self._last_error)

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def close(self) -> None:
        """Release the file (after a read in progress); later ``read`` calls return None."""
        with self._lock:
            self._release()
            self._state = SourceState.STOPPED

    def status(self) -> SourceStatus:
        return SourceStatus(
            camera_id=self.camera_id,
            state=self._state,
            frames_read=self._frames_read,
            reconnects=0,
            last_frame_age_s=age_s(self._last_frame_mono),
            last_error=self._last_error,
            description=f"video file {self.path}" + (" (loop)" if self.loop else ""),
        )
