"""The FrameSource protocol every camera kind implements."""

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
