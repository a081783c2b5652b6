"""reidcam.detect: the Detector protocol and its backends."""

from __future__ import annotations

from pathlib import Path

from reidcam.config.schema import DetectorConfig
from reidcam.detect.base import Detector, SizedDetector
from reidcam.detect.ultralytics_yolo import UltralyticsDetector
from reidcam.devices import CPU, Placement

__all__ = ["Detector", "SizedDetector", "UltralyticsDetector", "build_detector", "detector_backend"]


def detector_backend(cfg: DetectorConfig, weights_path: Path, placement: Placement = CPU) -> str:
    """'ultralytics', 'onnxruntime', 'openvino' or 'torch' for this config, weights file and device.

    'auto' runs a YOLOX ONNX export (``*yolox*.onnx``) on a bare ONNX Runtime session (see
    ``runtimes.default_runtime`` for why; on a GPU whose ONNX Runtime lacks CUDA, on torch)
    and everything else through Ultralytics.
    """
    if cfg.backend != "auto":
        return cfg.backend
    path = Path(weights_path)
    if path.suffix.lower() == ".onnx" and "yolox" in path.name.lower():
        from reidcam.detect.runtimes import default_runtime

        return placement.onnx_runtime() if placement.choice.is_cuda else default_runtime()
    return "ultralytics"


def build_detector(
    cfg: DetectorConfig,
    weights_path: Path,
    threads: int | None = None,
    workers: int = 1,
    placement: Placement = CPU,
) -> Detector:
    """Build the detector described by ``cfg`` from an already resolved weights file.

    ``cfg.weights`` is a registry name; resolving it to ``weights_path`` is the
    caller's job (weights registry), so this never searches or downloads.
    ``threads`` (intra-op, for the bare-session backends) is used when ``cfg.threads`` is None,
    ``workers`` (frames detected at once) when ``cfg.workers`` is None.

    Raises:
        WeightsError: the file is missing, unreadable or has no 'person' class.
        DependencyError: the runtime for the weights format is not installed.
    """
    backend = detector_backend(cfg, weights_path, placement)
    if backend in ("onnxruntime", "openvino", "torch"):
        from reidcam.detect.yolox import YoloxDetector

        return YoloxDetector(
            Path(weights_path),
            runtime=backend,
            threads=cfg.threads if cfg.threads is not None else threads,
            confidence=cfg.confidence,
            iou=cfg.iou,
            imgsz=cfg.imgsz,
            min_box_height_px=cfg.min_box_height_px,
            min_box_width_px=cfg.min_box_width_px,
            workers=cfg.workers if cfg.workers is not None else workers,
            placement=placement,
        )
    return UltralyticsDetector(
        weights=Path(weights_path),
        confidence=cfg.confidence,
        iou=cfg.iou,
        imgsz=cfg.imgsz,
        min_box_height_px=cfg.min_box_height_px,
        min_box_width_px=cfg.min_box_width_px,
        device=placement.choice.ultralytics if placement.choice.is_cuda else cfg.device,
    )
