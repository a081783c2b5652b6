"""Health of one frame source (camera, video file, image folder), for the UI, logs and sinks.

A core type because every layer reports or reads it: capture sets it, the pipeline forwards it
in events, outputs and the web show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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
