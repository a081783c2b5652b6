"""Decide whether a sighting is one of the query identities, and say why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import MatchDecision, Verdict
from reidcam.match.gallery import Gallery


@dataclass(frozen=True)
class MatcherSettings:
    """``threshold`` on cosine similarity; ``margin`` the lead the best identity
    needs over the runner-up; scores within ``uncertain_band`` below the
    threshold are reported as uncertain rather than a flat no."""

    threshold: float
    margin: float = 0.05
    uncertain_band: float = 0.05


class Matcher:
    """Threshold + margin matcher; thread-safe (settings are replaced atomically)."""

    def __init__(self, settings: MatcherSettings) -> None:
        self.settings = settings

    def set_threshold(self, threshold: float) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError("threshold must be within [-1, 1]")
        s = self.settings
        self.settings = MatcherSettings(threshold, s.margin, s.uncertain_band)

    def decide(self, vector: NDArray[np.float32], model_id: str, gallery: Gallery) -> MatchDecision:
        s = self.settings
        scores = gallery.scores_with_views(vector, model_id)
        if not scores:
            return MatchDecision(Verdict.NO_MATCH, None, 0.0, None, None, s.threshold, "no query identities")
        best_id, best, view = scores[0]
        runner_id, runner, r_view = scores[1] if len(scores) > 1 else (None, None, None)
        verdict, reason = _judge(best, runner, s)
        return MatchDecision(verdict, best_id, best, runner_id, runner, s.threshold, reason, view, r_view)


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
