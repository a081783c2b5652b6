"""What the camera loop tells the world: frame results, closed sightings, source health.

The loop only ever talks to an ``EventSink``; storage, the web UI and the CLI
writer are sinks, so the pipeline never imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from reidcam.core.status import SourceStatus
from reidcam.core.types import Frame, MatchDecision, Sighting

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Observation:
    """One detection in one frame and what the pipeline concluded about it.

    ``decision`` is provisional: it reflects the sighting's evidence so far
    (None when nothing was embedded yet). ``crop`` is BGR uint8 or None when the
    box had no pixels.
    """

    detection_index: int
    xyxy: NDArray[np.float32]
    confidence: float
    track_id: int | None
    crop: NDArray[np.uint8] | None
    quality_ok: bool
    quality_reason: str
    decision: MatchDecision | None

    @property
    def matched(self) -> bool:
        return self.decision is not None and self.decision.matched


@dataclass(frozen=True, eq=False)
class FrameResult:
    """Everything found in one frame of one camera; ``timings_ms`` per stage."""

    frame: Frame
    observations: tuple[Observation, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)


class EventSink(Protocol):
    def on_frame(self, result: FrameResult) -> None: ...

    def on_sighting_closed(self, sighting: Sighting) -> None: ...

    def on_status(self, status: SourceStatus) -> None: ...


class NullSink:
    """Ignores everything; the default when nobody listens."""

    def on_frame(self, result: FrameResult) -> None:
        return None

    def on_sighting_closed(self, sighting: Sighting) -> None:
        return None

    def on_status(self, status: SourceStatus) -> None:
        return None


class SinkError(RuntimeError):
    """One or more sinks of a FanOutSink failed on an event (the others still got it)."""


class FanOutSink:
    """Forwards every event to several sinks; one failing sink never starves the others.

    After every sink had the event, a failure is raised as ``SinkError`` (from the first
    one), so the runner logs it with the camera id and counts it as that camera's error.
    """

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = list(sinks)

    def _each(self, deliver: Callable[[EventSink], None]) -> None:
        failed: list[tuple[str, Exception]] = []
        for sink in self.sinks:
            try:
                deliver(sink)
            except Exception as exc:
                failed.append((type(sink).__name__, exc))
        if failed:
            what = "; ".join(f"{name}: {exc!r}" for name, exc in failed)
            msg = f"{len(failed)} of {len(self.sinks)} sinks failed ({what})"
            raise SinkError(msg) from failed[0][1]

    def on_frame(self, result: FrameResult) -> None:
        self._each(lambda sink: sink.on_frame(result))

    def on_sighting_closed(self, sighting: Sighting) -> None:
        self._each(lambda sink: sink.on_sighting_closed(sighting))

    def on_status(self, status: SourceStatus) -> None:
        self._each(lambda sink: sink.on_status(status))
