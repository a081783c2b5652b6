"""The sightings stream (JetStream) and its durable pull consumer.

Subjects ``reidcam.sightings.<camera_id>`` feed the stream ``REIDCAM_SIGHTINGS``: file storage,
work-queue retention (a message leaves once the memory service acked it), de-duplication by the
``Nats-Msg-Id`` header = the sighting id within ``duplicate_window_s``. The identity memory reads
it through the durable pull consumer ``reidcam-memory`` with explicit acks: a message not acked
within ``ack_wait_s`` (its reader died, or nak'ed it) is delivered again, so it commits each
sighting idempotently by id and acks after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from reidcam.broker.connection import BrokerClient
from reidcam.broker.errors import BrokerError, WireFormatError
from reidcam.broker.wire import ClosedSighting, decode_sighting, encode_sighting, message_headers

log = logging.getLogger(__name__)

STREAM = "REIDCAM_SIGHTINGS"
SUBJECT_PREFIX = "reidcam.sightings"
CONSUMER = "reidcam-memory"


def sighting_subject(camera_id: str) -> str:
    """The subject a camera's closed sightings are published on."""
    return f"{SUBJECT_PREFIX}.{camera_id}"


@dataclass(frozen=True)
class StreamSettings:
    """``max_age_s``: a sighting nobody consumed is dropped after this (default a week);
    ``duplicate_window_s``: a re-sent sighting id within it is stored once."""

    max_age_s: float = 7 * 24 * 3600.0
    duplicate_window_s: float = 600.0
    max_bytes: int = -1


async def ensure_sightings_stream(client: BrokerClient, settings: StreamSettings | None = None) -> None:
    """(On the loop.) Create the stream, or bring an existing one to these settings."""
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import BadRequestError

    st = settings or StreamSettings()
    config = StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=st.duplicate_window_s,
        max_age=st.max_age_s,
        max_bytes=st.max_bytes,
    )
    try:
        await client.js.add_stream(config)
    except BadRequestError:  # exists with other settings: update what may be updated
        await client.js.update_stream(config)


def setup_sightings_stream(client: BrokerClient, settings: StreamSettings | None = None) -> None:
    """Synchronous :func:`ensure_sightings_stream`."""
    client.call(ensure_sightings_stream(client, settings))


@dataclass(frozen=True)
class PublishResult:
    """The broker's answer: ``seq`` in the stream; ``duplicate`` True when the id was seen already."""

    seq: int
    duplicate: bool


async def publish_sighting(client: BrokerClient, s: ClosedSighting) -> PublishResult:
    """(On the loop.) Publish one sighting and wait for the stream's acknowledgement.

    Raises whatever nats-py raises when the broker is away (timeouts, no responders): the
    buffered publisher (``reidcam.broker.buffer``) retries, a direct caller decides.
    """
    ack = await client.js.publish(
        sighting_subject(s.camera_id), encode_sighting(s), stream=STREAM, headers=message_headers(s)
    )
    return PublishResult(seq=int(ack.seq), duplicate=bool(ack.duplicate))


@dataclass(eq=False)
class Delivery:
    """One sighting handed to the consumer; settle it with :meth:`ack`, :meth:`nak` or :meth:`term`.

    ``num_delivered``: 1 the first time, more on redelivery (the last reader died or nak'ed).
    """

    sighting: ClosedSighting
    num_delivered: int
    _msg: Any = field(repr=False)
    _client: BrokerClient = field(repr=False)

    def ack(self) -> None:
        """Done: the broker removes it. Call after the sighting is committed, never before."""
        self._client.call(self._msg.ack_sync(timeout=self._client.config.request_timeout_s))

    def nak(self, delay_s: float | None = None) -> None:
        """Not now: deliver it again (after ``delay_s``)."""
        self._client.call(self._msg.nak(delay=delay_s))

    def term(self) -> None:
        """Never: the broker drops it without redelivery."""
        self._client.call(self._msg.term())


@dataclass
class ConsumerStats:
    delivered: int = 0
    rejected: int = 0
    last_rejection: str | None = None


class SightingConsumer:
    """The durable pull consumer of the sightings stream, synchronous.

    ``expect_model_id``: sightings of another ReID model (and unreadable messages) are refused:
    terminated with one error line each and counted in :attr:`stats`, never handed out.
    """

    def __init__(
        self,
        client: BrokerClient,
        *,
        expect_model_id: str | None,
        durable: str = CONSUMER,
        ack_wait_s: float = 30.0,
        max_deliver: int = -1,
    ) -> None:
        self._client = client
        self.expect_model_id = expect_model_id
        self.durable = durable
        self.ack_wait_s = ack_wait_s
        self.max_deliver = max_deliver
        self.stats = ConsumerStats()
        self._sub: Any = None

    def start(self) -> SightingConsumer:
        self._sub = self._client.call(self._subscribe())
        return self

    async def _subscribe(self) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            max_deliver=self.max_deliver,
            deliver_policy=DeliverPolicy.ALL,
        )
        return await self._client.js.pull_subscribe(
            f"{SUBJECT_PREFIX}.>", durable=self.durable, stream=STREAM, config=config
        )

    def fetch(self, batch: int = 32, timeout_s: float = 1.0) -> list[Delivery]:
        """Up to ``batch`` sightings, waiting at most ``timeout_s`` for the first; [] if none."""
        if self._sub is None:
            raise BrokerError("SightingConsumer.fetch before start()")
        msgs = self._client.call(self._fetch(batch, timeout_s), timeout=timeout_s + 5.0)
        out: list[Delivery] = []
        for msg in msgs:
            delivery = self._accept(msg)
            if delivery is not None:
                out.append(delivery)
        return out

    async def _fetch(self, batch: int, timeout_s: float) -> list[Any]:
        # nats-py ends an empty (or, for batches, a not-yet-started) pull with its own
        # TimeoutError or a bare asyncio one, depending on where the wait ran out: both = none.
        try:
            return list(await self._sub.fetch(batch, timeout=timeout_s))
        except (asyncio.TimeoutError, TimeoutError):
            return []

    def _accept(self, msg: Any) -> Delivery | None:
        try:
            sighting = decode_sighting(msg.data, self.expect_model_id)
        except WireFormatError as exc:
            self.stats.rejected += 1
            self.stats.last_rejection = str(exc)
            log.error("refused a message on %s: %s", msg.subject, exc)
            self._client.call(msg.term())
            return None
        self.stats.delivered += 1
        return Delivery(sighting, int(msg.metadata.num_delivered), msg, self._client)

    def pending(self) -> int:
        """Messages in the stream not yet delivered to this consumer (for status and tests)."""
        info = self._client.call(self._client.js.consumer_info(STREAM, self.durable))
        return int(info.num_pending)

    def stop(self) -> None:
        """Stop fetching (the durable consumer and its unacked messages stay on the broker)."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            self._client.call(sub.unsubscribe())
