"""The perception worker: leases cameras from the registry and runs them in one runner.

One ``Runner`` (``wait_for_cameras``) runs for the worker's whole life; the camera set changes
under it (``add_camera`` / ``remove_camera``) as leases are taken and lost, so the cameras a
worker keeps are never paused when another one comes or goes. A control loop, every
``poll_s`` and at once when a lease is reported lost:

- takes the camera registry (``reidcam-cameras``) as its watch last saw it (a change wakes the
  loop at once): a camera no longer there is taken out of the
  runner (its open sightings are closed and published) and its lease released; a camera whose
  settings changed is rebuilt with the new ones (the lease is kept);
- tries to lease registered cameras it does not hold, in id order, up to ``max_cameras``; a
  won lease gets a camera unit built as ``reidcam serve`` builds it (``build_camera``);
- a lease found lost on renewal (it lapsed, another worker holds it): the camera is taken out
  of the runner at once, since another worker may already run it.

The loop still runs every ``poll_s`` besides: it must retry leases held by others (a dead
worker's lease lapses by TTL without an event). The registry itself comes from one long-lived
watch (``RegistryWatch``: rebuilt on each new connection), not a read per pass. Next to the
sightings, a ``LiveFeedSink`` sends each camera's overlays and decisions (``cluster.feed_sink``)
and a ``HealthReporter`` puts ``status()`` under ``worker.<name>`` in ``reidcam-health`` every
2 s. A clean stop ends the runner (closing and
publishing every open sighting), releases the leases (the cameras move at once), deletes the
health key and flushes the publisher for a bounded time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from pydantic import ValidationError

from reidcam.broker.buffer import SightingPublisher
from reidcam.broker.connection import BrokerClient
from reidcam.broker.health import HEALTH_EVERY_S, HEALTH_TTL_S, HealthReporter, health_key
from reidcam.broker.leases import CameraLeases, CameraRegistry, LeaseKeeper, RegistryWatch
from reidcam.broker.settings import SettingsWatch, SharedSettings
from reidcam.cluster.feed_sink import FeedOptions, LiveFeedSink
from reidcam.cluster.sink import PublishingSink, SettingsApplier
from reidcam.config import CameraConfig
from reidcam.config.loader import substitute_env
from reidcam.core.errors import ReidcamError
from reidcam.core.events import FanOutSink
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.camera_set import CameraSetError
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.step import Models

log = logging.getLogger(__name__)

BuildCamera = Callable[[CameraConfig], CameraUnit]


@dataclass(frozen=True)
class WorkerOptions:
    """``name``: the lease holder and the ``worker`` of its sightings (unique per process);
    ``max_cameras``: None = as many as are registered; ``poll_s``: registry and lease retry
    period (well under the lease TTL); ``flush_timeout_s``: how long a clean stop waits for the
    broker to acknowledge queued sightings; ``remove_timeout_s``: how long taking a camera out
    waits for its sightings to be closed."""

    name: str
    max_cameras: int | None = None
    poll_s: float = 1.0
    flush_timeout_s: float = 5.0
    remove_timeout_s: float = 10.0
    prefetch_frames: int = 2
    pipelined: bool = True
    feed: FeedOptions = field(default_factory=FeedOptions)
    health_every_s: float = HEALTH_EVERY_S
    health_ttl_s: float = HEALTH_TTL_S
    sighting_crops: bool = True  # each closed sighting carries its best crop (People's pictures)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a worker needs a name")
        if self.max_cameras is not None and self.max_cameras < 1:
            raise ValueError(f"max_cameras must be at least 1, got {self.max_cameras}")
        if self.poll_s <= 0:
            raise ValueError("poll_s must be > 0")
        if self.health_every_s <= 0 or self.health_ttl_s <= self.health_every_s:
            raise ValueError("health_every_s must be > 0 and health_ttl_s longer")


@dataclass
class WorkerStatus:
    """What the worker holds and has sent (no secret in any field)."""

    name: str
    cameras: list[str]
    published: int
    skipped: int
    publisher: dict[str, object]
    broker: dict[str, object]
    refused_cameras: dict[str, str] = field(default_factory=dict)
    feed: dict[str, object] = field(default_factory=dict)
    max_cameras: int | None = None
    at: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def registry_camera(camera_id: str, value: dict[str, object]) -> CameraConfig:
    """A registry entry as a camera config: ``${ENV}`` expanded here, on the worker.

    Raises:
        ReidcamError: the entry is not a valid camera, names another id, or an unset variable.
    """
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise ReidcamError(f"registry camera {camera_id!r}: expected a JSON object, got {kind}")
    if value.get("id", camera_id) != camera_id:
        raise ReidcamError(f"registry camera {camera_id!r} names another id {value['id']!r}")
    data = substitute_env({**value, "id": camera_id})
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ReidcamError(f"registry camera {camera_id!r} is not valid: {msg}") from exc


class Worker:
    """One perception worker on a connected ``BrokerClient`` (see the module docstring).

    ``models``: the shared detector, embedder, gallery and matcher (``pipeline.build.build_models``
    or test fakes); ``build_camera``: a camera config -> its unit, not opened
    (``pipeline.build.build_camera`` with the worker's config).
    """

    def __init__(
        self, client: BrokerClient, models: Models, build_camera: BuildCamera, options: WorkerOptions
    ) -> None:
        self.client = client
        self.models = models
        self.options = options
        self._build_camera = build_camera
        self._default_threshold = models.matcher.settings.threshold
        self._running: dict[str, dict[str, object]] = {}  # camera id -> its registry value
        self._refused: dict[str, str] = {}  # camera id -> why its registry value was refused
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.runner: Runner | None = None
        self._publisher: SightingPublisher | None = None
        self._sink: PublishingSink | None = None
        self.feed: LiveFeedSink | None = None
        self._health: HealthReporter | None = None
        self._keeper: LeaseKeeper | None = None
        self._registry: CameraRegistry | None = None
        self._registry_watch: RegistryWatch | None = None
        self._watch: SettingsWatch | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Worker:
        """Open the buckets, start the publisher, the runner, lease renewal and the settings watch."""
        name = self.options.name
        self._registry = CameraRegistry(self.client).open()
        self._registry_watch = self._registry.follow(self.wake)  # a change: the next pass at once
        leases = CameraLeases(self.client, name).open()
        self._publisher = SightingPublisher(self.client).start()
        self._sink = PublishingSink(self._publisher, name, with_crops=self.options.sighting_crops)
        self.feed = LiveFeedSink(self.client, name, self.options.feed, self._camera_counters).start()
        self.runner = Runner(
            [],
            self.models,
            FanOutSink([self._sink, self.feed]),
            prefetch_frames=self.options.prefetch_frames,
            pipelined=self.options.pipelined,
            wait_for_cameras=True,
        )
        self.runner.start()
        self._keeper = LeaseKeeper(leases, self._lease_lost).start()
        applier = SettingsApplier(
            self.models.matcher, self.models.gallery, self.models.embedder.model_id, self._default_threshold
        )
        self._watch = SharedSettings(self.client).open().watch(applier)
        opts = self.options
        self._health = HealthReporter(
            self.client, health_key("worker", name), lambda: self.status().as_dict(), opts.health_every_s,
            opts.health_ttl_s,
        ).start()  # fmt: skip
        log.info("worker %s started (at most %s cameras)", name, self.options.max_cameras or "any number of")
        return self

    def run(self, stop: threading.Event) -> None:
        """The control loop, until ``stop`` is set.

        Raises:
            ReidcamError: the runner stopped by an error (the caller then stops the worker).
        """
        while not stop.is_set():
            self.sync()
            runner = self.runner
            if runner is not None and runner.error is not None:
                raise ReidcamError(f"worker {self.options.name}: the runner stopped: {runner.error}")
            self._wake.wait(self.options.poll_s)
            self._wake.clear()

    def wake(self) -> None:
        """Run the control loop's next pass now (a stop, a lost lease)."""
        self._wake.set()

    def stop(self) -> None:
        """Clean stop: end the runner (open sightings closed and published), release the leases,
        flush the publisher for at most ``flush_timeout_s``. Each step runs even if one fails."""
        watch, runner, keeper, feed, health = self._watch, self.runner, self._keeper, self.feed, self._health
        registry = self._registry_watch
        timeout_s = self.options.remove_timeout_s
        steps: list[tuple[str, Callable[[], None]]] = [
            ("settings watch", watch.stop if watch is not None else _nothing),
            ("registry watch", registry.stop if registry is not None else _nothing),
            ("runner", (lambda: runner.stop(timeout_s)) if runner is not None else _nothing),
            ("leases", keeper.stop if keeper is not None else _nothing),
            ("live feed", feed.stop if feed is not None else _nothing),
            ("health key", health.stop if health is not None else _nothing),
            ("publisher", self._close_publisher),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                why = self.client.scrub(str(exc))
                log.warning("worker %s: stopping the %s: %s", self.options.name, what, why)
        with self._lock:
            self._running.clear()
        status = self.status()
        log.info("worker %s stopped: %d sighting(s) published, %s", status.name, status.published,
                 status.publisher)  # fmt: skip

    def _close_publisher(self) -> None:
        if self._publisher is None:
            return
        final = self._publisher.close(self.options.flush_timeout_s)
        if final.queued:
            log.warning(
                "worker %s: %d closed sighting(s) not acknowledged by the broker within %.1f s: lost",
                self.options.name,
                final.queued,
                self.options.flush_timeout_s,
            )

    # -- state -------------------------------------------------------------------------------

    def cameras(self) -> list[str]:
        """The cameras this worker runs now."""
        with self._lock:
            return sorted(self._running)

    def status(self) -> WorkerStatus:
        counts = self._sink.counts if self._sink is not None else None
        return WorkerStatus(
            name=self.options.name,
            cameras=self.cameras(),
            published=counts.published if counts else 0,
            skipped=counts.skipped if counts else 0,
            publisher=self._publisher.status().as_dict() if self._publisher else {},
            broker=self.client.status().as_dict(),
            refused_cameras=dict(self._refused),
            feed=self.feed.snapshot() if self.feed is not None else {},
            max_cameras=self.options.max_cameras,
            at=time.time(),
        )

    def _camera_counters(self, camera_id: str) -> tuple[int, int] | None:
        """(frames processed, errors) of a running camera, for its live feed."""
        runner = self.runner
        for unit in runner.cameras if runner is not None else ():
            if unit.camera_id == camera_id:
                return unit.frames_processed, unit.errors
        return None

    # -- the control loop's pass -------------------------------------------------------------

    def sync(self) -> None:
        """One pass: drop lost cameras, follow the registry, lease what there is room for."""
        for camera_id in self._take_lost():
            self._drop(camera_id, "its lease was lost", release=False)
        try:
            registry = self._read_registry()
        except Exception as exc:  # broker away: keep running what we hold; leases tell later
            why = self.client.scrub(str(exc))
            log.debug("worker %s: reading the camera registry: %s", self.options.name, why)
            return
        for camera_id in self.cameras():
            if camera_id not in registry:
                self._drop(camera_id, "it was removed from the registry", release=True)
            elif self._running.get(camera_id) != registry[camera_id]:
                self._drop(camera_id, "its settings changed", release=False)
        self._lease_more(registry)

    def _read_registry(self) -> dict[str, dict[str, object]]:
        assert self._registry_watch is not None, "start() the worker first"
        return {cid: v for cid, v in self._registry_watch.cameras().items() if not _disabled(v)}

    def _lease_more(self, registry: dict[str, dict[str, object]]) -> None:
        assert self._keeper is not None
        limit = self.options.max_cameras
        for camera_id in sorted(registry):
            if limit is not None and len(self.cameras()) >= limit:
                return
            if camera_id in self._running:
                continue
            cam = self._camera_config(camera_id, registry[camera_id])
            if cam is None or not self._keeper.take(camera_id):
                continue
            self._add(cam, registry[camera_id])

    def _camera_config(self, camera_id: str, value: dict[str, object]) -> CameraConfig | None:
        """The registry entry as a config; a bad one is logged once per value and skipped."""
        try:
            cam = registry_camera(camera_id, value)
        except ReidcamError as exc:
            why = str(exc)
            if self._refused.get(camera_id) != why:
                log.error("worker %s: %s: not run", self.options.name, why)
            self._refused[camera_id] = why
            return None
        self._refused.pop(camera_id, None)
        return cam

    def _add(self, cam: CameraConfig, value: dict[str, object]) -> None:
        assert self.runner is not None and self._keeper is not None
        try:
            unit = self._build_camera(cam)
            self.runner.add_camera(unit)
        except CameraSetError as exc:  # still being removed: keep the lease, retry next pass
            log.info("worker %s: camera %s not added yet: %s", self.options.name, cam.id, exc)
            return
        except Exception as exc:
            log.error("worker %s: camera %s cannot be built, lease released: %s", self.options.name,
                      cam.id, exc)  # fmt: skip
            self._keeper.release(cam.id)
            return
        with self._lock:
            self._running[cam.id] = value
        log.info("worker %s: running camera %s", self.options.name, cam.id)

    def _drop(self, camera_id: str, why: str, release: bool) -> None:
        """Take a camera out of the runner (its sightings are closed and published), then
        give its lease back when ``release``."""
        assert self.runner is not None and self._keeper is not None
        with self._lock:
            was_running = self._running.pop(camera_id, None) is not None
        if was_running:
            try:
                self.runner.remove_camera(camera_id, self.options.remove_timeout_s)
            except CameraSetError as exc:
                log.warning("worker %s: camera %s: %s", self.options.name, camera_id, exc)
            log.info("worker %s: let go of camera %s: %s", self.options.name, camera_id, why)
            if self.feed is not None:
                self.feed.forget(camera_id)
        if release:
            self._keeper.release(camera_id)

    def _lease_lost(self, camera_id: str, reason: str) -> None:
        """(On the broker loop.) Hand the camera to the control loop and wake it."""
        with self._lock:
            self._lost.add(camera_id)
        self._wake.set()

    def _take_lost(self) -> list[str]:
        with self._lock:
            lost, self._lost = sorted(self._lost), set()
        return lost


def _disabled(value: object) -> bool:
    return isinstance(value, dict) and value.get("enabled") is False


def _nothing() -> None:
    """A stop step for a part that was never started."""
