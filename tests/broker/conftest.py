"""Broker test fixtures: a client connected to the module's nats-server (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nats_support import NatsServer, broker_config

from reidcam.broker.connection import BrokerClient


@pytest.fixture
def client(nats_server: NatsServer) -> Iterator[BrokerClient]:
    with BrokerClient(broker_config(nats_server.url)) as c:
        yield c
