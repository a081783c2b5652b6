"""Pure types, NumPy only."""

from reidcam.core.errors import (
    ConfigError,
    DependencyError,
    ImageError,
    ReidcamError,
    SourceError,
    WeightsError,
)
from reidcam.core.types import (
    BestCrop,
    Detections,
    Embeddings,
    Frame,
    MatchDecision,
    Sighting,
    SightingKey,
    Tracks,
    Verdict,
    l2_normalize,
)

__all__ = [
    "BestCrop",
    "ConfigError",
    "DependencyError",
    "Detections",
    "Embeddings",
    "Frame",
    "ImageError",
    "MatchDecision",
    "ReidcamError",
    "Sighting",
    "SightingKey",
    "SourceError",
    "Tracks",
    "Verdict",
    "WeightsError",
    "l2_normalize",
]
