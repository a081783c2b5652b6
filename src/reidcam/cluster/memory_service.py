"""The identity memory service (``reidcam memory``): the one writer of the identity memory.

Workers publish closed sightings to the JetStream work queue ``REIDCAM_SIGHTINGS``; this
service reads them through the durable pull consumer ``reidcam-memory`` and, per sighting:

1. decodes it, refusing one embedded by another ReID model (terminated, one error line,
   counted in ``stats.rejected``: embeddings of different models are never compared);
2. commits it with :meth:`IdentityMemory.record_published`, idempotent by the sighting id the
   worker minted: a redelivered or re-sent sighting already stored writes nothing;
3. acks it, only after the commit, so a service killed in between gets it again (and step 2
   stores it once);
4. publishes the assignment on the plain subject ``reidcam.assignments.<camera_id>`` for
   pages (best effort: nobody may be listening).

Only one instance writes: the one holding the KV lease ``memory-service`` (bucket
``reidcam-leases``, renewed every ttl/3 by :class:`LeaseKeeper`). Others stand by and take the
lease once it lapses (the holder died) or is released (a clean stop). During the moment two
instances may both believe they hold it, step 2 keeps every sighting stored once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial

from sqlalchemy.exc import InterfaceError, OperationalError

from reidcam.broker.connection import BrokerClient
from reidcam.broker.health import HEALTH_EVERY_S, HEALTH_TTL_S, HealthReporter, health_key
from reidcam.broker.leases import CameraLeases, LeaseKeeper
from reidcam.broker.streams import Delivery, SightingConsumer, setup_sightings_stream
from reidcam.broker.wire import ClosedSighting
from reidcam.capture.urls import redact_text
from reidcam.cluster.crop_server import CropServer
from reidcam.core.types import Sighting, SightingKey
from reidcam.identity.memory import IdentityMemory
from reidcam.identity.models import Recorded

log = logging.getLogger(__name__)

LEASE_KEY = "memory-service"
ASSIGNMENT_PREFIX = "reidcam.assignments"
ASSIGNMENT_VERSION = 1
#: the database is away (not the sighting's fault): redeliver later, never drop.
_DB_DOWN = (OperationalError, InterfaceError)


def assignment_subject(camera_id: str) -> str:
    """The plain subject the assignments of a camera's sightings are published on."""
    return f"{ASSIGNMENT_PREFIX}.{camera_id}"


def to_sighting(s: ClosedSighting) -> Sighting:
    """The memory's form of a sighting from the broker (its best crop, if it came with one, is
    kept where the memory keeps crops; one that does not decode is left out)."""
    return Sighting(
        key=SightingKey(s.camera_id, s.track_id, s.part),
        first_seen_at=s.first_seen_at,
        last_seen_at=s.last_seen_at,
        n_embeddings=s.n_embeddings,
        prototype=s.prototype,
        model_id=s.model_id,
        best_crop_quality=s.best_crop_quality,
        best_crop=None if s.crop is None else s.crop.to_best(),
    )


