"""Drives N cameras through the shared models until they end or ``stop()`` is called."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from reidcam.capture.base import SourceStatus
from reidcam.core.errors import ReidcamError
from reidcam.core.types import Frame
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.events import EventSink, NullSink
from reidcam.pipeline.step import Models, process_batch

log = logging.getLogger(__name__)


class Runner:
    """The only loop that strings the stages together.

    Each step takes the next frame of every camera that has one, runs them
    through the models as one batch, and publishes the results to ``sink``.
    Finite sources (files, folders) are read frame by frame without drops;
    live ones through their grabber, newest frame only.
    """

    def __init__(
        self,
        cameras: Sequence[CameraUnit],
        models: Models,
        sink: EventSink | None = None,
        status_interval_s: float = 1.0,
        idle_wait_s: float = 0.02,
    ) -> None:
        ids = [c.camera_id for c in cameras]
        if len(set(ids)) != len(ids):
            raise ReidcamError(f"camera ids must be unique, got {ids}")
        self.cameras = list(cameras)
        self.models = models
        self.sink: EventSink = sink or NullSink()
        self.status_interval_s = status_interval_s
        self.idle_wait_s = idle_wait_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status = 0.0
        self.error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread (for the web server)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_guarded, name="reidcam-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the background run ends; True if it did."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.running

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported through .error for the owner thread
            self.error = exc
            log.exception("runner stopped by an error")

    # -- the loop ------------------------------------------------------
    def run(self) -> None:
        """Process until every finite source ended, or until stop() for live ones."""
        for unit in self.cameras:
            unit.source.open()
            self._start_grabber(unit)
        try:
            while not self._stop.is_set() and any(not u.ended for u in self.cameras):
                self.step()
        finally:
            self._shutdown()

    def step(self) -> int:
        """Process one frame from each camera that has one; returns the number of frames."""
        batch = self._collect()
        if batch:
            for result in process_batch(batch, self.models):
                self.sink.on_frame(result)
            for unit, frame in batch:
                unit.mark_processed()
                for sighting in unit.book.expire(frame.index):
                    self.sink.on_sighting_closed(sighting)
        elif any(not u.ended for u in self.cameras):
            self._stop.wait(self.idle_wait_s)
        self._maybe_publish_status()
        return len(batch)

    def _collect(self) -> list[tuple[CameraUnit, Frame]]:
        batch = []
        for unit in self.cameras:
            if unit.ended:
                continue
            try:
                frame = unit.next_frame(timeout_s=0.0)
            except Exception:
                unit.errors += 1
                log.exception("camera %s: reading a frame failed", unit.camera_id)
                continue
            if frame is not None:
                batch.append((unit, frame))
            elif unit.ended:
                self._close_sightings(unit)
        return batch

    def _start_grabber(self, unit: CameraUnit) -> None:
        if unit.source.is_live and unit.grabber is None:
            from reidcam.capture import LatestFrameGrabber

            unit.grabber = LatestFrameGrabber(unit.source)

    def _close_sightings(self, unit: CameraUnit) -> None:
        for sighting in unit.book.close_all():
            self.sink.on_sighting_closed(sighting)

    def _maybe_publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < self.status_interval_s:
            return
        self._last_status = now
        for status in self.status():
            self.sink.on_status(status)

    def status(self) -> list[SourceStatus]:
        return [u.status() for u in self.cameras]

    def _shutdown(self) -> None:
        for unit in self.cameras:
            if unit.grabber is not None:
                unit.grabber.stop()  # type: ignore[attr-defined]
            try:
                unit.source.close()
            except Exception:
                log.exception("camera %s: closing the source failed", unit.camera_id)
            self._close_sightings(unit)
        self._maybe_publish_status(force=True)
