"""YOLOX person detector on a bare ONNX Runtime / OpenVINO session (no Ultralytics, no torch).

Pre-processing follows YOLOX's own demo: the frame is scaled so its long side is ``imgsz``,
pasted top-left on a 114-grey canvas whose sides are rounded up to a multiple of 32 (not a
square: a 16:9 frame at 416 px costs 416x256, 40 % less than 416x416), BGR 0-255, no
normalisation. The head output is grid-relative; it is decoded here in NumPy for the person
class only, then cleaned with OpenCV's NMS.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import WeightsError
from reidcam.core.types import Detections
from reidcam.detect.base import finite_rows
from reidcam.detect.runtimes import Session, default_runtime, open_session
from reidcam.devices import CPU, Placement

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
PAD_VALUE = 114
PERSON = 0  # COCO class 0


def input_shape(height: int, width: int, imgsz: int, fixed: tuple[int, int] | None = None) -> tuple[int, int]:
    """Network input (H, W) for a frame: long side ``imgsz``, sides rounded up to 32.

    ``fixed`` (a model that cannot be reshaped) wins over everything.
    """
    if fixed is not None:
        return fixed
    r = imgsz / max(height, width)
    return (max(32, math.ceil(height * r / 32) * 32), max(32, math.ceil(width * r / 32) * 32))


def letterbox(image: NDArray[np.uint8], shape: tuple[int, int]) -> tuple[NDArray[np.float32], float]:
    """BGR uint8 (H, W, 3) -> ((3, h, w) float32 0-255 input, scale), pasted top-left, pad 114."""
    h_in, w_in = shape
    r = min(h_in / image.shape[0], w_in / image.shape[1])
    nh, nw = max(1, round(image.shape[0] * r)), max(1, round(image.shape[1] * r))
    canvas = np.full((h_in, w_in, 3), PAD_VALUE, np.uint8)
    canvas[: min(nh, h_in), : min(nw, w_in)] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)[
        :h_in, :w_in
    ]
    return canvas.transpose(2, 0, 1).astype(np.float32), r


_GRIDS: dict[tuple[int, int], tuple[NDArray[np.float32], NDArray[np.float32]]] = {}


def grids(shape: tuple[int, int]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(N, 2) cell offsets and (N, 1) strides of the three YOLOX heads for an input (H, W), cached."""
    cached = _GRIDS.get(shape)
    if cached is None:
        cells, strides = [], []
        for s in STRIDES:
            xv, yv = np.meshgrid(np.arange(shape[1] // s), np.arange(shape[0] // s))
            cells.append(np.stack((xv, yv), 2).reshape(-1, 2))
            strides.append(np.full((cells[-1].shape[0], 1), s))
        cached = (np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32))
        _GRIDS[shape] = cached
    return cached


def decode(
    raw: NDArray[np.float32], shape: tuple[int, int], scale: float, conf: float, iou: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """One image's head output (N, 5 + classes) -> person boxes xyxy (frame px) and scores, after NMS.

    Only rows whose person score (objectness x class) passes ``conf`` are decoded.
    """
    score = raw[:, 4] * raw[:, 5 + PERSON]
    keep = np.flatnonzero(score >= conf)
    if keep.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    cells, strides = grids(shape)
    if len(cells) != len(raw):
        raise WeightsError(f"YOLOX output has {len(raw)} rows, expected {len(cells)} for input {shape}")
    xy = (raw[keep, :2] + cells[keep]) * strides[keep]
    wh = np.exp(raw[keep, 2:4]) * strides[keep]
    xywh = np.concatenate([xy - wh / 2, wh], axis=1) / scale
    chosen = cv2.dnn.NMSBoxes(xywh.tolist(), score[keep].tolist(), conf, iou)
    idx = np.asarray(chosen, np.int64).reshape(-1)
    boxes = xywh[idx].astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    return boxes, score[keep][idx].astype(np.float32)


class YoloxDetector:
    """Person detector for YOLOX ONNX exports (``yolox_nano.onnx``); one instance serves all cameras.

    Args:
        weights: the ``.onnx`` file (input BGR 0-255, output (B, N, 85) grid-relative).
        runtime: 'onnxruntime', 'openvino' or None (``runtimes.default_runtime``).
        threads: intra-op threads of the runtime; None = the runtime's default (all cores).
        confidence, iou: score threshold and NMS IoU.
        imgsz: default long side of the network input in px (a multiple of 32).
        min_box_height_px, min_box_width_px: smaller boxes are dropped.
        workers: frames detected at the same time (each call on ``threads`` intra-op threads);
            on a GPU always 1: the frames of all cameras go in one batched call.
        placement: the device (``performance.device``); the CPU by default.
        one_batch: frames of different input shapes still go in one call, each letterboxed to
            its own shape and padded (grey) to the largest; None = on a GPU only, where one
            launch for every camera beats one per shape and the padding costs little.

    Raises:
        WeightsError: missing/unreadable file or an output that is not YOLOX's.
        DependencyError: the runtime is not installed.
    """

    def __init__(
        self,
        weights: Path,
        runtime: str | None = None,
        threads: int | None = None,
        confidence: float = 0.35,
        iou: float = 0.5,
        imgsz: int = 416,
        min_box_height_px: float = 0.0,
        min_box_width_px: float = 0.0,
        workers: int = 1,
        placement: Placement = CPU,
        one_batch: bool | None = None,
    ) -> None:
        self.weights = Path(weights)
        if not self.weights.is_file():
            raise WeightsError(f"detector weights not found: {self.weights}; put yolox_nano.onnx there")
        self.confidence, self.iou, self.imgsz = float(confidence), float(iou), int(imgsz)
        self.min_box_height_px, self.min_box_width_px = float(min_box_height_px), float(min_box_width_px)
        self.session: Session = open_session(self.weights, runtime or default_runtime(), threads, placement)
        self.runtime = self.session.runtime
        self.device = placement.label
        self._fixed = None if self.session.dynamic else (416, 416)
        self.workers = 1 if placement.choice.is_cuda else max(1, int(workers))
        one = placement.choice.is_cuda if one_batch is None else one_batch
        self.one_batch = bool(one and self.session.dynamic and self.workers == 1)
        self._pool = ThreadPoolExecutor(self.workers, "yolox") if self.workers > 1 else None
        self.detect([np.zeros((32, 32, 3), np.uint8)])  # load the runtime now, not on the first frame
        log.info(
            "YOLOX detector %s on %s, %s (threads %s)", self.weights.name, self.runtime, self.device, threads
        )

    def input_shape_for(self, height: int, width: int, imgsz: int | None = None) -> tuple[int, int]:
        return input_shape(height, width, imgsz or self.imgsz, self._fixed)

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Persons in BGR uint8 images, at the default input size; one Detections per image."""
        return self.detect_sized(images, [None] * len(images))

    def detect_sized(
        self, images: Sequence[NDArray[np.uint8]], sizes: Sequence[int | None]
    ) -> list[Detections]:
        """Like ``detect`` with a long-side input size per image (None = default).

        Images that share an input shape run as one batch (when the model was made dynamic)
        with one worker; with several, each image is its own call and the calls run in
        parallel (one intra-op thread each scales better than one call on two threads).
        With ``one_batch`` (a GPU) every image goes in one call, padded to the largest shape.

        Raises:
            ValueError: an image is not BGR uint8 (H, W, 3).
        """
        groups: dict[tuple[int, int], list[int]] = {}
        shapes = []
        for i, (img, size) in enumerate(zip(images, sizes, strict=True)):
            _check(img, i)
            shapes.append(self.input_shape_for(img.shape[0], img.shape[1], size))
            groups.setdefault(shapes[-1], []).append(i)
        if self.one_batch and len(groups) > 1:
            canvas = (max(h for h, _ in groups), max(w for _, w in groups))
            return self._run(canvas, list(images), shapes)
        batched = self.session.dynamic and self.workers == 1
        calls = [(shape, chunk) for shape, members in groups.items() for chunk in _chunks(members, batched)]
        out: list[Detections] = [Detections.empty()] * len(images)
        run = lambda call: self._run(call[0], [images[i] for i in call[1]])  # noqa: E731
        results = self._pool.map(run, calls) if self._pool is not None and len(calls) > 1 else map(run, calls)
        for (_, chunk), dets in zip(calls, results, strict=True):
            for i, d in zip(chunk, dets, strict=True):
                out[i] = d
        return out

    def _run(
        self,
        shape: tuple[int, int],
        images: list[NDArray[np.uint8]],
        own: list[tuple[int, int]] | None = None,
    ) -> list[Detections]:
        """One session call at input ``shape``; ``own``: each image's shape inside it (padded)."""
        own = own or [shape] * len(images)
        inputs, scales = zip(*(letterbox(img, s) for img, s in zip(images, own, strict=True)), strict=True)
        raw = self.session.run(np.stack([_pad(x, shape) for x in inputs]))
        if raw.ndim != 3 or raw.shape[2] < 6 or raw.shape[0] != len(images):
            raise WeightsError(f"{self.weights.name}: output {raw.shape} is not a YOLOX (B, N, 5+C) head")
        return [
            self._filter(*decode(raw[b], shape, scales[b], self.confidence, self.iou))
            for b in range(len(images))
        ]

    def _filter(self, xyxy: NDArray[np.float32], score: NDArray[np.float32]) -> Detections:
        keep = (
            finite_rows(xyxy, score, "yolox")
            & ((xyxy[:, 3] - xyxy[:, 1]) >= self.min_box_height_px)
            & ((xyxy[:, 2] - xyxy[:, 0]) >= self.min_box_width_px)
        )
        return Detections(xyxy[keep], score[keep])


def _pad(chw: NDArray[np.float32], shape: tuple[int, int]) -> NDArray[np.float32]:
    """A (3, h, w) input on a (3, H, W) grey canvas, top-left (as the letterbox pastes)."""
    if chw.shape[1:] == shape:
        return chw
    canvas = np.full((3, *shape), PAD_VALUE, np.float32)
    canvas[:, : chw.shape[1], : chw.shape[2]] = chw
    return canvas


def _chunks(members: list[int], batched: bool) -> Iterator[list[int]]:
    if batched:
        yield members
    else:
        yield from ([m] for m in members)


def _check(image: NDArray[np.uint8], position: int) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"image {position} must be a uint8 numpy array")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image {position} must be BGR with shape (H, W, 3), got {image.shape}")
