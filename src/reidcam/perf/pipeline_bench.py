"""Our pipeline on N bench cameras: processed FPS, stage table, latency, ReID crops/s.

Two modes on the same sample videos:

- ``throughput``: every one of the first F frames of each camera, decoded ahead on the
  camera's thread; FPS = frames processed per camera / wall time. This is the figure to
  compare with the naive loop, which also sees every one of those frames.
- ``live``: each video played as a live camera at a fixed rate (newest frame only); the
  pipeline drops what it cannot keep up with (counted) and the latency from capture to
  match is what a viewer would see.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from reidcam.config import AppConfig
from reidcam.core.events import FrameResult
from reidcam.core.types import Sighting
from reidcam.detect import SizedDetector
from reidcam.perf.sources import finite_camera, live_camera
from reidcam.perf.system import Phase
from reidcam.pipeline.build import build_cameras
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.step import Models

log = logging.getLogger(__name__)


class CountingSink:
    """Keeps what a live view would: counts of observations, tracked people and matches."""

    def __init__(self) -> None:
        self.frames = 0
        self.observations = 0
        self.matched = 0
        self.closed = 0

    def on_frame(self, result: FrameResult) -> None:
        self.frames += 1
        self.observations += len(result.observations)
        self.matched += sum(o.matched for o in result.observations)

    def on_sighting_closed(self, sighting: Sighting) -> None:
        self.closed += 1

    def on_status(self, status: object) -> None:
        return None


def _input_shapes(
    models: Models, units: list[CameraUnit], sizes: dict[str, tuple[int, int]]
) -> dict[str, object]:
    det = models.detector
    if not isinstance(det, SizedDetector) or not hasattr(det, "input_shape_for"):
        return {}
    return {u.camera_id: list(det.input_shape_for(*sizes[u.camera_id], u.detector_imgsz)) for u in units}


def warm_up(
    models: Models, videos: list[tuple[str, Path]], imgsz: dict[str, int | None]
) -> dict[str, tuple[int, int]]:
    """Run each camera's first frame once (OpenVINO compiles per input shape); returns frame sizes."""
    import cv2

    sizes = {}
    for cam_id, video in videos:
        cap = cv2.VideoCapture(str(video))
        ok, raw = cap.read()
        cap.release()
        if not ok:
            continue
        image = np.asarray(raw, dtype=np.uint8)  # BGR uint8 already; OpenCV's stubs say int-or-float
        sizes[cam_id] = (int(image.shape[0]), int(image.shape[1]))
        det = models.detector
        for _ in range(2):
            if isinstance(det, SizedDetector):
                det.detect_sized([image], [imgsz.get(cam_id)])
            else:
                det.detect([image])
    crops = [np.zeros((160, 64, 3), np.uint8)] * 4
    models.embedder.embed(crops)
    return sizes


def _units(
    cfg: AppConfig, videos: list[tuple[str, Path]], frames: int, live_fps: float | None
) -> list[CameraUnit]:
    units = build_cameras(cfg)
    for unit, (cam_id, video) in zip(units, videos, strict=True):
        unit.source.close()
        unit.source = (
            live_camera(cam_id, video, live_fps, frames) if live_fps else finite_camera(cam_id, video, frames)
        )
    return units


def run_pipeline(
    cfg: AppConfig,
    models: Models,
    videos: list[tuple[str, Path]],
    frames: int,
    live_fps: float | None = None,
) -> dict[str, object]:
    """Run the real Runner over the bench cameras; returns its figures (see module doc)."""
    units = _units(cfg, videos, frames, live_fps)
    sizes = warm_up(models, videos, {u.camera_id: u.detector_imgsz for u in units})
    sink = CountingSink()
    perf = cfg.performance
    runner = Runner(units, models, sink, prefetch_frames=perf.capture_queue_frames, pipelined=perf.pipelined)
    phase = Phase("pipeline")
    runner.stats.reset()
    t0 = time.monotonic()
    runner.run()
    wall = max(time.monotonic() - t0, 1e-9)
    summary = runner.stats.summary()
    fps = [round(u.frames_processed / wall, 2) for u in units]
    per_camera = {
        u.camera_id: {
            "video": videos[i][1].name,
            "frames_processed": u.frames_processed,
            "fps": fps[i],
            "frames_grabbed": u.grabbed,
            "frames_dropped": u.dropped,
            "errors": u.errors,
            "detector_imgsz": u.detector_imgsz,
        }
        for i, u in enumerate(units)
    }
    return {
        "pipelined": perf.pipelined,
        "mode": f"live (paced {live_fps:g} fps, newest frame only)"
        if live_fps
        else "throughput (every frame)",
        "cameras": len(units),
        "fps_per_camera": per_camera,
        "fps_per_camera_min": min(fps) if fps else 0.0,
        "fps_total": round(sum(fps), 2),
        "detector_input_shapes": _input_shapes(models, units, sizes),
        "observations": sink.observations,
        "matched_observations": sink.matched,
        "sightings_closed": sink.closed,
        **summary,
        "process": phase.end(),
    }
