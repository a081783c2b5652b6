"""Broker test fixtures: a real nats-server on a random loopback port, a connected client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nats_support import NatsServer, broker_config, need_nats_server

from reidcam.broker.connection import BrokerClient


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One server for a test module (the tests use their own streams and buckets)."""
    need_nats_server()
    srv = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of this test alone, for tests that stop and restart it."""
    need_nats_server()
    srv = NatsServer(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(nats_server: NatsServer) -> Iterator[BrokerClient]:
    with BrokerClient(broker_config(nats_server.url)) as c:
        yield c
