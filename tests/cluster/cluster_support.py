"""Helpers of the memory-service tests: publish sightings, wait, read what the memory stored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from reidcam.broker.connection import BrokerClient
from reidcam.broker.streams import STREAM, publish_sighting, setup_sightings_stream
from reidcam.broker.wire import ClosedSighting
from reidcam.storage import tables as t

#: short, so that lapses happen within a test (every client of one broker must use the same)
LEASE_TTL_S = 2.0


def publish_all(client: BrokerClient, sightings: list[ClosedSighting]) -> None:
    setup_sightings_stream(client)
    for s in sightings:
        assert not client.call(publish_sighting(client, s)).duplicate


def wait_for(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def stored_source_ids(engine: sa.Engine) -> list[str | None]:
    """Every sighting row's source id, one entry per row (so a double store shows twice)."""
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.sightings.c.source_id)).scalars())


def stream_messages(client: BrokerClient) -> int:
    """Messages still in the work-queue stream (acked and terminated ones are gone)."""
    return int(client.call(client.js.stream_info(STREAM)).state.messages)


class Assignments:
    """Collects the assignment messages of ``reidcam.assignments.>`` (subscribe before publishing)."""

    def __init__(self, client: BrokerClient) -> None:
        self.messages: list[dict[str, Any]] = []
        self.subjects: list[str] = []

        async def on_msg(msg: Any) -> None:
            self.subjects.append(msg.subject)
            self.messages.append(json.loads(msg.data))

        client.call(client.nc.subscribe("reidcam.assignments.>", cb=on_msg))
        client.call(client.nc.flush())
