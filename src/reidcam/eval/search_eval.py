"""Person-search precision and recall: run the real pipeline, compare its matches with hand labels.

Labels are the query person's box in each frame where they appear (see
``build_set.default_frame_labels``: the woman of Market id 0001 in the two-camera frames).
A pipeline detection is that person when its box has IoU >= 0.5 with the label.

- precision: matched detections that are the person / all matched detections;
- recall: labelled frames (fully visible ones only) where the person's detection was matched
  / those frames. A frame where the detector missed her counts as a miss: this is the
  end-to-end figure a user sees, detector included.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.config import AppConfig
from reidcam.core.events import FrameResult
from reidcam.core.geometry import iou_matrix
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting
from reidcam.pipeline.build import build_cameras, build_models
from reidcam.pipeline.runner import Runner
from reidcam.reid.backends.base import Embedder
from reidcam.reid.enroll import enroll

log = logging.getLogger(__name__)

MIN_IOU = 0.5


@dataclass(frozen=True)
class SearchRecord:
    """One detection of the run: where, and what the matcher said (similarity None: not embedded)."""

    camera_id: str
    frame_name: str
    xyxy: tuple[float, float, float, float]
    similarity: float | None
    verdict: str | None


class _Collector:
    """EventSink keeping one SearchRecord per detection."""

    def __init__(self) -> None:
        self.records: list[SearchRecord] = []

    def on_frame(self, result: FrameResult) -> None:
        for obs in result.observations:
            d = obs.decision
            x1, y1, x2, y2 = (float(v) for v in obs.xyxy)
            self.records.append(
                SearchRecord(
                    result.frame.camera_id,
                    result.frame.name or str(result.frame.index),
                    (x1, y1, x2, y2),
                    None if d is None else float(d.similarity),
                    None if d is None else d.verdict.value,
                )
            )

    def on_sighting_closed(self, sighting: Sighting) -> None:
        return None

    def on_status(self, status: SourceStatus) -> None:
        return None


def run_search(
    cfg: AppConfig, embedder: Embedder, queries: Sequence[NDArray[np.uint8]]
) -> tuple[list[SearchRecord], float]:
    """Run the configured cameras through the pipeline with ``queries`` enrolled; records and threshold."""
    cameras = build_cameras(cfg)
    models = build_models(cfg, embedder=embedder)
    enroll(models.gallery, embedder, "query", list(queries))
    sink = _Collector()
    Runner(cameras, models, sink).run()
    return sink.records, models.matcher.settings.threshold


@dataclass(frozen=True)
class SearchScores:
    """Precision/recall of one run, plus the similarity spread behind them."""

    model_id: str
    threshold: float
    detections: int
    matched: int
    true_matches: int
    precision: float | None
    frames_required: int
    frames_found: int
    recall: float
    person_similarity_min: float | None
    person_similarity_mean: float | None
    others_similarity_max: float | None
    others_similarity_mean: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_person(rec: SearchRecord, boxes: dict[str, list[float]]) -> bool:
    box = boxes.get(rec.frame_name)
    return box is not None and float(iou_matrix(np.array([rec.xyxy]), np.array([box]))[0, 0]) >= MIN_IOU


def _stats(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    return round(min(values), 4), round(float(np.mean(values)), 4), round(max(values), 4)


def score_search(
    records: Sequence[SearchRecord], labels: dict[str, Any], model_id: str, threshold: float
) -> SearchScores:
    """Compare a run's records with ``labels`` (``boxes`` per frame name, ``partly_visible`` names)."""
    boxes = labels["boxes"]
    required = set(boxes) - set(labels.get("partly_visible", []))
    person = [_is_person(r, boxes) for r in records]
    matched = [r.verdict == "match" for r in records]
    true = sum(p and m for p, m in zip(person, matched, strict=True))
    found = {r.frame_name for r, p, m in zip(records, person, matched, strict=True) if p and m} & required
    p_min, p_mean, _ = _stats(
        [r.similarity for r, p in zip(records, person, strict=True) if p and r.similarity is not None]
    )
    _, o_mean, o_max = _stats(
        [r.similarity for r, p in zip(records, person, strict=True) if not p and r.similarity is not None]
    )
    n_matched = sum(matched)
    return SearchScores(
        model_id=model_id,
        threshold=threshold,
        detections=len(records),
        matched=n_matched,
        true_matches=true,
        precision=round(true / n_matched, 4) if n_matched else None,
        frames_required=len(required),
        frames_found=len(found),
        recall=round(len(found) / len(required), 4) if required else 0.0,
        person_similarity_min=p_min,
        person_similarity_mean=p_mean,
        others_similarity_max=o_max,
        others_similarity_mean=o_mean,
    )