def assignment_message(recorded: Recorded, source: ClosedSighting) -> bytes:
    """JSON body of an assignment message: the memory's ids plus the worker's sighting id.

    ``duplicate`` is true when the sighting had been stored before (a redelivery): the
    assignment is where that first copy stands now.
    """
    a = recorded.assignment
    body = {
        "v": ASSIGNMENT_VERSION,
        "kind": "assignment",
        "source_id": source.sighting_id,
        "worker": source.worker,
        "duplicate": recorded.duplicate,
        **asdict(a),
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ServiceSettings:
    """How the service runs.

    Attributes:
        name: this instance (the lease holder; unique among running instances).
        model_id: the ReID model of this memory; sightings of any other are refused.
        batch: sightings fetched at once; fetch_timeout_s: longest wait for the first of them
            (also how soon a stop request is noticed).
        ack_wait_s: a delivered sighting not acked within this is delivered again (set when the
            durable consumer is first created; an existing consumer keeps its value).
        max_attempts: deliveries of a sighting the memory refuses (not a database outage)
            before it is dropped with an error line.
        retry_delay_s: wait before a refused sighting, or a batch met by a database or broker
            outage, is tried again.
        standby_poll_s: how often a standby tries to take the lease.
    """

    name: str
    model_id: str
    batch: int = 32
    fetch_timeout_s: float = 1.0
    ack_wait_s: float = 30.0
    max_attempts: int = 5
    retry_delay_s: float = 2.0
    standby_poll_s: float = 0.5
    health_every_s: float = HEALTH_EVERY_S
    health_ttl_s: float = HEALTH_TTL_S

    def __post_init__(self) -> None:
        if not self.name or not self.model_id:
            raise ValueError("the memory service needs a name and a model id")
        if self.batch < 1 or self.max_attempts < 1:
            raise ValueError("batch and max_attempts must be >= 1")
        if min(self.fetch_timeout_s, self.ack_wait_s, self.retry_delay_s, self.standby_poll_s) <= 0:
            raise ValueError("the memory service's times must be > 0")


@dataclass
class ServiceStats:
    """Counters for the status and the final log line.

    ``role``: starting, standby, active or stopped. ``stored``: sightings committed;
    ``duplicates``: delivered again but stored already (acked, nothing written); ``rejected``:
    refused at decoding (another model, unreadable); ``failed``: dropped after ``max_attempts``;
    ``db_errors``: commits the database refused for being away (the sightings are redelivered);
    ``activations``: times this instance took the lease.
    """

    role: str = "starting"
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_rejection: str | None = None
    failed: int = 0
    db_errors: int = 0
    published: int = 0
    activations: int = 0


class MemoryService:
    """The consumer loop of the identity memory (module docstring). Blocking: call :meth:`run`
    on one thread and :meth:`stop` from any other (a signal handler)."""

    def __init__(self, client: BrokerClient, memory: IdentityMemory, settings: ServiceSettings) -> None:
        self.settings = settings
        self.stats = ServiceStats()
        self._client = client
        self._memory = memory
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._consumer = SightingConsumer(
            client, expect_model_id=settings.model_id, ack_wait_s=settings.ack_wait_s
        )

    def stop(self) -> None:
        """Ask the loop to stop: it finishes (commits and acks) the batch in hand, then releases
        the lease, so a standby takes over at once."""
        self._stop.set()

    def run(self) -> ServiceStats:
        """Stand by for the lease, consume while holding it, until :meth:`stop`.

        Raises:
            BrokerError: the lease bucket cannot be opened (e.g. another lease TTL on the broker).
        """
        leases = CameraLeases(self._client, self.settings.name).open()
        keeper = LeaseKeeper(leases, self._on_lost).start()
        health = _quietly(self._health().start, "put the memory service's health")
        crops = _quietly(CropServer(self._client, self._memory).start, "answer crop requests")
        try:
            while self._wait_for_lease(keeper, leases):
                self._serve()
        finally:
            self.stats.role = "stopped"
            if isinstance(crops, CropServer):
                crops.stop()
            _quietly(keeper.stop, "release the memory lease")  # a standby takes over at once
            if isinstance(health, HealthReporter):
                health.stop(delete=True)
        return self.stats

    def _health(self) -> HealthReporter:
        """``memory.<name>`` in ``reidcam-health``: the counters, role and broker state."""
        s = self.settings

        def snapshot() -> dict[str, object]:
            return {"name": s.name, "model_id": s.model_id, **asdict(self.stats),
                    "broker": self._client.status().as_dict(), "at": time.time()}  # fmt: skip

        return HealthReporter(self._client, health_key("memory", s.name), snapshot, s.health_every_s,
                              s.health_ttl_s)  # fmt: skip

    def _on_lost(self, key: str, reason: str) -> None:
        # On the broker loop: only flag it. Another instance may write meanwhile, which is safe
        # (commits are idempotent by sighting id); this one stops at the end of its batch.
        if key == LEASE_KEY:
            self._lost.set()

    def _wait_for_lease(self, keeper: LeaseKeeper, leases: CameraLeases) -> bool:
        announced = False
        while not self._stop.is_set():
            if _quietly(lambda: keeper.take(LEASE_KEY), "take the memory lease"):
                self._lost.clear()
                if self.stats.role != "active":  # not a retry of a takeover the broker interrupted
                    self.stats.activations += 1
                    log.info("memory service %s: active (holds the lease %r)", self.settings.name, LEASE_KEY)
                self.stats.role = "active"
                return True
            if not announced:
                self.stats.role = "standby"
                owner = _quietly(lambda: leases.owner(LEASE_KEY), "read the memory lease")
                log.info("memory service %s: standby (%s holds the lease)", self.settings.name, owner)
                announced = True
            self._stop.wait(self.settings.standby_poll_s)
        return False

    def _serve(self) -> None:
        """Consume until stopped or the lease is lost."""
        try:
            setup_sightings_stream(self._client)
            self._consumer.start()
        except Exception as exc:  # broker away at the takeover: try again (the lease is kept)
            log.warning("memory service: cannot open the sightings stream: %s", self._client.scrub(str(exc)))
            self._stop.wait(self.settings.retry_delay_s)
            return
        try:
            while not self._stop.is_set() and not self._lost.is_set():
                self._step()
        finally:
            _quietly(self._consumer.stop, "unsubscribe")
        if self._lost.is_set():
            self.stats.role = "standby"
            log.warning("memory service %s: lost the lease %r; standing by", self.settings.name, LEASE_KEY)

    def _step(self) -> None:
        """One batch: every sighting in it is committed and acked, or left for redelivery."""
        try:
            batch = self._consumer.fetch(self.settings.batch, self.settings.fetch_timeout_s)
        except Exception as exc:  # broker away: the client reconnects by itself
            log.warning("memory service: cannot fetch sightings: %s", self._client.scrub(str(exc)))
            self._stop.wait(self.settings.retry_delay_s)
            return
        self.stats.rejected = self._consumer.stats.rejected
        self.stats.last_rejection = self._consumer.stats.last_rejection
        for i, delivery in enumerate(batch):
            if not self._commit(delivery):
                self._defer(batch[i:])
                self._stop.wait(self.settings.retry_delay_s)
                return

    def _commit(self, d: Delivery) -> bool:
        """Store, ack, publish one sighting; False when the database is away (try later)."""
        s = d.sighting
        try:
            recorded = self._memory.record_published(to_sighting(s), s.sighting_id)
        except _DB_DOWN as exc:
            self.stats.db_errors += 1
            log.warning(
                "memory service: the database is unavailable, sighting %s will be redelivered: %s",
                s.sighting_id,
                _short(exc),
            )
            return False
        except Exception as exc:
            self._refuse(d, exc)
            return True
        _quietly(d.ack, f"ack sighting {s.sighting_id} (stored; a redelivery is stored once)")
        if recorded.duplicate:
            self.stats.duplicates += 1
        else:
            self.stats.stored += 1
        self._publish(recorded, s)
        return True

    def _refuse(self, d: Delivery, exc: Exception) -> None:
        """A sighting the memory will not take: retried a few times, then dropped with an error."""
        s, tries = d.sighting, d.num_delivered
        if tries >= self.settings.max_attempts:
            self.stats.failed += 1
            log.error(
                "memory service: dropped sighting %s of camera %r (worker %s) after %d tries: %s",
                s.sighting_id,
                s.camera_id,
                s.worker or "?",
                tries,
                _short(exc),
            )
            _quietly(d.term, "terminate a refused sighting")
            return
        log.warning(
            "memory service: cannot store sighting %s (try %d of %d): %s",
            s.sighting_id,
            tries,
            self.settings.max_attempts,
            _short(exc),
        )
        _quietly(partial(d.nak, self.settings.retry_delay_s), "nak a refused sighting")

    def _defer(self, rest: Sequence[Delivery]) -> None:
        """Hand the rest of a batch back for redelivery after ``retry_delay_s``."""
        for d in rest:
            _quietly(partial(d.nak, self.settings.retry_delay_s), "nak a deferred sighting")

    def _publish(self, recorded: Recorded, s: ClosedSighting) -> None:
        """Tell pages (best effort: a page that missed it reads the memory)."""
        body = assignment_message(recorded, s)
        try:
            self._client.call(self._client.nc.publish(assignment_subject(s.camera_id), body))
        except Exception as exc:
            log.warning(
                "memory service: could not publish the assignment of %s: %s", s.sighting_id, _short(exc)
            )
            return
        self.stats.published += 1


def _short(exc: BaseException) -> str:
    """One line of an error, without SQLAlchemy's statement and parameters (a prototype's bytes)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return redact_text(text[0] if text else type(exc).__name__)


def _quietly(fn: Callable[[], object], what: str) -> object | None:
    """``fn()``, or None with a warning when it fails (the broker is away; it will be retried)."""
    try:
        return fn()
    except Exception as exc:
        log.warning("memory service: could not %s: %s", what, _short(exc))
        return None
