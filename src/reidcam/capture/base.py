"""The FrameSource protocol every camera kind implements, and the FrameReader a camera is read through."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from reidcam.core.status import SourceStatus
from reidcam.core.types import Frame


@runtime_checkable
class FrameSource(Protocol):
    """A camera, video file or image folder.

    ``read`` returns the next frame, or None when a finite source has ended or
    the source was closed. Live sources never end by themselves: they retry
    with backoff inside ``read``.
    """

    camera_id: str

    @property
    def is_live(self) -> bool: ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    def status(self) -> SourceStatus: ...


@runtime_checkable
class FrameReader(Protocol):
    """A camera's reader thread as the pipeline consumes it: ``LatestFrameGrabber`` (a live camera,
    newest frame only) or ``PrefetchReader`` (a file, every frame in order), both ``ReaderThread``s.

    ``get`` waits up to ``timeout_s`` for the next frame (None on timeout or at the end);
    ``exhausted``: ended with nothing pending; ``take_errors``: read failures since the last call;
    ``dropped``/``grabbed``: frames replaced unseen / read from the source; ``last_decode_ms``: of
    the frame ``get`` returned last. ``stop`` closes the source and joins the thread.
    """

    grabbed: int
    last_decode_ms: float

    @property
    def dropped(self) -> int: ...

    @property
    def ended(self) -> bool: ...

    @property
    def exhausted(self) -> bool: ...

    def get(self, timeout_s: float | None = None) -> Frame | None: ...

    def take_errors(self) -> int: ...

    def stop(self, timeout_s: float = 5.0) -> None: ...
