"""Load the embedders an evaluation compares: ``NAME`` or ``NAME=WEIGHTS`` specs."""

from __future__ import annotations

from pathlib import Path

from reidcam.config.schema import ReidConfig
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.base import Embedder
from reidcam.reid.weights import resolve_weights


def parse_model_spec(spec: str) -> tuple[str, str | None]:
    """``'osnet_x0_25_msmt17'`` -> (name, None); ``'osnet_ft=out/ft.pth'`` -> (name, path).

    The name tags the vectors (``model_id``) and picks the preprocessing (``osnet*``: RGB
    ImageNet; ``person-reidentification*``: BGR 0-255); the weights default to the registry's.
    """
    name, sep, weights = spec.partition("=")
    name = name.strip()
    if not name:
        raise ValueError(f"bad model spec {spec!r}: expected NAME or NAME=WEIGHTS")
    return name, (weights.strip() or None) if sep else None


def load_embedder(
    spec: str,
    weights_dir: Path | None = None,
    allow_download: bool = False,
    backend: str = "auto",
    batch_size: int = 32,
    flip_tta: bool = False,
) -> Embedder:
    """The embedder of one spec, weights resolved (and sha256-checked when named) like the pipeline's.

    Raises:
        WeightsError, ConfigError, DependencyError: as ``build_embedder`` / ``resolve_weights``.
    """
    name, weights = parse_model_spec(spec)
    cfg = ReidConfig.model_validate(
        {
            "model": name,
            "weights": weights,
            "backend": backend,
            "batch_size": batch_size,
            "flip_tta": flip_tta,
        },
    )
    return build_embedder(cfg, resolve_weights(weights or name, weights_dir, allow_download))
