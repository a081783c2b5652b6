"""Sources that cannot be used, found before anything runs.

A camera whose file is missing (or whose URL has an unsupported scheme) must not stop the
other cameras, and must say so from the start: the check runs when a command starts, and
the camera is kept in the runner as a :class:`FailedSource` that reports ``failed`` with the
reason, so every view of the camera (terminal, API, page) tells the same story.
"""

from __future__ import annotations

from reidcam.capture.factory import open_source
from reidcam.capture.urls import redact_text
from reidcam.config.schema import CameraConfig
from reidcam.core.errors import SourceError
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame


class FailedSource:
    """Stands in for a camera whose source could not be built: ``open`` raises its reason."""

    def __init__(self, camera_id: str, reason: str) -> None:
        self.camera_id = camera_id
        self.reason = redact_text(reason)

    @property
    def is_live(self) -> bool:
        return False

    def open(self) -> None:
        """Raises SourceError: the reason this camera cannot run."""
        raise SourceError(self.reason)

    def read(self) -> Frame | None:
        return None

    def close(self) -> None:
        return None

    def status(self) -> SourceStatus:
        return SourceStatus(self.camera_id, SourceState.FAILED, 0, 0, None, self.reason, "unusable source")


def source_problem(cam: CameraConfig) -> str | None:
    """Why ``cam``'s source cannot be used, or None if it can (as far as a quick look tells).

    Files and image folders are opened and closed again (milliseconds). Live cameras are not
    probed: they retry by themselves, and a camera that is off at start-up may come on later.
    """
    try:
        source = open_source(cam)
    except SourceError as exc:
        return redact_text(str(exc))
    if source.is_live:
        return None
    try:
        source.open()
    except (SourceError, OSError) as exc:
        return redact_text(str(exc))
    finally:
        source.close()
    return None


def source_problems(cameras: list[CameraConfig]) -> dict[str, str]:
    """``camera id -> reason`` for every enabled camera whose source cannot be used."""
    found = {c.id: source_problem(c) for c in cameras if c.enabled}
    return {cid: why for cid, why in found.items() if why is not None}
