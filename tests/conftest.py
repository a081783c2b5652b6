"""Fixtures shared by several test folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.nats_support import NatsServer, need_nats_server
from support.mjpeg_server import MjpegServer


@pytest.fixture
def mjpeg_server() -> Iterator[MjpegServer]:
    """A real MJPEG HTTP camera on 127.0.0.1 (20 fps) that a test can stop, stall and bring back."""
    srv = MjpegServer(fps=20.0)
    try:
        yield srv.start()
    finally:
        srv.close()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server (JetStream, loopback) for one test module; its tests use their own
    streams and buckets, or clear them."""
    need_nats_server()
    srv = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test alone, for tests that stop and restart it or need it fresh."""
    need_nats_server()
    srv = NatsServer(tmp_path / "nats").start()
    try:
        yield srv
    finally:
        srv.stop()
