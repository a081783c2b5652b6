"""Label-free estimate, per camera, of how well the ReID model tells people apart there.

A fixed threshold means different things on different footage: the similarity scale of a
model moves with the domain (light, resolution, clothes). Each camera hands us labelled pairs
for free. Negatives: two sightings seen at the same time on one camera with their boxes apart
are two people. Positives: the earlier and the later half of one long track are one person.
From their prototype similarities (the level matching decisions are made at), the
false-match rate (FMR) and true-match rate (TMR) at every threshold follow, with the shared
curve code of ``reidcam.match.calibration``.

The pipeline's ``SightingBook`` puts both facts in a closed sighting's ``extra``:
``SIGHTING_HALVES`` (two (D,) half prototypes, in time order) and ``SIGHTING_APART`` (the
``(track_id, part)`` of the sightings of the same camera it was seen apart from).
Only the latest ``NEGATIVE_WINDOW`` / ``POSITIVE_WINDOW`` pairs of a camera are kept, so the
estimate follows a scene that changes (day, night, a moved camera).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Sighting
from reidcam.match.calibration import Calibration, PairScores, calibrate, rates, threshold_for_fmr

SIGHTING_HALVES = "halves"
SIGHTING_APART = "apart"
NEGATIVE_WINDOW = 20_000
POSITIVE_WINDOW = 5_000
RECENT_SIGHTINGS = 500  # closed sightings per camera kept to pair with those still open


@dataclass(frozen=True)
class AutocalSettings:
    """What a camera must show before its estimate steers the matcher.

    ``min_negative_pairs``: 300 lets 3 different-people pairs lie above a 1 % threshold, so
    one outlier pair moves the threshold little. ``min_positive_pairs``: 30 long tracks give
    the TMR to about +-9 points (binomial, p=0.5), enough to tell 10 % from 50 %.
    ``min_tmr``: below it the model cannot separate people on the camera (see
    docs/accuracy.md): its matches become "uncertain".
    """

    target_fmr: float = 0.01
    min_tmr: float = 0.5
    min_negative_pairs: int = 300
    min_positive_pairs: int = 30

    def __post_init__(self) -> None:
        if not 0.0 < self.target_fmr < 1.0:
            raise ValueError("target_fmr must be within (0, 1)")
        if not 0.0 <= self.min_tmr <= 1.0:
            raise ValueError("min_tmr must be within [0, 1]")


@dataclass(frozen=True)
class CameraEstimate:
    """What one camera's pairs say.

    Attributes:
        camera_id: the camera (or ``"A+B"`` for a pooled camera pair).
        model_id: the ReID model the similarities come from.
        scores: the pairs (``same`` = track halves, ``different`` = co-visible sightings).
        enough: both kinds of pairs reach the settings' minimum counts.
        threshold: similarity threshold for the target FMR (None without negatives).
        tmr_at_target: TMR at ``threshold`` (None without both kinds of pairs).
        separable: False when there is enough evidence and ``tmr_at_target < min_tmr``.
        calibration: the shared curve/histogram form (None without both kinds of pairs).
    """

    camera_id: str
    model_id: str
    scores: PairScores = field(repr=False)
    enough: bool
    target_fmr: float
    threshold: float | None
    tmr_at_target: float | None
    separable: bool
    calibration: Calibration | None = field(repr=False, default=None)

    @property
    def num_negative(self) -> int:
        return len(self.scores.different)

    @property
    def num_positive(self) -> int:
        return len(self.scores.same)

    def rates_at(self, threshold: float) -> tuple[float | None, float | None]:
        """(FMR, TMR) of ``similarity >= threshold`` on this camera's pairs; None where no pair."""
        d, s = self.scores.different, self.scores.same
        fmr = float(np.mean(d >= threshold)) if len(d) else None
        tmr = float(np.mean(s >= threshold)) if len(s) else None
        return fmr, tmr


def estimate_from_scores(
    camera_id: str, model_id: str, scores: PairScores, settings: AutocalSettings
) -> CameraEstimate:
    """The estimate of one camera from its pair similarities (either kind may be empty)."""
    n_neg, n_pos = len(scores.different), len(scores.same)
    threshold = threshold_for_fmr(scores.different, settings.target_fmr) if n_neg else None
    tmr = rates(threshold, scores)[1] if threshold is not None and n_pos else None
    enough = n_neg >= settings.min_negative_pairs and n_pos >= settings.min_positive_pairs
    cal = None
    if n_neg and n_pos:
        data = f"camera {camera_id}: label-free pairs (co-visible sightings, halves of long tracks)"
        cal = calibrate(scores, model_id, settings.target_fmr, data=data)
    return CameraEstimate(
        camera_id=camera_id,
        model_id=model_id,
        scores=scores,
        enough=enough,
        target_fmr=settings.target_fmr,
        threshold=threshold,
        tmr_at_target=tmr,
        separable=not (enough and tmr is not None and tmr < settings.min_tmr),
        calibration=cal,
    )


@dataclass
class _Camera:
    """One camera's pair windows and its recently closed sightings (key -> prototype)."""

    source: str = ""
    negatives: deque[float] = field(default_factory=lambda: deque(maxlen=NEGATIVE_WINDOW))
    positives: deque[float] = field(default_factory=lambda: deque(maxlen=POSITIVE_WINDOW))
    recent: OrderedDict[tuple[int, int], NDArray[np.float32]] = field(default_factory=OrderedDict)
    cached: CameraEstimate | None = None
    version: int = 0  # bumped with every new pair (keeps pair estimates' caches honest)

    def scores(self) -> PairScores:
        return PairScores(np.asarray(self.positives, np.float32), np.asarray(self.negatives, np.float32))


