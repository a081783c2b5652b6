"""Decide whether a sighting is one of the query identities, and say why."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import MatchDecision, Verdict
from reidcam.match.autocal import SeparationEstimator
from reidcam.match.gallery import Gallery
from reidcam.match.threshold_rule import ThresholdChoice, choose_threshold


@dataclass(frozen=True)
class MatcherSettings:
    """``threshold`` on cosine similarity; ``margin`` the lead the best identity
    needs over the runner-up; scores within ``uncertain_band`` below the
    threshold are reported as uncertain rather than a flat no."""

    threshold: float
    margin: float = 0.05
    uncertain_band: float = 0.05


class Matcher:
    """Threshold + margin matcher; thread-safe (settings are replaced atomically).

    ``estimator``: per-camera label-free estimates; given, the matcher self-calibrates (see
    ``reidcam.match.threshold_rule``): ``settings.threshold`` (the user's) can only make a
    camera's threshold stricter. ``model_default``: the model's calibrated threshold, used on
    a camera with too little evidence yet. A decision against a query view cropped on another
    camera uses the two cameras' pair estimate once both have enough evidence.
    """

    def __init__(
        self,
        settings: MatcherSettings,
        estimator: SeparationEstimator | None = None,
        model_default: float | None = None,
    ) -> None:
        self.settings = settings
        self.estimator = estimator
        self.model_default = model_default

    def threshold_for(self, camera_id: str | None, other_camera: str | None = None) -> ThresholdChoice:
        """The threshold that applies to a decision on ``camera_id`` (None: not from a camera)
        against a query view from ``other_camera`` (None: a photo, not known, or no query)."""
        return choose_threshold(
            self.settings.threshold, camera_id, self.estimator, self.model_default, other_camera
        )

    def set_threshold(self, threshold: float) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError("threshold must be within [-1, 1]")
        s = self.settings
        self.settings = MatcherSettings(threshold, s.margin, s.uncertain_band)

    def decide(
        self, vector: NDArray[np.float32], model_id: str, gallery: Gallery, camera_id: str | None = None
    ) -> MatchDecision:
        """Judge one probe (a sighting's prototype) seen on ``camera_id`` against the gallery.

        The threshold is the one for the best identity's best view: cross-camera when that view
        was cropped on another camera.
        """
        scores = gallery.scores_with_views(vector, model_id)
        other = gallery.view_camera(scores[0][0], scores[0][2]) if scores else None
        choice = self.threshold_for(camera_id, other)
        s = replace(self.settings, threshold=choice.threshold)
        if not scores:
            return MatchDecision(
                Verdict.NO_MATCH,
                None,
                0.0,
                None,
                None,
                s.threshold,
                "no query identities",
                None,
                None,
                choice.why,
            )
        best_id, best, view = scores[0]
        runner_id, runner, r_view = scores[1] if len(scores) > 1 else (None, None, None)
        verdict, reason = _judge(best, runner, s)
        if verdict is Verdict.MATCH and choice.uncertain:
            verdict, reason = Verdict.UNCERTAIN, f"{reason}, but {choice.uncertain}"
        why = f"{choice.why}; {choice.uncertain}" if choice.uncertain else choice.why
        return MatchDecision(
            verdict, best_id, best, runner_id, runner, s.threshold, reason, view, r_view, why
        )


def _judge(best: float, runner: float | None, s: MatcherSettings) -> tuple[Verdict, str]:
    if best >= s.threshold:
        if runner is not None and best - runner < s.margin:
            return Verdict.UNCERTAIN, (
                f"similarity {best:.3f} >= threshold {s.threshold:.3f} but only {best - runner:.3f} "
                f"ahead of the runner-up (margin {s.margin:.3f})"
            )
        return Verdict.MATCH, f"similarity {best:.3f} >= threshold {s.threshold:.3f}"
    if best >= s.threshold - s.uncertain_band:
        return Verdict.UNCERTAIN, f"similarity {best:.3f} just below threshold {s.threshold:.3f}"
    return Verdict.NO_MATCH, f"similarity {best:.3f} < threshold {s.threshold:.3f}"
