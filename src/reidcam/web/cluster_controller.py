"""The page's verbs in the distributed mode: the same page, with the cameras on the workers.

Detection does not run in the web server: workers run the cameras of the registry and send
their feeds (``ClusterLink``). So here:

- the cameras are the registry's; adding or removing one writes the registry (a worker takes a
  new camera within its poll period; a removed camera's worker closes its sightings and lets
  go); a camera shows the state its worker reported, and "waiting for a worker" until one
  takes it;
- Start is a no-op and Stop is refused: cameras run as long as they are registered and a
  worker runs; to stop one, remove it (or disable it in the registry);
- the threshold and the query people go to the shared settings, which every worker applies to
  its next frame; the web keeps them locally too (the slider, the labels, search by photo).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from fastapi import HTTPException, status

from reidcam.broker.errors import BrokerError, SettingChangedError
from reidcam.broker.feed import WATCH_FOR_S
from reidcam.broker.health import read_health
from reidcam.broker.settings import QueryPerson, merge_queries, same_person, unusable
from reidcam.broker.wire import CROP_SUBJECT
from reidcam.capture.urls import describe_source, redact_text
from reidcam.cluster.registry import registry_entry
from reidcam.config import AppConfig, CameraConfig
from reidcam.core.status import SourceState
from reidcam.core.types import Embeddings, l2_normalize
from reidcam.pipeline.camera_set import DuplicateCamera, UnknownCamera
from reidcam.web.cluster_health import assess
from reidcam.web.cluster_link import ClusterLink
from reidcam.web.controller import Controller
from reidcam.web.hub import EventHub
from reidcam.web.live_queries import SharedQuery
from reidcam.web.remote_feed import RemoteFrames
from reidcam.web.schemas import CameraOut, ClusterOut, RunnerOut, seen_out
from reidcam.web.services import Services
from reidcam.web.state import LiveState

log = logging.getLogger(__name__)

#: A camera whose worker sent nothing for this long is shown stalled (its worker may be gone;
#: another takes it once the lease lapses).
FEED_STALE_S = 15.0
#: How long a web server waits for a memory service's crop, and how long it does not ask again
#: for one none had (a page of People would otherwise wait that long per picture).
CROP_WAIT_S = 1.5
CROP_MISS_S = 60.0
CROP_MISSES_KEPT = 4096
#: How often a query change is merged and written again when other servers keep writing first.
QUERY_WRITE_TRIES = 5
#: How long a snapshot request waits for the worker's picture when none came lately.
SNAPSHOT_WAIT_S = 3.0


class ClusterController(Controller):
    """``Controller`` over the broker (see the module docstring)."""

    def __init__(self, config: AppConfig, services: Services, live: LiveState, hub: EventHub) -> None:
        super().__init__(config, services, live, hub)
        if services.broker is None:
            raise ValueError("the distributed mode needs a connected broker client")
        self.remote = RemoteFrames(live)
        self.link = ClusterLink(
            services.broker,
            self.remote,
            on_cameras=lambda ids: self._cameras_changed(),
            on_threshold=self._shared_threshold,
            on_queries=self._adopt_queries,
            on_assignment=self._assignment,
            watched=lambda: self.live.frames.watchers > 0,
            on_tick=self._share_queries,
        )
        self._camera_configs = ()
        # Query ids of this server cannot collide with another server's in the shared settings.
        self.queries.id_prefix = f"q{secrets.token_hex(3)}-"
        self._queries_unshared = False
        self._share_lock = threading.Lock()
        self._base_lock = threading.Lock()
        self._shared_base: dict[str, QueryPerson] = {}  # the shared query people as last known
        self._adoption_missed = False
        self._crop_lock = threading.Lock()
        self._crop_misses: dict[str, float] = {}  # stored crop path -> when nobody had it

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Start following the broker; the shared threshold, if set, becomes this server's."""
        self.link.start()
        shared = self.link.shared_threshold()
        if shared is not None:
            self._apply_threshold(shared)
        people = self.link.shared_queries()
        if people:  # the query the workers look for now (set by another server, or before a restart)
            self._adopt_queries(people)

    def shutdown(self) -> None:
        self.link.stop()

    def start(self) -> RunnerOut:
        return self._publish_runner()

    def stop(self) -> RunnerOut:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "in the distributed mode the workers run the cameras: remove a camera to stop it",
        )

    @property
    def running(self) -> bool:
        return True

    def runner_state(self) -> RunnerOut:
        st = self.services.broker.status() if self.services.broker is not None else None
        error = None
        if st is not None and st.state != "connected":
            away = f" for {st.disconnected_for_s:.0f} s" if st.disconnected_for_s else ""
            error = f"broker {st.state}{away}: {st.last_error or 'no answer'}"
        return RunnerOut(running=True, stopping=False, error=error)

    def cluster(self) -> ClusterOut:
        """Read on demand (each read lists the health bucket): the processes whose health key
        has not lapsed, i.e. that reported within the last few seconds."""
        try:
            health = read_health(self.link.client)
        except Exception as exc:  # broker away or slow: the caller answers 503
            raise BrokerError(self.link.client.scrub(str(exc) or type(exc).__name__)) from exc
        workers = {k.split(".", 1)[1]: v for k, v in health.items() if k.startswith("worker.")}
        memory = {k.split(".", 1)[1]: v for k, v in health.items() if k.startswith("memory.")}
        seen = assess(workers, memory, self.link.cameras())
        return ClusterOut(broker=self.link.status(), workers=workers, memory=memory, summary=seen.summary,
                          problems=seen.problems)  # fmt: skip

    def stored_crop(self, relpath: str) -> bytes | None:
        """Asked of the memory services (the one that stored it answers); a crop none of them
        had is not asked for again for ``CROP_MISS_S``, so a page of them does not wait each time."""
        now = time.monotonic()
        with self._crop_lock:
            missed = self._crop_misses.get(relpath)
            if missed is not None and now - missed < CROP_MISS_S:
                return None
        client = self.link.client
        try:
            msg = client.call(client.nc.request(CROP_SUBJECT, relpath.encode(), timeout=CROP_WAIT_S),
                              timeout=CROP_WAIT_S + 1.0)  # fmt: skip
            data = bytes(msg.data) or None
        except Exception as exc:  # nobody has it, or the broker is away
            log.debug("crop %s: %s", relpath, client.scrub(str(exc) or type(exc).__name__))
            data = None
        if data is None:
            with self._crop_lock:
                self._crop_misses[relpath] = now
                while len(self._crop_misses) > CROP_MISSES_KEPT:
                    self._crop_misses.pop(next(iter(self._crop_misses)))
        return data

    def snapshot(self, camera_id: str) -> tuple[int, bytes] | None:
        """A picture the worker sent lately; else one is asked for and awaited for a moment (a
        worker sends pictures only while somebody watches, so an old one would be stale)."""
        if self.remote.picture_age_s(camera_id) <= WATCH_FOR_S:
            return self.live.jpeg(camera_id)
        self.link.ask_picture(camera_id)
        deadline = time.monotonic() + SNAPSHOT_WAIT_S
        while time.monotonic() < deadline:
            if self.remote.picture_age_s(camera_id) <= WATCH_FOR_S:
                return self.live.jpeg(camera_id)
            time.sleep(0.05)
        return None

    # -- cameras -----------------------------------------------------------------------------
    def camera_ids(self) -> list[str]:
        return sorted(self.link.cameras())

    def has_camera(self, camera_id: str) -> bool:
        return camera_id in self.link.cameras()

    def camera_failed(self, camera_id: str) -> bool:
        cam = self.remote.camera(camera_id)
        return cam is not None and cam.status is not None and cam.status.state == SourceState.FAILED

    def cameras(self) -> list[CameraOut]:
        return [self._remote_camera(cid, value) for cid, value in sorted(self.link.cameras().items())]

    def camera(self, camera_id: str) -> CameraOut | None:
        value = self.link.cameras().get(camera_id)
        return None if value is None else self._remote_camera(camera_id, value)

    def add_camera(self, cam: CameraConfig) -> CameraOut:
        """Register the camera; a worker takes it within its poll period.

        Raises:
            DuplicateCamera: the id is registered. ConfigError: a password in the source.
        """
        if cam.id in self.link.cameras():
            raise DuplicateCamera(f"camera {cam.id!r} already exists; remove it first")
        fields = cam.model_dump(mode="json", exclude_defaults=True)
        fields["source"] = cam.source
        value = registry_entry(cam.id, fields)
        self._broker(lambda: self.link.put_camera(cam.id, value))
        log.info("camera %s registered (%s)", cam.id, describe_source(cam.source))
        return self.camera(cam.id) or self._remote_camera(cam.id, value)

    def remove_camera(self, camera_id: str) -> None:
        if camera_id not in self.link.cameras():
            raise UnknownCamera(f"no camera {camera_id!r}; see GET /api/cameras")
        self._broker(lambda: self.link.remove_camera(camera_id))
        log.info("camera %s removed from the registry", camera_id)

    def _remote_camera(self, camera_id: str, value: dict[str, object]) -> CameraOut:
        cam = self.remote.camera(camera_id)
        st = None if cam is None else cam.status
        source = value.get("source", "")
        age = None if cam is None or not cam.last_frame_at else time.monotonic() - cam.last_frame_at
        state, error = SourceState.STARTING.value, "waiting for a worker to take it"
        if st is not None:
            state, error = st.state.value, st.last_error or ""
        if cam is not None and age is not None and age > FEED_STALE_S and state == SourceState.LIVE.value:
            state, error = SourceState.STALLED.value, f"no word from worker {cam.worker} for {age:.0f} s"
        return CameraOut(
            camera_id=camera_id,
            name=str(value.get("name") or camera_id),
            description=describe_source(source if isinstance(source, (int, str)) else str(source)),
            state=state,
            fps=0.0 if cam is None else round(cam.fps, 2),
            frames_read=0 if st is None else st.frames_read,
            frames_processed=0 if cam is None else cam.frames_processed,
            errors=0 if cam is None else cam.errors,
            reconnects=0 if st is None else st.reconnects,
            last_frame_age_s=None if age is None else round(age, 2),
            last_error=redact_text(error) if error else None,
            last_match=seen_out(self.live.matches.seen(camera_id)),
            stream_url=f"/api/cameras/{camera_id}/stream.mjpg",
            snapshot_url=f"/api/cameras/{camera_id}/snapshot.jpg",
            worker=None if cam is None or not cam.worker else cam.worker,
        )

    # -- threshold and queries ---------------------------------------------------------------
    def set_threshold(self, value: float) -> float:
        """Apply here, then share: every worker applies it to its next frame."""
        super().set_threshold(value)
        self._broker(lambda: self.link.set_threshold(value))
        return value

    def _shared_threshold(self, value: float | None) -> None:
        """(Broker loop.) Another web server changed the threshold (None: deleted, the default)."""
        self._apply_threshold(self.default_threshold if value is None else value)

    def _apply_threshold(self, value: float) -> None:
        if value != self.threshold:
            super().set_threshold(value)

    def _queries_changed(self) -> None:
        super()._queries_changed()
        with self._base_lock:
            self._queries_unshared = True
        self._share_queries()

    def _share_queries(self) -> None:
        """Write the query people to the shared settings; while the broker is away the link's
        poll tries again every period (the page keeps the query meanwhile)."""
        if not self._queries_unshared:
            return
        with self._share_lock:  # the request thread and the link's poll thread
            try:
                self._write_queries()
            except Exception as exc:
                log.error("the query people could not be shared with the workers yet: %s",
                          self.link.client.scrub(str(exc)))  # fmt: skip
                return
            with self._base_lock:
                self._queries_unshared = False
                missed, self._adoption_missed = self._adoption_missed, False
        if missed:  # another server wrote after this one, while this one was still writing
            self._show_shared(self.link.queries_at()[0])

    def _write_queries(self) -> None:
        """Compare-and-set this server's change over the shared query people; when another
        server wrote first, fold this change into theirs (``merge_queries``) and try again, then
        show the merged set here too."""
        labels = self.queries.labels()
        ours = {
            ident.query_id: QueryPerson(
                ident.query_id, ident.model_id, ident.vectors, labels.get(ident.query_id, ""),
                self.queries.image_jpegs(ident.query_id),
            )
            for ident in self.models.gallery.identities()
        }  # fmt: skip
        for _ in range(QUERY_WRITE_TRIES):
            theirs, revision = self.link.queries_at()
            with self._base_lock:
                base = dict(self._shared_base)
            merged = merge_queries(base, ours, {p.name: p for p in theirs})
            try:
                self.link.replace_queries(list(merged.values()), revision)
            except SettingChangedError:
                continue
            with self._base_lock:
                self._shared_base = merged
            if merged.keys() != ours.keys() or any(not same_person(merged[k], ours[k]) for k in ours):
                self._show_shared(tuple(merged.values()))
            return
        raise SettingChangedError(f"the shared query people changed {QUERY_WRITE_TRIES} times while writing")

    def _adopt_queries(self, people: tuple[QueryPerson, ...]) -> None:
        """(Broker loop.) The shared query people changed (another web server): they become this
        server's, so every page behind any server shows the same query and its matches. A change
        of this server not shared yet is kept: the next share merges the two."""
        with self._base_lock:
            self._shared_base = {p.name: p for p in people}
            if self._queries_unshared:
                self._adoption_missed = True  # shown once this server's own write is done
                return
        self._show_shared(people)

    def _show_shared(self, people: tuple[QueryPerson, ...]) -> None:
        entries = []
        for p in people:
            why = unusable(p, self.models.embedder.model_id)
            if why is not None:  # as on the workers
                log.error("%s", why)
                continue
            entries.append(
                SharedQuery(p.name, p.label, Embeddings(l2_normalize(p.vectors), p.model_id), p.images)
            )
        if self.queries.adopt(entries):
            if not entries:
                self.live.cards.pin(set(), replace=True)
            Controller._queries_changed(self)  # shown here, not shared back

    @property
    def queries_shared(self) -> bool:
        """False while a query change has not reached the shared settings (broker away)."""
        return not self._queries_unshared

    def _assignment(self, event: dict[str, Any]) -> None:
        """A sighting the memory service stored: the pages' People list learns it at once."""
        self.hub.publish(
            {
                "type": "sighting",
                "sighting_id": event.get("sighting_id"),
                "identity_id": event.get("identity_id"),
                "camera_id": event.get("camera_id"),
                "verdict": event.get("verdict"),
            }
        )

    def _broker(self, write: Any) -> None:
        """A write to the broker; away, the page gets a clear 503 and the write can be retried."""
        try:
            write()
        except Exception as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the broker did not take it: {self.link.client.scrub(str(exc))}",
            ) from exc
