"""The naive loop the issue measures against, on the same frames as our pipeline.

One thread, camera after camera: decode a frame, detect with an Ultralytics ``.pt`` model in
eager PyTorch at 640 px, track, then run the ReID model in eager PyTorch on one crop at a
time and match each crop. What it uses, honestly:

- detector: ``yolo11n-pose.pt`` (the only real Ultralytics ``.pt`` in the verified weights;
  YOLOv8n's ``.pt`` is not there). Its boxes are persons; it costs about what YOLOv8n does.
- ReID: OSNet x0_25 eager (``reid.backends.torch_models``), with the MSMT17 weights converted
  from the ONNX export when ``reidcam.reid.backends.onnx_to_torch`` can, else randomly initialised (timing
  is the same; then its matches mean nothing, and the output says so).
- ReID workload: yolo11n-pose finds few of the small people in the PETS view (0.4 per frame
  where YOLOv8n and YOLOX find 6-7), which would make the naive loop look cheap for the
  wrong reason. So by default it embeds, one crop at a time, the people our detector found
  in the same frame (``reference`` boxes, computed before and not timed): same frames, same
  people, as the issue's "five people in view" loop would. Both counts are reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from reidcam.config import DetectorConfig, TrackerConfig
from reidcam.detect import build_detector
from reidcam.perf.sources import finite_camera
from reidcam.perf.system import Phase
from reidcam.pipeline.stats import percentiles
from reidcam.reid.backends.preprocess import get_preset, preprocess
from reidcam.reid.crop_gate import extract_crops
from reidcam.track import build_tracker

log = logging.getLogger(__name__)

NAIVE_DETECTOR = "yolo11n-pose.pt"
Reference = dict[tuple[str, int], np.ndarray]
OSNET_ONNX = "osnet_x0_25_msmt17.onnx"


def eager_osnet(weights_dir: Path) -> tuple[Any, str]:
    """OSNet x0_25 in eager PyTorch: (model in eval mode, where its weights came from)."""
    onnx_path = weights_dir / OSNET_ONNX
    try:
        from reidcam.reid.backends.onnx_to_torch import onnx_to_osnet

        return onnx_to_osnet(onnx_path, "osnet_x0_25"), f"MSMT17 weights converted from {OSNET_ONNX}"
    except Exception as exc:  # converter or onnx missing: timing does not depend on the values
        log.warning("naive ReID runs randomly initialised OSNet x0_25 (%s)", exc)
    from reidcam.reid.backends import torch_models

    return torch_models.build_model("osnet_x0_25").eval(), "random init (timing only)"


class NaiveLoop:
    """Decode -> detect (.pt, 640) -> track -> ReID one crop at a time -> match, per frame."""

    def __init__(self, weights_dir: Path, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self._torch = torch
        cfg = DetectorConfig(weights=NAIVE_DETECTOR, imgsz=640, backend="ultralytics")
        self.detector = build_detector(cfg, weights_dir / NAIVE_DETECTOR)
        self.reid, self.reid_weights = eager_osnet(weights_dir)
        self.preset = get_preset("osnet")
        self.query = np.zeros((0, 512), np.float32)

    def embed_one(self, crop: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.reid(self._torch.from_numpy(preprocess([crop], self.preset))).numpy()[0]
        return np.asarray(out / max(float(np.linalg.norm(out)), 1e-12), dtype=np.float32)

    def run(
        self, videos: list[tuple[str, Path]], frames: int, reference: Reference | None = None
    ) -> dict[str, object]:
        """Every one of the first ``frames`` frames of each camera, round robin, one thread.

        ``reference`` maps (camera, frame index) to the person boxes to embed; None embeds
        what the naive detector itself found.
        """
        sources = [finite_camera(cam, video, frames) for cam, video in videos]
        trackers = [build_tracker(TrackerConfig()) for _ in videos]
        stages: dict[str, list[float]] = {s: [] for s in ("decode", "detect", "track", "embed", "match")}
        done = {cam: 0 for cam, _ in videos}
        counts, phase, t_start = {"own": 0, "embedded": 0}, Phase("naive"), time.monotonic()
        live = list(range(len(sources)))
        while live:
            for k in list(live):
                if not self._frame(sources[k], trackers[k], stages, counts, reference):
                    live.remove(k)
                    continue
                done[videos[k][0]] += 1
        wall = max(time.monotonic() - t_start, 1e-9)
        report = self._report(videos, done, stages, counts["embedded"], wall, phase)
        n = max(sum(done.values()), 1)
        report["people_per_frame_naive_detector"] = round(counts["own"] / n, 2)
        report["people_per_frame_embedded"] = round(counts["embedded"] / n, 2)
        report["reid_on"] = "the boxes our detector found (same people)" if reference else "its own boxes"
        return report

    def _frame(
        self, source: Any, tracker: Any, stages: dict[str, list[float]], counts: dict[str, int], ref: Any
    ) -> bool:
        t0 = time.perf_counter()
        frame = source.read()
        stages["decode"].append(_ms(t0))
        if frame is None:
            return False
        t1 = time.perf_counter()
        dets = self.detector.detect([frame.image])[0]
        stages["detect"].append(_ms(t1))
        t2 = time.perf_counter()
        tracker.update(dets, frame)
        stages["track"].append(_ms(t2))
        boxes = dets.xyxy if ref is None else ref.get((frame.camera_id, frame.index), np.zeros((0, 4)))
        t3 = time.perf_counter()
        vectors = [self.embed_one(c) for c in extract_crops(frame.image, boxes) if c is not None]
        stages["embed"].append(_ms(t3))
        t4 = time.perf_counter()
        for v in vectors:
            _ = float(np.max(self.query @ v, initial=-1.0))
        stages["match"].append(_ms(t4))
        counts["own"] += len(dets)
        counts["embedded"] += len(vectors)
        return True

    def _report(
        self,
        videos: list[tuple[str, Path]],
        done: dict[str, int],
        stages: dict[str, list[float]],
        crops: int,
        wall: float,
        phase: Phase,
    ) -> dict[str, object]:
        fps = {cam: round(n / wall, 2) for cam, n in done.items()}
        return {
            "what": (
                f"one thread: decode, {NAIVE_DETECTOR} eager PyTorch at 640 px on every frame, ByteTrack, "
                "OSNet x0_25 eager PyTorch one crop at a time, match each crop"
            ),
            "detector": f"{NAIVE_DETECTOR} (Ultralytics .pt, eager PyTorch, 640 px; for yolov8n.pt)",
            "reid": f"osnet_x0_25 eager PyTorch, batch 1 ({self.reid_weights})",
            "cameras": [
                {"camera": cam, "video": v.name, "frames": done[cam], "fps": fps[cam]} for cam, v in videos
            ],
            "fps_per_camera_min": min(fps.values()) if fps else 0.0,
            "fps_total": round(sum(done.values()) / wall, 2),
            "stage_ms_per_frame": {k: percentiles(v) for k, v in stages.items()},
            "reid_crops": crops,
            "reid_crops_per_s": round(crops / wall, 1),
            "process": phase.end(),
        }


def reference_boxes(
    detector: Any, videos: list[tuple[str, Path]], frames: int, sizes: Mapping[str, int | None]
) -> Reference:
    """Our detector's person boxes on the same frames (untimed), for the naive loop's ReID."""
    out: Reference = {}
    for cam, video in videos:
        source = finite_camera(cam, video, frames)
        while (frame := source.read()) is not None:
            if hasattr(detector, "detect_sized"):
                dets = detector.detect_sized([frame.image], [sizes.get(cam)])[0]
            else:
                dets = detector.detect([frame.image])[0]
            out[(cam, frame.index)] = dets.xyxy
        source.close()
    return out


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0
