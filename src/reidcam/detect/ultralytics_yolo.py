"""Person detector backed by Ultralytics YOLO (.pt, .onnx, .tflite, OpenVINO dirs).

Ultralytics is imported lazily in the constructor, so importing this module is
cheap and has no side effects. Ultralytics is told never to install packages
or reach the network: weights are always an existing local path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError, WeightsError
from reidcam.core.types import Detections
from reidcam.detect.base import finite_rows

logger = logging.getLogger(__name__)

PERSON_CLASS_NAME = "person"

# Runtime packages Ultralytics needs per export format, for the install hint.
_RUNTIME_HINTS = {
    ".tflite": "ai-edge-litert",
    ".onnx": "onnxruntime",
    ".xml": "openvino",
    "_openvino_model": "openvino",
}


def _runtime_hint(weights: Path) -> str:
    """Name the pip package that runs this weights format (best effort)."""
    for suffix, package in _RUNTIME_HINTS.items():
        if weights.name.endswith(suffix):
            return package
    return "ultralytics"


def _prepare_offline_env() -> None:
    """Stop Ultralytics from pip-installing or going online at run time.

    ``setdefault`` keeps a user's explicit choice. The module-level AUTOINSTALL
    flag is read once at import, so it is synced too in case Ultralytics was
    already imported by someone else before the env var was set.
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    try:
        from ultralytics.utils import checks
    except ImportError:  # reported by _import_yolo with an install hint
        return
    if os.environ["YOLO_AUTOINSTALL"].strip().lower() in {"0", "false", "no", "off"}:
        checks.AUTOINSTALL = False  # type: ignore[attr-defined]  # checks imports the flag unexported; it reads this global


def _import_yolo() -> Any:
    """Return ``ultralytics.YOLO`` or raise DependencyError with an install hint."""
    try:
        from ultralytics.models import YOLO
    except ImportError as exc:
        raise DependencyError(
            f"the Ultralytics detector needs the 'ultralytics' package ({exc}); "
            "install it with: pip install ultralytics"
        ) from exc
    return YOLO


def find_person_class(names: dict[int, str] | Sequence[str]) -> int:
    """Return the class id named 'person' in a model's ``names``.

    Raises:
        WeightsError: the model has no class called 'person'.
    """
    table = dict(names) if isinstance(names, dict) else dict(enumerate(names))
    for class_id, name in table.items():
        if str(name).strip().lower() == PERSON_CLASS_NAME:
            return int(class_id)
    shown = list(table.values())[:10]
    raise WeightsError(f"detector model has no '{PERSON_CLASS_NAME}' class (classes start with {shown})")


def _check_image(image: NDArray[np.uint8], position: int) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"image {position} must be a uint8 numpy array")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image {position} must be BGR with shape (H, W, 3), got {image.shape}")


