"""Crop preprocessing presets and the batching shared by every ReID runtime.

Crops arrive BGR uint8 HWC of any size (the project convention). A preset says what the
model was trained on: input size, colour order and normalisation. Preprocessing is one
``cv2.resize`` per crop, then one vectorised pass over the whole (N, H, W, 3) stack.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import ConfigError
from reidcam.core.types import Embeddings, l2_normalize

log = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preset:
    """How a model wants its input.

    Attributes:
        height, width: network input size in pixels.
        rgb: True to convert BGR -> RGB before normalising.
        scale: multiplier applied to the 0-255 values first (1/255 or 1).
        mean, std: per-channel (in the model's colour order) values after scaling; None = none.
    """

    name: str
    height: int
    width: int
    rgb: bool
    scale: float = 1.0
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


PRESETS: dict[str, Preset] = {
    # torchreid models (OSNet, ResNet50): RGB, /255, ImageNet mean/std, 256x128.
    "osnet": Preset("osnet", 256, 128, rgb=True, scale=1 / 255, mean=_IMAGENET_MEAN, std=_IMAGENET_STD),
    # Intel Open Model Zoo person-reidentification-retail-*: BGR 0-255 as is, 256x128.
    "omz": Preset("omz", 256, 128, rgb=False),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown ReID preprocessing preset {name!r}; known: {', '.join(PRESETS)}"
        ) from None


def _check_crop(crop: NDArray[np.uint8], i: int) -> None:
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8:
        raise ValueError(f"crop {i} must be a uint8 numpy array")
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] == 0 or crop.shape[1] == 0:
        raise ValueError(f"crop {i} must have shape (H, W, 3) with H, W > 0, got {crop.shape}")


def preprocess(crops: Sequence[NDArray[np.uint8]], preset: Preset) -> NDArray[np.float32]:
    """BGR uint8 crops of any size -> (N, 3, H, W) float32 contiguous network input.

    Raises:
        ValueError: a crop is not a non-empty uint8 (H, W, 3) array.
    """
    size = (preset.width, preset.height)
    resized = []
    for i, crop in enumerate(crops):
        _check_crop(crop, i)
        resized.append(cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR))
    batch = np.stack(resized)
    if preset.rgb:
        batch = batch[..., ::-1]
    # To NCHW float32 in one copy, then per-channel ops over contiguous planes (broadcasting
    # over a trailing axis of 3 is several times slower).
    x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    if preset.mean is not None and preset.std is not None:
        std = np.asarray(preset.std, np.float32)
        x *= (np.float32(preset.scale) / std)[:, None, None]
        x -= (np.asarray(preset.mean, np.float32) / std)[:, None, None]
    elif preset.scale != 1.0:
        x *= np.float32(preset.scale)
    return x


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _safe_normalize(raw: NDArray[np.floating], model_id: str) -> NDArray[np.float32]:
    """L2-normalise rows; a (near) zero row becomes the uniform unit vector, with a warning.

    A zero output cannot be compared with anything; failing the whole batch over it would
    drop every other camera's crops too.
    """
    vec = np.asarray(raw, np.float32)
    norms = np.linalg.norm(vec, axis=1)
    bad = ~np.isfinite(norms) | (norms < 1e-6)
    if np.any(bad):
        log.warning(
            "%s gave %d zero or non-finite embeddings; replaced by a constant", model_id, int(bad.sum())
        )
        vec = vec.copy()
        vec[bad] = 1.0
    return l2_normalize(vec)


class BatchEmbedder(ABC):
    """Shared ``embed``: validate, preprocess in chunks, run the runtime, L2-normalise.

    Subclasses set ``model_id``, ``dim``, ``preset``, ``batch_size`` and ``fixed_batch``
    (the batch size baked into the model, or None when it takes any batch) and implement
    ``_infer`` on a (B, 3, H, W) float32 array, returning (B, dim) raw features.
    """

    model_id: str
    dim: int
    preset: Preset
    batch_size: int
    fixed_batch: int | None = None

    @abstractmethod
    def _infer(self, batch: NDArray[np.float32]) -> NDArray[np.float32]: ...

    def _run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        n = len(batch)
        fixed = self.fixed_batch
        if fixed is None:
            return np.asarray(self._infer(batch), np.float32).reshape(n, -1)
        outs = []
        for sl in _chunks(n, fixed):
            part = batch[sl]
            if len(part) < fixed:  # pad the last chunk: the model only accepts exactly `fixed`
                pad = np.zeros((fixed - len(part), *part.shape[1:]), np.float32)
                part = np.concatenate([part, pad])
            outs.append(np.asarray(self._infer(part), np.float32).reshape(fixed, -1)[: sl.stop - sl.start])
        return np.concatenate(outs)

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> Embeddings:
        """Embed BGR uint8 crops of any size: (N, dim) float32 unit vectors tagged with ``model_id``."""
        if len(crops) == 0:
            return Embeddings.empty(self.dim, self.model_id)
        outs = [self._run(preprocess(crops[sl], self.preset)) for sl in _chunks(len(crops), self.batch_size)]
        raw = np.concatenate(outs)
        if raw.shape[1] != self.dim:
            raise RuntimeError(f"{self.model_id}: model gave {raw.shape[1]}-d vectors, expected {self.dim}")
        return Embeddings(_safe_normalize(raw, self.model_id), self.model_id)
