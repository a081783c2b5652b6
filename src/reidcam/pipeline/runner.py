"""Drives N cameras through the shared models until they end or ``stop()`` is called."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from reidcam.core.errors import ReidcamError
from reidcam.core.events import EventSink, NullSink
from reidcam.core.status import SourceStatus
from reidcam.core.types import Frame, Sighting
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.stats import RunStats
from reidcam.pipeline.step import Detected, Models, detect_stage, finish_step
from reidcam.runtime.worker import BackgroundThread

log = logging.getLogger(__name__)

Batch = list[tuple[CameraUnit, Frame]]
_Handoff = tuple[Batch, Detected | None, list[CameraUnit]]


class Runner:
    """The only loop that strings the stages together: the inference worker.

    Every camera is read on its own thread (decoding overlaps inference; OpenCV releases
    the GIL): live sources through a ``LatestFrameGrabber`` (newest frame only, stale ones
    dropped and counted), finite ones (files, folders) through a ``PrefetchReader`` that
    decodes ``prefetch_frames`` ahead and drops nothing. Each step takes the next frame of
    every camera that has one, runs them through the models as one batch, and publishes
    the results to ``sink``; with no frame ready it sleeps until a reader signals one.

    ``pipelined``: ``run()`` detects batch N+1 on a second thread while batch N is tracked,
    embedded and matched (hand-over queue of one batch, so frames stay in order). Each
    runtime then gets its own core with one intra-op thread, instead of two runtimes taking
    turns on both cores: no thread barrier waits on a core that a neighbour is using.
    ``step()`` always runs both stages in the caller's thread. ``stats`` holds the stage
    timings, latency and ReID counts of the run.
    """

    def __init__(
        self,
        cameras: Sequence[CameraUnit],
        models: Models,
        sink: EventSink | None = None,
        status_interval_s: float = 1.0,
        idle_wait_s: float = 0.05,
        prefetch_frames: int = 2,
        pipelined: bool = True,
    ) -> None:
        ids = [c.camera_id for c in cameras]
        if len(set(ids)) != len(ids):
            raise ReidcamError(f"camera ids must be unique, got {ids}")
        self.cameras = list(cameras)
        self.models = models
        self.sink: EventSink = sink or NullSink()
        self.status_interval_s = status_interval_s
        self.idle_wait_s = idle_wait_s
        self.prefetch_frames = prefetch_frames
        self.pipelined = pipelined
        self.stats = RunStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._background = BackgroundThread("reidcam-runner", self._run_guarded, self._stop)
        self._last_status = 0.0
        self.error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread (for the web server)."""
        self._background.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._background.stop(timeout_s)

    @property
    def running(self) -> bool:
        return self._background.running

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the background run ends; True if it did."""
        return self._background.wait(timeout_s)

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported through .error for the owner thread
            self.error = exc
            log.exception("runner stopped by an error")

    # -- the loop ------------------------------------------------------
    def run(self) -> None:
        """Process until every finite source ended, or until stop() for live ones.

        A camera that cannot be opened (a missing or unreadable file) is marked failed and
        the others run; only when none opens does the error end the run.
        """
        self._open_all()
        try:
            if self.pipelined:
                self._run_pipelined()
            else:
                while not self._stop.is_set() and any(not u.ended for u in self.cameras):
                    self.step()
        finally:
            self._shutdown()

    def _open_all(self) -> None:
        errors: list[BaseException] = []
        for unit in self.cameras:
            try:
                unit.source.open()
            except Exception as exc:
                log.error("camera %s: cannot open its source, skipped: %s", unit.camera_id, exc)
                unit.fail(exc)
                errors.append(exc)
                continue
            self._start_grabber(unit)
        if errors and len(errors) == len(self.cameras):
            raise errors[0]

    def step(self) -> int:
        """Process one frame from each camera that has one; returns the number of frames."""
        self._wake.clear()  # before collecting: a frame arriving from now on wakes the wait below
        batch, ended = self._collect()
        if batch:
            self._finish(batch, detect_stage(batch, self.models), ended)
        else:
            self._close(ended)
            if any(not u.ended for u in self.cameras):
                self._wake.wait(self.idle_wait_s)
        self._maybe_publish_status()
        return len(batch)

    def _finish(self, batch: Batch, detected: Detected | None, ended: list[CameraUnit]) -> None:
        if batch and detected is not None:
            try:
                results, report = finish_step(batch, detected, self.models)
            except Exception:  # a bug in a stage must not stop every camera for good
                for unit, _ in batch:
                    unit.errors += 1
                cams = ", ".join(u.camera_id for u, _ in batch)
                log.exception("cameras %s: processing a step failed, its frames are skipped", cams)
                results, report = [], None
            t0 = time.perf_counter()
            units = {u.camera_id: u for u, _ in batch}
            for result in results:
                self._emit(units[result.frame.camera_id], "on_frame", partial(self.sink.on_frame, result))
                self.stats.add_frame(result, time.time())
            for unit, frame in batch:
                unit.mark_processed()
                for sighting in self._expire(unit, frame):
                    self._sighting_closed(unit, sighting)
            if report is not None:
                self.stats.add_step(report, (time.perf_counter() - t0) * 1000.0)
        self._close(ended)

    def _emit(self, unit: CameraUnit, method: str, deliver: Callable[[], None]) -> None:
        """Hand one event to the sink (``deliver``: its ``method`` bound to the event). A failing
        consumer (a full disk, the web view) is logged with the camera id and counted in
        ``unit.errors``; detection goes on."""
        try:
            deliver()
        except Exception as exc:
            unit.fault(f"event sink failed in {method}: {exc}")

    @staticmethod
    def _expire(unit: CameraUnit, frame: Frame) -> list[Sighting]:
        try:
            return unit.book.expire(frame.index)
        except Exception:
            unit.fault(f"closing sightings failed on frame {frame.index}")
            return []

    # -- two-stage mode ----------------------------------------------------
    def _run_pipelined(self) -> None:
        handoff: queue.Queue[_Handoff | None] = queue.Queue(maxsize=1)
        errors: list[BaseException] = []
        worker = threading.Thread(
            target=self._detect_loop, args=(handoff, errors), name="reidcam-detect", daemon=True
        )
        self._abort.clear()
        worker.start()
        try:
            while (item := handoff.get()) is not None:
                self._finish(*item)
                self._maybe_publish_status()
        finally:
            self._abort.set()  # the detector thread must not block on a queue nobody reads
            worker.join()
        if errors:
            raise errors[0]

    def _detect_loop(self, handoff: queue.Queue[_Handoff | None], errors: list[BaseException]) -> None:
        try:
            while not self._stop.is_set() and not self._abort.is_set():
                if all(u.ended for u in self.cameras):
                    break
                self._wake.clear()
                batch, ended = self._collect()
                if batch or ended:
                    detected = detect_stage(batch, self.models) if batch else None
                    self._hand_over(handoff, (batch, detected, ended))
                else:
                    self._wake.wait(self.idle_wait_s)
        except BaseException as exc:  # re-raised by run() in the runner's thread
            errors.append(exc)
            log.exception("detection thread stopped by an error")
        finally:
            self._hand_over(handoff, None)

    def _hand_over(self, handoff: queue.Queue[_Handoff | None], item: _Handoff | None) -> None:
        while not self._abort.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- cameras -----------------------------------------------------------
    def _collect(self) -> tuple[Batch, list[CameraUnit]]:
        """The next frame of every camera that has one, and the cameras that just ended."""
        batch, ended = [], []
        for unit in self.cameras:
            if unit.ended:
                continue
            try:
                frame = unit.next_frame(timeout_s=0.0)
            except Exception:
                unit.fault("reading a frame failed")
                continue
            if frame is not None:
                batch.append((unit, frame))
            elif unit.ended:
                ended.append(unit)
        return batch, ended

    def _start_grabber(self, unit: CameraUnit) -> None:
        if unit.grabber is not None and not unit.grabber.ended:
            return
        from reidcam.capture import LatestFrameGrabber, PrefetchReader

        if unit.source.is_live:
            unit.grabber = LatestFrameGrabber(unit.source, on_frame=self._wake.set)
        else:
            unit.grabber = PrefetchReader(unit.source, self.prefetch_frames, on_frame=self._wake.set)

    def _close(self, units: list[CameraUnit]) -> None:
        for unit in units:
            self._close_sightings(unit)

    def _close_sightings(self, unit: CameraUnit) -> None:
        try:
            closed = unit.book.close_all()
        except Exception:
            unit.fault("closing its sightings failed")
            return
        for sighting in closed:
            self._sighting_closed(unit, sighting)

    def _sighting_closed(self, unit: CameraUnit, sighting: Sighting) -> None:
        """Feed the camera's self-calibration, then tell the sink."""
        feed = self.models.calibration_feed
        if feed is not None:
            try:
                feed.on_sighting(sighting)
            except Exception as exc:
                unit.fault(f"self-calibration failed on a sighting: {exc}")
        self._emit(unit, "on_sighting_closed", partial(self.sink.on_sighting_closed, sighting))

    def _maybe_publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < self.status_interval_s:
            return
        self._last_status = now
        for unit in self.cameras:
            try:
                status = unit.status()
            except Exception:
                unit.fault("reading its status failed")
                continue
            self._emit(unit, "on_status", partial(self.sink.on_status, status))

    def status(self) -> list[SourceStatus]:
        return [u.status() for u in self.cameras]

    def _shutdown(self) -> None:
        for unit in self.cameras:
            if unit.grabber is not None:
                unit.grabber.stop()  # kept: its counters stay readable
            try:
                unit.source.close()
            except Exception:
                log.exception("camera %s: closing the source failed", unit.camera_id)
            self._close_sightings(unit)
        if self.models.calibration_feed is not None:
            self.models.calibration_feed.flush()
        self._maybe_publish_status(force=True)