class SeparationEstimator:
    """Per-camera pair windows fed by closed sightings; thread-safe.

    Args:
        model_id: the ReID model whose prototypes it is fed (others are refused).
        settings: target FMR and the evidence a camera needs.
        sources: camera id -> a description of its source (kept with the estimate, so one
            saved for another camera under the same id is recognised and refused).
    """

    def __init__(
        self, model_id: str, settings: AutocalSettings | None = None, sources: dict[str, str] | None = None
    ) -> None:
        self.model_id = model_id
        self.settings = settings or AutocalSettings()
        self._lock = threading.Lock()
        self._cams: dict[str, _Camera] = {cid: _Camera(src) for cid, src in (sources or {}).items()}
        self._pairs: dict[tuple[str, str], tuple[int, int, CameraEstimate]] = {}

    def _camera(self, camera_id: str) -> _Camera:
        cam = self._cams.get(camera_id)
        if cam is None:
            cam = self._cams[camera_id] = _Camera()
        return cam

    def camera_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._cams)

    def source_of(self, camera_id: str) -> str:
        with self._lock:
            cam = self._cams.get(camera_id)
            return "" if cam is None else cam.source

    def observe(self, sighting: Sighting) -> int:
        """Take the pairs a closed sighting completes; returns how many were added.

        A sighting without a prototype (nothing embedded) adds nothing and is not kept.

        Raises:
            ValueError: the sighting's prototype comes from another model.
        """
        if sighting.prototype is None:
            return 0
        if sighting.model_id is not None and sighting.model_id != self.model_id:
            raise ValueError(f"estimator of {self.model_id} fed a {sighting.model_id} sighting")
        key = (sighting.key.track_id, sighting.key.part)
        proto = np.asarray(sighting.prototype, np.float32)
        halves = sighting.extra.get(SIGHTING_HALVES)
        apart = sighting.extra.get(SIGHTING_APART) or ()
        with self._lock:
            cam = self._camera(sighting.key.camera_id)
            added = 0
            if isinstance(halves, tuple) and len(halves) == 2:
                cam.positives.append(float(np.clip(halves[0] @ halves[1], -1.0, 1.0)))
                added += 1
            for other in apart if isinstance(apart, tuple | list) else ():
                other_proto = cam.recent.get(tuple(other))
                if other_proto is not None:
                    cam.negatives.append(float(np.clip(proto @ other_proto, -1.0, 1.0)))
                    added += 1
            cam.recent[key] = proto
            while len(cam.recent) > RECENT_SIGHTINGS:
                cam.recent.popitem(last=False)
            if added:
                cam.cached = None
                cam.version += 1
            return added

    def add_pairs(
        self,
        camera_id: str,
        negatives: NDArray[np.floating] | list[float],
        positives: NDArray[np.floating] | list[float],
        source: str = "",
    ) -> None:
        """Add pair similarities directly (a saved estimate, or pairs found offline)."""
        with self._lock:
            cam = self._camera(camera_id)
            cam.source = cam.source or source
            cam.negatives.extend(float(x) for x in np.asarray(negatives, np.float64).ravel())
            cam.positives.extend(float(x) for x in np.asarray(positives, np.float64).ravel())
            cam.cached = None
            cam.version += 1

    def scores(self, camera_id: str) -> PairScores:
        with self._lock:
            cam = self._cams.get(camera_id)
            return cam.scores() if cam is not None else PairScores(*_empty_pair())

    def estimate(self, camera_id: str) -> CameraEstimate:
        """The camera's estimate (recomputed only after new pairs); a camera never seen has none."""
        with self._lock:
            cam = self._camera(camera_id)
            if cam.cached is None:
                cam.cached = estimate_from_scores(camera_id, self.model_id, cam.scores(), self.settings)
            return cam.cached

    def estimates(self) -> list[CameraEstimate]:
        return [self.estimate(cid) for cid in self.camera_ids()]

    def pair_estimate(self, camera_a: str, camera_b: str) -> CameraEstimate:
        """For a decision across two cameras: both cameras' pairs pooled (a sighting on either
        must be told apart from the people of both), ``camera_id`` ``"A+B"``.

        It has enough evidence only when each camera has enough of its own: pooled with a
        camera that has seen few people, one well-known camera would speak for both.
        Recomputed only after either camera got new pairs.
        """
        with self._lock:  # a camera never seen has no pairs (and is not added by asking)
            cam_a, cam_b = self._cams.get(camera_a) or _Camera(), self._cams.get(camera_b) or _Camera()
            key, versions = (camera_a, camera_b), (cam_a.version, cam_b.version)
            hit = self._pairs.get(key)
            if hit is not None and hit[:2] == versions:
                return hit[2]
            a, b = cam_a.scores(), cam_b.scores()
        pooled = PairScores(np.concatenate([a.same, b.same]), np.concatenate([a.different, b.different]))
        est = estimate_from_scores(f"{camera_a}+{camera_b}", self.model_id, pooled, self.settings)
        enough = est.enough and all(
            len(x.different) >= self.settings.min_negative_pairs
            and len(x.same) >= self.settings.min_positive_pairs
            for x in (a, b)
        )
        if not enough:
            est = replace(est, enough=False, separable=True)
        with self._lock:
            self._pairs[key] = (*versions, est)
        return est


def _empty_pair() -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    return np.zeros(0, np.float32), np.zeros(0, np.float32)
