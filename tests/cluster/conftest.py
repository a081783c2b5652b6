"""Memory-service fixtures: a real nats-server of the test's own, a client, a SQLite memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_support import LEASE_TTL_S

from broker.nats_support import NatsServer, broker_config
from reidcam.broker.connection import BrokerClient
from reidcam.identity import IdentityMemory, IdentitySettings

SETTINGS = IdentitySettings(threshold=0.7, margin=0.05, max_embeddings_per_identity=4)


@pytest.fixture
def nats_server(own_nats_server: NatsServer) -> NatsServer:
    """A server of this test alone: a fresh stream, consumer and lease bucket every time."""
    return own_nats_server


@pytest.fixture
def client(nats_server: NatsServer) -> Iterator[BrokerClient]:
    with BrokerClient(broker_config(nats_server.url, lease_ttl_s=LEASE_TTL_S)) as c:
        yield c


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def memory(data_dir: Path) -> Iterator[IdentityMemory]:
    with IdentityMemory.open(data_dir, settings=SETTINGS) as m:
        yield m