class UltralyticsDetector:
    """Detects people with an Ultralytics YOLO model; one instance serves all cameras.

    The model is loaded and warmed up in the constructor, so a missing runtime or
    a broken file fails at start-up rather than on the first camera frame.
    Images are BGR uint8 (Ultralytics' native order for numpy input).

    Args:
        weights: path to a .pt/.onnx/.tflite file or an OpenVINO model directory.
        confidence: minimum detection confidence in [0, 1].
        iou: NMS IoU threshold in [0, 1].
        imgsz: inference size in pixels; fixed-shape exports (e.g. the int8
            TFLite model) use their export size instead, with a warning.
        min_box_height_px: boxes shorter than this are dropped.
        min_box_width_px: boxes narrower than this are dropped.
        device: Ultralytics device string ("cpu", "0", "cuda:0", ...).
        task: Ultralytics task; None lets Ultralytics read it from the
            checkpoint/export metadata (pose models give person boxes too).

    Raises:
        WeightsError: the weights are missing, unreadable or have no 'person' class.
        DependencyError: ultralytics or the format's runtime is not installed.
    """

    def __init__(
        self,
        weights: Path,
        confidence: float = 0.35,
        iou: float = 0.5,
        imgsz: int = 640,
        min_box_height_px: float = 0.0,
        min_box_width_px: float = 0.0,
        device: str = "cpu",
        task: str | None = None,
    ) -> None:
        self.weights = Path(weights)
        if not self.weights.exists():
            raise WeightsError(
                f"detector weights not found: {self.weights}; put the model file there "
                "or point the detector weights setting at an existing file"
            )
        self.confidence = float(confidence)
        self.iou = float(iou)
        self.imgsz = int(imgsz)
        self.min_box_height_px = float(min_box_height_px)
        self.min_box_width_px = float(min_box_width_px)
        self.device = device
        self._lock = threading.Lock()  # Ultralytics predictors are not thread-safe
        self._model = self._load(task)
        self.person_class_id = find_person_class(self._model.names)
        self.effective_imgsz = self._effective_imgsz()
        logger.info(
            "loaded detector %s (person class %d, imgsz %s, device %s)",
            self.weights,
            self.person_class_id,
            self.effective_imgsz,
            self.device,
        )

    def _load(self, task: str | None) -> Any:
        """Build the YOLO model and run one warm-up prediction to load the runtime."""
        _prepare_offline_env()
        yolo_cls = _import_yolo()
        try:
            model = yolo_cls(str(self.weights), task=task)
            self._predict(model, [np.zeros((self.imgsz, self.imgsz, 3), np.uint8)], classes=None)
        except ImportError as exc:
            raise DependencyError(
                f"cannot run {self.weights.name}: {exc}; "
                f"install it with: pip install {_runtime_hint(self.weights)}"
            ) from exc
        except Exception as exc:
            raise WeightsError(
                f"cannot load detector weights {self.weights} as an Ultralytics YOLO model "
                f"on device {self.device!r}: {exc}"
            ) from exc
        return model

    def _effective_imgsz(self) -> list[int]:
        """The size the predictor really uses; warn when a fixed-shape export overrides ``imgsz``."""
        predictor = getattr(self._model, "predictor", None)
        used = getattr(predictor, "imgsz", None)
        if used is not None and list(used) != [self.imgsz, self.imgsz]:
            logger.warning(
                "detector %s has a fixed input size %s; the configured imgsz %d is ignored",
                self.weights.name,
                list(used),
                self.imgsz,
            )
        return [int(v) for v in used] if used is not None else [self.imgsz, self.imgsz]

    def _predict(self, model: Any, images: list[NDArray[np.uint8]], classes: list[int] | None) -> list[Any]:
        results: list[Any] = model.predict(
            images,
            conf=self.confidence,
            iou=self.iou,
            imgsz=self.imgsz,
            classes=classes,
            device=self.device,
            verbose=False,
        )
        return results

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect persons in BGR uint8 images.

        Args:
            images: BGR uint8 arrays of shape (H, W, 3); sizes may differ.

        Returns:
            One Detections per image, same order; boxes are xyxy float32 in
            each image's own pixels.

        Raises:
            ValueError: an image is not BGR uint8 (H, W, 3).
        """
        batch = list(images)
        if not batch:
            return []
        for position, image in enumerate(batch):
            _check_image(image, position)
        with self._lock:
            results = self._predict(self._model, batch, classes=[self.person_class_id])
        return [self._to_detections(result) for result in results]

    def _to_detections(self, result: Any) -> Detections:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4)
        conf = boxes.conf.cpu().numpy().astype(np.float32).reshape(-1)
        cls = boxes.cls.cpu().numpy().astype(np.int64).reshape(-1)
        width = xyxy[:, 2] - xyxy[:, 0]
        height = xyxy[:, 3] - xyxy[:, 1]
        keep = (
            finite_rows(xyxy, conf, "yolo")
            & (cls == self.person_class_id)
            & (height >= self.min_box_height_px)
            & (width >= self.min_box_width_px)
        )
        return Detections(xyxy[keep], conf[keep])
