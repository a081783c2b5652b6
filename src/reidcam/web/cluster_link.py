"""The web server's end of the broker in the distributed mode (``reidcam serve --broker``).

What the page shows comes from the workers and the memory service, what the page changes goes
to the shared buckets:

- the camera registry (``reidcam-cameras``) is followed by a watch (a change arrives at once);
  the page's camera form writes it and waits (briefly) for the write to come back;
- the workers' feeds (``reidcam.cameras.>``: per-frame boxes and decisions, crops, status) and
  the memory service's assignments (``reidcam.assignments.>``) arrive on the broker loop and are
  queued, bounded, for one thread that turns them into the live state (``RemoteFrames``): the
  broker loop never decodes a JPEG or writes a crop;
- while somebody watches a camera picture (``LiveState.frames.watchers``), a ``watch`` ping per
  camera every ``WATCH_EVERY_S`` asks its worker for the pictures;
- the threshold and the query people are written to ``reidcam-settings`` (the query people by
  compare-and-set, merged with another server's change when it came first); what another web
  server wrote arrives through a watch, ordered by the bucket's revision.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from reidcam.broker.connection import BrokerClient
from reidcam.broker.errors import BrokerError, WireFormatError
from reidcam.broker.feed import (
    CAMERA_SUBJECTS,
    WATCH_EVERY_S,
    decode_frame,
    decode_status,
    parse_subject,
    watch_subject,
)
from reidcam.broker.leases import CameraRegistry, RegistryWatch
from reidcam.broker.settings import QUERIES, THRESHOLD, QueryPerson, SettingsWatch, SharedSettings
from reidcam.cluster.memory_service import ASSIGNMENT_PREFIX
from reidcam.web.remote_feed import RemoteFrames

log = logging.getLogger(__name__)

#: Feed messages waiting for the feed thread; past it the newest are dropped (live-only data).
MAX_QUEUED = 2000
#: How long adding or removing a camera waits for the registry watch to show the write.
WRITE_SEEN_S = 2.0
#: How often the watch thread looks whether somebody watches (pings go every WATCH_EVERY_S).
WATCH_CHECK_S = 0.25


class ClusterLink:
    """Registry, feeds, settings and watch pings of one web server (see the module docstring).

    ``on_cameras(ids)``: the registry's camera set changed (called on the link's thread);
    ``on_threshold(value)``: another server changed the threshold (on the broker loop);
    ``on_queries(people)``: another server changed the query people (on the broker loop);
    ``on_assignment(event)``: a sighting landed in an identity (on the feed thread);
    ``on_tick()``: every poll period, on the link's thread (retries of what the broker refused).
    """

    def __init__(
        self,
        client: BrokerClient,
        remote: RemoteFrames,
        *,
        on_cameras: Callable[[list[str]], None],
        on_threshold: Callable[[float | None], None],
        on_queries: Callable[[tuple[QueryPerson, ...]], None],
        on_assignment: Callable[[dict[str, Any]], None],
        watched: Callable[[], bool],
        on_tick: Callable[[], None] = lambda: None,
        poll_s: float = 1.0,
    ) -> None:
        self.client = client
        self.remote = remote
        self._on_cameras = on_cameras
        self._on_threshold = on_threshold
        self._on_queries = on_queries
        self._on_assignment = on_assignment
        self._watched = watched
        self._on_tick = on_tick
        self.poll_s = poll_s
        self._registry: CameraRegistry | None = None
        self._registry_watch: RegistryWatch | None = None
        self._registry_moved = threading.Event()
        self._settings: SharedSettings | None = None
        self._watch: SettingsWatch | None = None
        self._subs: list[Any] = []
        self._cameras: dict[str, dict[str, object]] = {}
        self._lock = threading.Lock()
        self._threshold_rev = 0
        self._queries_rev = 0
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(MAX_QUEUED)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.dropped = 0
        self.bad_messages = 0
        self._last_ping = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ClusterLink:
        self._registry = CameraRegistry(self.client).open()
        self._registry_watch = self._registry.follow(self._registry_moved.set)
        self._settings = SharedSettings(self.client).open()
        # the page starts with the registry when the broker answers within a moment
        self._registry_watch.wait_until(lambda cameras: True, self.client.config.request_timeout_s)
        with contextlib.suppress(BrokerError):
            self.refresh()
        for subject in (CAMERA_SUBJECTS, f"{ASSIGNMENT_PREFIX}.>"):
            self._subs.append(self.client.call(self.client.nc.subscribe(subject, cb=self._enqueue)))
        self._watch = self._settings.watch_revisions(self._setting_changed)
        threads = (
            ("reidcam-feed", self._feed_loop),
            ("reidcam-registry", self._poll_loop),
            ("reidcam-watch", self._watch_loop),
        )
        for name, target in threads:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._registry_moved.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._watch is not None:
            self._watch.stop()
        if self._registry_watch is not None:
            self._registry_watch.stop()
        for sub in self._subs:
            try:
                self.client.call(sub.unsubscribe())
            except Exception as exc:  # the broker is away: the connection closes anyway
                log.debug("unsubscribing: %s", self.client.scrub(str(exc)))
        for t in self._threads:
            t.join(5.0)

    # -- registry ----------------------------------------------------------------------------
    def cameras(self) -> dict[str, dict[str, object]]:
        """The registry as last seen (camera id -> its settings)."""
        with self._lock:
            return dict(self._cameras)

    def refresh(self) -> bool:
        """Take the watch's registry; True when the camera set or an entry changed.

        Raises:
            BrokerError: the registry was never read completely yet.
        """
        assert self._registry_watch is not None, "start() the link first"
        now = self._registry_watch.cameras()
        with self._lock:
            changed, self._cameras = now != self._cameras, now
        return changed

    def put_camera(self, camera_id: str, value: dict[str, object]) -> None:
        assert self._registry is not None and self._registry_watch is not None
        self._registry.put(camera_id, value)
        self._registry_watch.wait_until(lambda cams: cams.get(camera_id) == value, WRITE_SEEN_S)
        self._registry_changed(force=True)

    def remove_camera(self, camera_id: str) -> None:
        assert self._registry is not None and self._registry_watch is not None
        self._registry.remove(camera_id)
        self._registry_watch.wait_until(lambda cams: camera_id not in cams, WRITE_SEEN_S)
        self._registry_changed(force=True)

    def _registry_changed(self, force: bool = False) -> None:
        before = set(self.cameras())
        if self.refresh() or force:
            ids = sorted(self.cameras())
            for gone in before - set(ids):
                self.remote.forget(gone)
            self._on_cameras(ids)

    def _poll_loop(self) -> None:
        """A registry change at once (the watch sets the event), and every ``poll_s`` the
        retries of what the broker refused (``on_tick``)."""
        while not self._stop.is_set():
            self._registry_moved.wait(self.poll_s)
            self._registry_moved.clear()
            if self._stop.is_set():
                return
            try:
                self._registry_changed()
            except Exception as exc:  # never read yet: the watch brings it when the broker answers
                log.debug("the camera registry: %s", self.client.scrub(str(exc)))
            self._on_tick()

    def _watch_loop(self) -> None:
        """Its own thread: a registry read that takes long must not hold back the pictures of a
        page just opened (the first ping goes within ``WATCH_CHECK_S`` of the first viewer)."""
        while not self._stop.wait(WATCH_CHECK_S):
            self._ping_watched()

    def _ping_watched(self) -> None:
        """Ask the workers for pictures while somebody watches (a ping per camera)."""
        now = time.monotonic()
        if not self._watched() or now - self._last_ping < WATCH_EVERY_S:
            return
        self._last_ping = now
        for camera_id in self.cameras():
            if not self.ask_picture(camera_id):
                return  # the broker is away: the next period tries again

    def ask_picture(self, camera_id: str) -> bool:
        """One watch ping for one camera: its worker sends pictures a while. False when the
        broker did not take it."""
        try:
            self.client.call(self.client.nc.publish(watch_subject(camera_id), b"{}"))
        except Exception as exc:
            log.debug("watch ping for %s: %s", camera_id, self.client.scrub(str(exc)))
            return False
        return True

    # -- shared settings ---------------------------------------------------------------------
    def set_threshold(self, value: float) -> None:
        assert self._settings is not None
        rev = self._settings.set_threshold(value)
        with self._lock:
            self._threshold_rev = max(self._threshold_rev, rev)

    def queries_at(self) -> tuple[tuple[QueryPerson, ...], int]:
        """The shared query people and their revision (0: never set)."""
        assert self._settings is not None
        return self._settings.queries_at()

    def replace_queries(self, people: list[QueryPerson], revision: int) -> None:
        """Compare-and-set (``SharedSettings.replace_queries``); the watch then skips our own."""
        assert self._settings is not None
        rev = self._settings.replace_queries(people, revision)
        with self._lock:
            self._queries_rev = max(self._queries_rev, rev)

    def shared_queries(self) -> tuple[QueryPerson, ...] | None:
        """The query people in the shared settings now (None: never set)."""
        assert self._settings is not None
        value = self._settings.get(QUERIES)
        return None if value is None else tuple(value)  # type: ignore[arg-type]

    def shared_threshold(self) -> float | None:
        assert self._settings is not None
        value = self._settings.get(THRESHOLD)
        return None if value is None else float(value)  # type: ignore[arg-type]

    def _setting_changed(self, key: str, value: object | None, revision: int) -> None:
        if key == QUERIES:
            with self._lock:
                if revision <= self._queries_rev:  # ours, or older than ours
                    return
                self._queries_rev = revision
            self._on_queries(() if value is None else tuple(value))  # type: ignore[arg-type]
            return
        if key != THRESHOLD:
            return
        with self._lock:
            if revision <= self._threshold_rev:  # ours (already applied) or older than ours
                return
            self._threshold_rev = revision
        self._on_threshold(None if value is None else float(value))  # type: ignore[arg-type]

    # -- feeds -------------------------------------------------------------------------------
    async def _enqueue(self, msg: Any) -> None:
        """(Broker loop.) Hand a feed message to the feed thread; never wait."""
        try:
            self._queue.put_nowait((msg.subject, msg.data))
        except queue.Full:
            self.dropped += 1

    def _feed_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stop.is_set():
                return
            subject, data = item
            try:
                self._handle(subject, data)
            except WireFormatError as exc:
                self.bad_messages += 1
                log.warning("feed message on %s refused: %s", subject, exc)
            except Exception:
                self.bad_messages += 1
                log.exception("feed message on %s failed", subject)

    def _handle(self, subject: str, data: bytes) -> None:
        if subject.startswith(ASSIGNMENT_PREFIX + "."):
            self._on_assignment(json.loads(data))
            return
        camera_id, kind = parse_subject(subject)
        if camera_id not in self.cameras() and not self._learn(camera_id):
            return  # removed meanwhile, or a camera of another deployment on this broker
        if kind == "frame":
            self.remote.on_frame(decode_frame(data))
        elif kind == "status":
            self.remote.on_status(decode_status(data))

    def _learn(self, camera_id: str) -> bool:
        """A feed from a camera the page does not list yet: if the registry watch already has
        it (its change is on the way to the page), take it now, so its first frames are kept."""
        try:
            known = camera_id in self._registry_watch.cameras() if self._registry_watch else False
            if known:
                self._registry_changed()
        except Exception as exc:  # never read yet: the watch brings it when the broker answers
            log.debug("the camera registry: %s", self.client.scrub(str(exc)))
            return False
        return known

    def status(self) -> dict[str, object]:
        """The broker connection and the feed's counters (no secret in any of it)."""
        return {
            **self.client.status().as_dict(),
            "feed_dropped": self.dropped,
            "feed_bad": self.bad_messages + self.remote.bad_blobs,
            "broker": self.client.config.describe(),
        }
