"""reidcam.detect: the Detector protocol and its backends."""

from __future__ import annotations

from pathlib import Path

from reidcam.config.schema import DetectorConfig
from reidcam.detect.base import Detector
from reidcam.detect.ultralytics_yolo import UltralyticsDetector

__all__ = ["Detector", "UltralyticsDetector", "build_detector"]


def build_detector(cfg: DetectorConfig, weights_path: Path) -> Detector:
    """Build the detector described by ``cfg`` from an already resolved weights file.

    ``cfg.weights`` is a registry name; resolving it to ``weights_path`` is the
    caller's job (weights registry), so this never searches or downloads.

    Raises:
        WeightsError: the file is missing, unreadable or has no 'person' class.
        DependencyError: the runtime for the weights format is not installed.
    """
    return UltralyticsDetector(
        weights=Path(weights_path),
        confidence=cfg.confidence,
        iou=cfg.iou,
        imgsz=cfg.imgsz,
        min_box_height_px=cfg.min_box_height_px,
        min_box_width_px=cfg.min_box_width_px,
        device=cfg.device,
    )
