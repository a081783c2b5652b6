"""The web app's verbs: start/stop the runner, add/remove cameras, choose the query, set the threshold.

Handlers call these from worker threads (they block: joining the runner,
running the models), never on the event loop.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from fastapi import HTTPException, status
from numpy.typing import NDArray

from reidcam.capture import FailedSource
from reidcam.capture.urls import describe_source, redact_text
from reidcam.config import AppConfig, CameraConfig
from reidcam.core.errors import ImageError
from reidcam.core.events import EventSink, FanOutSink
from reidcam.core.status import SourceState
from reidcam.identity import Assignment, IdentitySink
from reidcam.identity.track_crops import TrackCropSink
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.camera_set import CameraSetError, DuplicateCamera, UnknownCamera
from reidcam.pipeline.runner import Runner
from reidcam.reid.enroll import PersonPick, pick_person, read_image
from reidcam.web.hub import Beacon, EventHub
from reidcam.web.live_queries import QueryBook, QueryRecord, QuerySource
from reidcam.web.schemas import CameraOut, ClusterOut, QueryOut, RunnerOut, StorageOut, crop_out, seen_out
from reidcam.web.services import Services
from reidcam.web.state import LiveState

log = logging.getLogger(__name__)


class Controller:
    def __init__(self, config: AppConfig, services: Services, live: LiveState, hub: EventHub) -> None:
        self.config = config
        self.services = services
        self.live = live
        self.hub = hub
        self.models = services.models
        self.default_threshold = services.models.matcher.settings.threshold
        self.queries = QueryBook(self.models.gallery, self.models.embedder, live.crops)
        self.memory = services.memory
        self._lock = threading.Lock()
        self._stopping = False  # Stop asked, the runner still writing its last sightings
        self._threshold_lock = threading.Lock()
        self._threshold_version = 0
        self._runner: Runner | None = None
        self._identity_sink: IdentitySink | None = None
        self._sightings_failed = 0  # of the runs before the current one
        # The cameras of the page: the config's, plus those added and less those removed through
        # the API since the server started (a restart returns to the config's). Copy-on-write.
        self._camera_configs: tuple[CameraConfig, ...] = tuple(c for c in config.cameras if c.enabled)
        self._config_ids = frozenset(c.id for c in self._camera_configs)
        self._added_ids: set[str] = set()  # added through the API (built by ``build_camera``)
        self.camera_changes = Beacon()

    # -- runner ---------------------------------------------------------------
    def start(self) -> RunnerOut:
        """Build fresh cameras and start the runner; does nothing if it runs already.

        Raises:
            ReidcamError: a camera cannot be built (missing file, bad source).
        """
        with self._lock:
            if not self.running:
                units = self._build_units()
                self.live.new_run()
                self._close_identity_sink()
                launcher = self.services.launcher
                if launcher is None:
                    self._start_runner(units)
                else:  # detection's threads keep the normal priority the server gave up
                    launcher.call(lambda: self._start_runner(units))
                log.info("detection started on %d camera(s)", len(units))
        return self._publish_runner()

    def _build_units(self) -> list[CameraUnit]:
        """The factory's units less the cameras removed through the API, plus those added."""
        now = {c.id for c in self._camera_configs}
        units = [
            u
            for u in self.services.build_cameras()
            if u.camera_id not in self._added_ids
            and (u.camera_id in now or u.camera_id not in self._config_ids)
        ]
        return units + [self._build_one(c) for c in self._camera_configs if c.id in self._added_ids]

    def _build_one(self, cam: CameraConfig) -> CameraUnit:
        if self.services.build_camera is None:
            raise CameraSetError("this server cannot add cameras (no camera factory)")
        return self.services.build_camera(cam)

    def _start_runner(self, units: list[CameraUnit]) -> None:
        sink: EventSink = self.live
        if self.memory is not None:
            self._identity_sink = IdentitySink(self.memory, on_assigned=self._on_assigned)
            sinks: list[EventSink] = [self.live, self._identity_sink]
            if self.config.identity.collect_track_crops:  # for `reidcam finetune --from-memory`
                sinks.append(TrackCropSink(self.services.data_dir))
            sink = FanOutSink(sinks)
        self._runner = Runner(units, self.models, sink=sink, wait_for_cameras=True)
        self._runner.start()

    def stop(self) -> RunnerOut:
        """Stop and wait until the last frames and sightings are written.

        That can take seconds on a busy machine (a detection batch in flight, the identity
        memory's queue): every page is told at once that it is stopping, not left guessing.
        """
        with self._lock:
            runner = self._runner if self.running else None
            if runner is not None:
                self._stopping = True
                self._publish_runner()
            try:
                if runner is not None:
                    runner.stop()
                    log.info("detection stopped")
                self._close_identity_sink()
            finally:
                self._stopping = False
        return self._publish_runner()

    def open(self) -> None:
        """The server starts (nothing to do in one process: Start opens the cameras)."""

    def shutdown(self) -> None:
        """The server stops: detection stops, the last sightings are written."""
        self.stop()

    # -- identity memory ------------------------------------------------------
    def _close_identity_sink(self) -> None:
        """Write every queued sighting, then stop the writer (the runner has stopped)."""
        sink, self._identity_sink = self._identity_sink, None
        if sink is not None and not sink.close():
            log.warning("identity memory: %d sighting(s) could not be written before closing", sink.pending)
        if sink is not None:
            self._sightings_failed += sink.failed

    def flush_identities(self, timeout_s: float = 30.0) -> bool:
        """Wait until every sighting closed so far is in the identity memory."""
        sink = self._identity_sink
        return True if sink is None else sink.flush(timeout_s)

    def _on_assigned(self, a: Assignment) -> None:
        """Writer thread: tell the pages a sighting landed in an identity."""
        self.hub.publish(
            {
                "type": "sighting",
                "sighting_id": a.sighting_id,
                "identity_id": a.identity_id,
                "camera_id": a.camera_id,
                "verdict": a.verdict,
            }
        )

    def sync_memory_queries(self) -> int:
        """Named identities become queries (after a restart, rename, merge or delete)."""
        if self.memory is None:
            return 0
        n = self.queries.sync_memory(self.memory, self.models.embedder.model_id)
        self._queries_changed()
        return n

    def storage_state(self) -> StorageOut:
        """Crop writes of the live view and the identity memory, and sightings not stored."""
        stores = [self.live.crops.store] + ([self.memory.crops] if self.memory is not None else [])
        for store in stores:
            store.recheck()
        errors = [s for s in stores if s.last_error_at is not None]
        failing = [s for s in stores if s.failing]
        latest = max(failing or errors, key=lambda s: s.last_error_at or 0.0, default=None)
        sink = self._identity_sink
        return StorageOut(  # one folder can fail while the others write (a read-only gallery folder)
            failing=bool(failing),
            write_errors=sum(s.write_errors for s in stores),
            last_error=None if latest is None else latest.last_error,
            last_error_at=None if latest is None else latest.last_error_at,
            sightings_failed=self._sightings_failed + (0 if sink is None else sink.failed),
        )

    def cluster(self) -> ClusterOut | None:
        """The workers and memory services (distributed mode); None on one machine."""
        return None

    def stored_crop(self, relpath: str) -> bytes | None:
        """A memory crop that is not in this server's data directory (distributed mode: on a
        memory service's disk); None on one machine, where every crop is local."""
        return None

    def snapshot(self, camera_id: str) -> tuple[int, bytes] | None:
        """The newest frame of a camera with its overlays (JPEG), None before the first one."""
        return self.live.jpeg(camera_id)

    @property
    def running(self) -> bool:
        r = self._runner
        return r is not None and r.running

    def runner_state(self) -> RunnerOut:
        r = self._runner
        error = None if r is None or r.error is None else redact_text(str(r.error))
        return RunnerOut(running=self.running, stopping=self._stopping, error=error)

    def _publish_runner(self) -> RunnerOut:
        state = self.runner_state()
        self.hub.publish({"type": "runner", **state.model_dump()})
        return state

    # -- cameras --------------------------------------------------------------
    def camera_ids(self) -> list[str]:
        return [c.id for c in self._camera_configs]

    def camera_failed(self, camera_id: str) -> bool:
        """The camera could not be used: unusable at start-up, or given up by its reader."""
        if camera_id in self.services.source_problems:
            return True
        runner = self._runner
        unit = next((u for u in runner.cameras if u.camera_id == camera_id), None) if runner else None
        try:
            return unit is not None and unit.status().state == SourceState.FAILED
        except Exception:  # a status must never break the page
            return False

    def cameras(self) -> list[CameraOut]:
        runner = self._runner
        units = {u.camera_id: u for u in runner.cameras} if runner is not None else {}
        running = self.running
        return [self._camera(c, units.get(c.id), running) for c in self._camera_configs]

    def has_camera(self, camera_id: str) -> bool:
        return any(c.id == camera_id for c in self._camera_configs)

    def camera(self, camera_id: str) -> CameraOut | None:
        return next((c for c in self.cameras() if c.camera_id == camera_id), None)

    def add_camera(self, cam: CameraConfig) -> CameraOut:
        """Add a camera to the page, and to the run while detection runs (the others go on).

        One that cannot be opened is shown failed with the reason, as at start-up. Not written
        to the config: a restart returns to the config's cameras.

        Raises:
            DuplicateCamera: the id is taken. CameraSetError: no camera factory.
        """
        with self._lock:
            if cam.id in self.camera_ids():
                raise DuplicateCamera(f"camera {cam.id!r} already exists; remove it first")
            runner = self._runner
            if runner is not None and self.running:
                runner.add_camera(self._build_one(cam))
            else:
                if self.services.build_camera is None:
                    raise CameraSetError("this server cannot add cameras (no camera factory)")
                problem = self.services.check_source(cam)
                if problem is not None:
                    self.services.source_problems[cam.id] = problem
            self._camera_configs = (*self._camera_configs, cam)
            self._added_ids.add(cam.id)
        log.info("camera %s added (%s)", cam.id, describe_source(cam.source))
        self._cameras_changed()
        return self.camera(cam.id) or self._camera(cam, None, self.running)

    def remove_camera(self, camera_id: str) -> None:
        """Take a camera off the page and out of the run; its open sightings are closed and
        stored, its reader thread and source released. The other cameras go on.

        Raises:
            UnknownCamera: no such camera.
        """
        with self._lock:
            if camera_id not in self.camera_ids():
                raise UnknownCamera(f"no camera {camera_id!r}; see GET /api/cameras")
            runner = self._runner
            if runner is not None and camera_id in {u.camera_id for u in runner.cameras}:
                runner.remove_camera(camera_id)
            self._camera_configs = tuple(c for c in self._camera_configs if c.id != camera_id)
            self._added_ids.discard(camera_id)
            self.services.source_problems.pop(camera_id, None)
            self.live.forget_camera(camera_id)
        log.info("camera %s removed", camera_id)
        self._cameras_changed()

    def _cameras_changed(self) -> None:
        """Every page (and every page's live socket) learns the new camera set."""
        self.camera_changes.ring()
        self.hub.publish({"type": "cameras", "cameras": self.camera_ids()})

    def _camera(self, cam: CameraConfig, unit: CameraUnit | None, running: bool) -> CameraOut:
        st = None
        if unit is not None:
            try:
                st = unit.status()
            except Exception:  # a status must never break the page
                log.exception("camera %s: status failed", cam.id)
        if st is None and cam.id in self.services.source_problems:  # found unusable at start-up
            st = FailedSource(cam.id, self.services.source_problems[cam.id]).status()
        state = SourceState.STOPPED.value if st is None else st.state.value
        if not running and state in (SourceState.LIVE.value, SourceState.STARTING.value):
            state = SourceState.STOPPED.value
        return CameraOut(
            camera_id=cam.id,
            name=cam.name or cam.id,
            description=describe_source(cam.source),
            state=state,
            fps=round(unit.fps, 2) if unit is not None and running else 0.0,
            frames_read=0 if st is None else st.frames_read,
            frames_processed=0 if unit is None else unit.frames_processed,
            errors=0 if unit is None else unit.errors,
            reconnects=0 if st is None else st.reconnects,
            last_frame_age_s=None
            if st is None or st.last_frame_age_s is None
            else round(st.last_frame_age_s, 2),
            last_error=None if st is None or st.last_error is None else redact_text(st.last_error),
            last_match=seen_out(self.live.matches.seen(cam.id)),
            stream_url=f"/api/cameras/{cam.id}/stream.mjpg",
            snapshot_url=f"/api/cameras/{cam.id}/snapshot.jpg",
        )

    # -- query ----------------------------------------------------------------
    def select_crops(self, crop_ids: list[str], label: str | None, replace: bool) -> QueryOut:
        """Make the person in these gallery crops the query. Raises 404 for an unknown crop id."""
        images = []
        for crop_id in crop_ids:
            path = self.live.crops.path(crop_id)
            if path is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no crop {crop_id!r} (unknown or expired)")
            try:
                images.append(read_image(path))
            except ImageError as exc:
                raise HTTPException(status.HTTP_410_GONE, f"crop {crop_id!r} can no longer be read") from exc
        records = [self.live.crops.get(crop_id) for crop_id in crop_ids]
        # each view's camera: a sighting on another camera is judged on the cameras' pair estimate
        cameras = [None if r is None else r.camera_id for r in records]
        out = self._enroll(images, label, "crops", replace, cameras)
        # The gallery keeps the cards the query was picked from, however busy the cameras.
        picked = {r.card_id for r in records if r is not None and r.card_id}
        self.live.cards.pin(picked, replace)
        return out

    def upload(
        self, image: NDArray[np.uint8], label: str | None, replace: bool
    ) -> tuple[QueryOut, PersonPick]:
        """Make the person in a photo (BGR uint8) the query; a scene is cut to its largest person."""
        pick = pick_person(image, self.models.detector)
        return self._enroll([pick.image], label, "upload", replace), pick

    def _enroll(
        self,
        images: list[NDArray[np.uint8]],
        label: str | None,
        source: QuerySource,
        replace: bool,
        cameras: list[str | None] | None = None,
    ) -> QueryOut:
        record = self.queries.add(images, label, source, replace, cameras)
        self._queries_changed()
        return self.query_out(record)

    def clear_query(self) -> None:
        self.queries.clear()
        self.live.cards.pin(set(), replace=True)
        self._queries_changed()

    def _queries_changed(self) -> None:
        self.live.set_queries(self.queries.labels(), self.queries.views())
        self.hub.publish({"type": "query", "queries": [q.model_dump(mode="json") for q in self.query_list()]})

    def query_list(self) -> list[QueryOut]:
        return [self.query_out(r) for r in self.queries.records()]

    def query_out(self, r: QueryRecord) -> QueryOut:
        images = [crop_out(c) for c in map(self.live.crops.get, r.image_ids) if c is not None]
        return QueryOut(
            query_id=r.query_id, label=r.label, source=r.source, created_at=r.created_at, images=images
        )

    # -- threshold ------------------------------------------------------------
    def set_threshold(self, value: float) -> float:
        """Set and announce under one lock: two tabs' changes are announced in the order they were
        made, each with a version the pages use to ignore an older value (a late status answer)."""
        with self._threshold_lock:
            self.models.matcher.set_threshold(value)
            self._threshold_version += 1
            self.hub.publish({"type": "threshold", "threshold": value, "version": self._threshold_version})
        return value

    def threshold_state(self) -> tuple[float, int]:
        """The threshold in use and its version (counts the changes since the server started)."""
        with self._threshold_lock:
            return self.threshold, self._threshold_version

    @property
    def threshold(self) -> float:
        return self.models.matcher.settings.threshold
