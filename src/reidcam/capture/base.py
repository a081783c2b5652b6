"""The FrameSource protocol every camera kind implements."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from reidcam.core.types import Frame


class SourceState(str, Enum):
    STARTING = "starting"
    LIVE = "live"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class SourceStatus:
    """Health of one source, for the UI and logs. Ages are seconds, None if never."""

    camera_id: str
    state: SourceState
    frames_read: int
    reconnects: int
    last_frame_age_s: float | None
    last_error: str | None
    description: str


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
