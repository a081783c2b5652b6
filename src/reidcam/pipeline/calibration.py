"""Sighting events -> the per-camera label-free calibration, saved now and then.

The runner hands every closed sighting to ``CalibrationFeed.on_sighting``; the estimator
(``reidcam.match.autocal``) turns it into pairs, and the feed writes the estimate to the
data directory at most every ``save_interval_s`` and when the runner stops.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from reidcam.core.types import Sighting
from reidcam.match.autocal import SeparationEstimator
from reidcam.match.autocal_store import save_estimator

log = logging.getLogger(__name__)


class CalibrationFeed:
    """Feeds ``estimator`` and persists it to ``path`` (None: kept in memory only)."""

    def __init__(
        self, estimator: SeparationEstimator, path: Path | None, save_interval_s: float = 60.0
    ) -> None:
        self.estimator = estimator
        self.path = path
        self.save_interval_s = save_interval_s
        self._lock = threading.Lock()
        self._dirty = False
        self._last_save = time.monotonic()

    def on_sighting(self, sighting: Sighting) -> None:
        if self.estimator.observe(sighting):
            self._dirty = True
        if time.monotonic() - self._last_save >= self.save_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the estimate if it changed; a failed write is logged, the pairs stay in memory."""
        with self._lock:
            self._last_save = time.monotonic()
            if self.path is None or not self._dirty:
                return
            try:
                save_estimator(self.estimator, self.path)
                self._dirty = False
            except OSError as exc:
                log.warning("cannot save the per-camera calibration to %s: %s", self.path, exc)
