"""Run cameras once through the pipeline to gather their label-free calibration offline.

Used by ``reidcam calibrate --auto`` and by the estimator's validation on MOT17
(``reidcam eval autocal``). The run is the product's own pipeline (detector, tracker, crop
gate, embedder, sighting book); only the matcher has no queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reidcam.config import AppConfig
from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting
from reidcam.match.autocal import SeparationEstimator
from reidcam.pipeline.build import build_cameras, build_models
from reidcam.pipeline.runner import Runner
from reidcam.reid.backends.base import Embedder


@dataclass
class TrackLog:
    """EventSink keeping closed sightings and every tracked box (camera, track) -> [(frame, xyxy)]."""

    sightings: list[Sighting] = field(default_factory=list)
    boxes: dict[tuple[str, int], list[tuple[str, np.ndarray]]] = field(default_factory=dict)

    def on_frame(self, result: FrameResult) -> None:
        name = result.frame.name or str(result.frame.index)
        for obs in result.observations:
            if obs.track_id is not None:
                key = (result.frame.camera_id, obs.track_id)
                self.boxes.setdefault(key, []).append((name, obs.xyxy.copy()))

    def on_sighting_closed(self, sighting: Sighting) -> None:
        self.sightings.append(sighting)

    def on_status(self, status: SourceStatus) -> None:
        return None


def gather(cfg: AppConfig, embedder: Embedder | None = None) -> tuple[SeparationEstimator, TrackLog]:
    """Play every configured camera to its end (files, folders) and return the estimator fed
    with their sightings, and what was tracked.

    Raises:
        ConfigError: self-calibration is off in the config (``matcher.self_calibrate``).
        WeightsError, DependencyError: as ``build_models``.
    """
    from reidcam.core.errors import ConfigError

    if not cfg.matcher.self_calibrate:
        raise ConfigError("matcher.self_calibrate is false: nothing to calibrate")
    cameras = build_cameras(cfg)
    models = build_models(cfg, embedder=embedder)
    assert models.calibration_feed is not None
    log = TrackLog()
    Runner(cameras, models, log, pipelined=False).run()
    return models.calibration_feed.estimator, log
