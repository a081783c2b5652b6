"""Queries of people who are not in a video must get no "match": the false-match check end to end.

Three cases on the shared media, each a query set and cameras whose people are disjoint from it:

- ``vtest-person``: people cropped (detector + crop gate) from ``vtest.avi`` searched in
  ``people-detection.264``;
- ``market-queries``: the two Market-1501 query crops of the woman searched in both videos;
- ``mot-other-sequences``: ground-truth people of one MOT17-mini sequence searched in the frames
  of every other sequence.

The whole pipeline runs at the config's defaults (detector, tracker, gate, model, threshold,
``matcher.*``); every "match" is false by construction. Used by ``benchmarks/absent_people.py``
and the models test ``tests/models/test_absent_people.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.capture.video_file import VideoFileSource
from reidcam.config import AppConfig
from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting, Verdict
from reidcam.eval.build_set import mot_crops
from reidcam.eval.mot_io import find_sequences
from reidcam.perf.sources import LimitedSource
from reidcam.pipeline.build import build_cameras
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.step import Models
from reidcam.reid.crop_gate import crop_quality, extract_crops
from reidcam.reid.enroll import enroll, read_image

VIDEOS = ("vtest.avi", "people-detection.264")


@dataclass(frozen=True)
class AbsentCase:
    """Query crops and (camera id, source) pairs none of whose people is a query person."""

    name: str
    queries: tuple[NDArray[np.uint8], ...]
    cameras: tuple[tuple[str, str], ...]


@dataclass
class AbsentResult:
    """What the pipeline said about people who are not the queries (every match is false)."""

    case: str
    queries: int
    frames: int = 0
    scored: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    matched_sightings: int = 0
    sightings: int = 0
    max_similarity: float | None = None
    threshold: float = 0.0

    @property
    def false_matches(self) -> int:
        return self.verdicts.get(Verdict.MATCH.value, 0)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "false_matches": self.false_matches}


class _Counter:
    """EventSink counting verdicts per scored detection and per closed sighting."""

    def __init__(self) -> None:
        self.frames, self.verdicts = 0, Counter[str]()
        self.sims: list[float] = []
        self.sightings, self.matched = 0, 0

    def on_frame(self, result: FrameResult) -> None:
        self.frames += 1
        for obs in result.observations:
            if obs.decision is not None and obs.decision.query_id is not None:
                self.verdicts[obs.decision.verdict.value] += 1
                self.sims.append(float(obs.decision.similarity))

    def on_sighting_closed(self, sighting: Sighting) -> None:
        self.sightings += 1
        self.matched += sighting.decision is not None and sighting.decision.verdict is Verdict.MATCH

    def on_status(self, status: SourceStatus) -> None:
        return None


def video_person_crops(
    models: Models, video: Path, frame_numbers: Sequence[int], per_frame: int = 2
) -> list[NDArray[np.uint8]]:
    """The ``per_frame`` best-gated detected people of each chosen frame of a video (query crops)."""
    src = VideoFileSource("q", video)
    src.open()
    out: list[NDArray[np.uint8]] = []
    try:
        for index in range(max(frame_numbers) + 1):
            frame = src.read()
            if frame is None:
                break
            if index not in frame_numbers:
                continue
            det = models.detector.detect([frame.image])[0]
            h, w = frame.image.shape[:2]
            q = crop_quality(det.xyxy, w, h, models.gate)
            best = [i for i in np.argsort(-q.score) if q.ok[i]][:per_frame]
            out += [c for c in extract_crops(frame.image, det.xyxy[best]) if c is not None]
    finally:
        src.close()
    return out


def default_cases(models: Models, media: Path, query_sequence: str = "MOT17-09-FRCNN") -> list[AbsentCase]:
    """The three cases of the module docstring on ``$REIDCAM_MEDIA_DIR``."""
    vtest, ceiling = (str(media / v) for v in VIDEOS)
    market = tuple(read_image(p) for p in sorted((media / "market1501_2cam" / "query").glob("*.jpg")))
    seqs = find_sequences(media / "MOT17-mini")
    query_seq = next(s for s in seqs if s.name == query_sequence)
    first = query_seq.frame_numbers[0]
    mot_q = tuple(c.image for c in mot_crops(query_seq, 1, min_height_px=100) if c.frame == first)
    others = tuple((s.name.split("-")[1], str(s.root / "img1")) for s in seqs if s is not query_seq)
    vtest_q = tuple(video_person_crops(models, media / VIDEOS[0], (60, 250, 450)))
    return [
        AbsentCase("vtest-person", vtest_q, (("ceiling", ceiling),)),
        AbsentCase("market-queries", market, (("vtest", vtest), ("ceiling", ceiling))),
        AbsentCase("mot-other-sequences", mot_q, others),
    ]


def run_case(cfg: AppConfig, models: Models, case: AbsentCase, max_frames: int) -> AbsentResult:
    """Run the case's cameras (first ``max_frames`` frames each) with its queries enrolled."""
    cameras = AppConfig.model_validate({"cameras": [{"id": c, "source": s} for c, s in case.cameras]}).cameras
    units = build_cameras(cfg.model_copy(update={"cameras": cameras}))
    for unit in units:
        unit.source = LimitedSource(unit.source, max_frames)
    models.gallery.clear()
    enroll(models.gallery, models.embedder, "query", list(case.queries))
    sink = _Counter()
    Runner(units, models, sink).run()
    return AbsentResult(
        case.name,
        len(case.queries),
        sink.frames,
        sum(sink.verdicts.values()),
        dict(sink.verdicts),
        sink.matched,
        sink.sightings,
        round(max(sink.sims), 4) if sink.sims else None,
        models.matcher.settings.threshold,
    )
