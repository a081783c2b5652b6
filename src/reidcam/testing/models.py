"""The shared models of a test pipeline: fake detector and embedder, an empty query gallery."""

from __future__ import annotations

from reidcam.detect.base import Detector
from reidcam.match import Gallery, Matcher, MatcherSettings
from reidcam.pipeline.step import Models
from reidcam.reid.backends.base import Embedder
from reidcam.reid.crop_gate import CropGate
from reidcam.testing.fakes import FakeDetector, FakeEmbedder


def fake_models(
    detector: Detector | None = None,
    embedder: Embedder | None = None,
    threshold: float = 0.8,
    max_crops_per_step: int = 32,
) -> Models:
    """Models for the synthetic scenes: the fake embedder separates their people above 0.8,
    and the gate admits their small (20 px) people."""
    return Models(
        detector=detector or FakeDetector(),
        embedder=embedder or FakeEmbedder(),
        gallery=Gallery(),
        matcher=Matcher(MatcherSettings(threshold=threshold)),
        gate=CropGate(min_height_px=20, min_width_px=10, min_aspect=1.2),
        max_crops_per_step=max_crops_per_step,
    )
