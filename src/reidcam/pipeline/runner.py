"""Drives N cameras through the shared models until they end or ``stop()`` is called."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from reidcam.capture.urls import redact_text
from reidcam.core.errors import ReidcamError
from reidcam.core.events import EventSink, NullSink
from reidcam.core.status import SourceStatus
from reidcam.core.types import Frame, Sighting
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.camera_set import CameraSet
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

    The camera set may change while the loop runs (``add_camera``, ``remove_camera``, from
    any thread): the other cameras are neither paused nor restarted. The run ends once every
    camera has ended; ``wait_for_cameras`` (the web server) keeps it running with no camera
    left, until ``stop()`` or a camera is added.
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
        wait_for_cameras: bool = False,
    ) -> None:
        self._cameras = CameraSet(cameras)
        self.wait_for_cameras = wait_for_cameras
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

    @property
    def cameras(self) -> list[CameraUnit]:
        """The cameras now in the run (a copy: the set may change while the loop runs)."""
        return list(self._cameras.units)

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
        self._cameras.set_live(True)
        try:
            self._open_all()
            if self.pipelined:
                self._run_pipelined()
            else:
                while not self._stop.is_set() and not self._done():
                    self.step()
        finally:
            self._shutdown()

    def _done(self) -> bool:
        """Every camera ended (none left counts only without ``wait_for_cameras``)."""
        units = self._cameras.units
        if not units:
            return not self.wait_for_cameras
        return all(u.ended for u in units)

    def _open_all(self) -> None:
        units = self._cameras.units
        errors = [exc for unit in units if (exc := self._open(unit)) is not None]
        if errors and len(errors) == len(units):
            raise errors[0]

    def _open(self, unit: CameraUnit) -> Exception | None:
        """Open the camera and start its reader; a camera that cannot open is marked failed."""
        try:
            unit.source.open()
        except Exception as exc:
            log.error("camera %s: cannot open its source, skipped: %s", unit.camera_id, redact_text(str(exc)))
            unit.fail(exc)
            return exc
        self._start_grabber(unit)
        return None

    # -- changing the camera set while running ------------------------------
    def add_camera(self, unit: CameraUnit) -> CameraUnit:
        """Add a camera; while the loop runs it is opened here (in the caller's thread) and
        read from the next step on, the other cameras go on meanwhile. A camera that cannot
        open is kept, marked failed with the reason, as at start-up. Thread-safe.

        Raises:
            DuplicateCamera: a camera with this id is in the run (or being added or removed).
            ReidcamError: the loop stopped while the camera was being opened (it is released).
        """
        live = self._cameras.reserve(unit.camera_id)
        try:
            if live:
                self._open(unit)
        except BaseException:
            self._cameras.release_reservation(unit.camera_id)
            raise
        if not self._cameras.admit(unit, opened=live):
            self._release(unit)
            raise ReidcamError(f"camera {unit.camera_id!r} not added: detection stopped meanwhile")
        log.info("camera %s added%s", unit.camera_id, "" if live else " (opens when the run starts)")
        self._wake.set()
        return unit

    def remove_camera(self, camera_id: str, timeout_s: float = 10.0) -> CameraUnit:
        """Take a camera out of the run: its reader stops and its source is closed at once
        (threads, files, network), its open sightings are closed and handed to the sink by
        the loop after the steps holding its frames. Blocks until then, at most ``timeout_s``
        (the loop still closes them later). Thread-safe; the other cameras go on.

        Raises:
            UnknownCamera: no camera with this id in the run.
        """
        removal = self._cameras.withdraw(camera_id)
        unit = removal.unit
        self._release(unit)
        if not removal.by_loop:  # the loop is not running: nobody else touches the camera
            self._close_sightings(unit)
        else:
            self._wake.set()
            if not removal.done.wait(timeout_s):
                log.warning(
                    "camera %s: sightings not closed within %.1f s of its removal", camera_id, timeout_s
                )
        log.info("camera %s removed", camera_id)
        return unit

    def step(self) -> int:
        """Process one frame from each camera that has one; returns the number of frames."""
        self._wake.clear()  # before collecting: a frame arriving from now on wakes the wait below
        batch, ended = self._collect()
        if batch:
            self._finish(batch, detect_stage(batch, self.models), ended)
        else:
            self._close(ended)
            if not self._done():
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
                if self._done():
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
        """The next frame of every camera that has one, and the cameras that just ended or
        were removed (their sightings are closed after the steps before this one)."""
        units, ended = self._cameras.collect()
        batch: Batch = []
        for unit in units:
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
            self._cameras.retired(unit)

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

    @staticmethod
    def _release(unit: CameraUnit) -> None:
        """Stop the camera's reader thread and close its source (file, capture, connection)."""
        if unit.grabber is not None:
            unit.grabber.stop()  # kept: its counters stay readable
        try:
            unit.source.close()
        except Exception:
            log.exception("camera %s: closing the source failed", unit.camera_id)

    def _shutdown(self) -> None:
        self._cameras.set_live(False)  # from now on an add or remove is done by its caller
        for unit in (*self._cameras.units, *self._cameras.retiring()):
            self._release(unit)
            self._close([unit])
        if self.models.calibration_feed is not None:
            self.models.calibration_feed.flush()
        self._maybe_publish_status(force=True)
