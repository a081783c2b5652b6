"""A lease that lapses inside nats-py's create() (between its refused CAS and its lookup)."""

from __future__ import annotations

import asyncio

import pytest

nats_errors = pytest.importorskip("nats.js.errors", reason="needs nats-py: pip install -e '.[dev]'")

from reidcam.broker.leases import CameraLeases  # noqa: E402


class _LapsingKV:
    """create() fails once the way nats-py does when the key expires mid-call, then succeeds."""

    def __init__(self) -> None:
        self.calls = 0

    async def create(self, key: str, value: bytes) -> int:
        self.calls += 1
        if self.calls == 1:
            raise nats_errors.KeyNotFoundError
        return 7


class _Client:
    class config:  # stands in for BrokerConfig
        lease_ttl_s = 1.0


def test_acquire_retries_when_the_key_vanishes_during_create():
    leases = CameraLeases(_Client(), "w2")  # type: ignore[arg-type]
    leases._kv = _LapsingKV()
    lease = asyncio.run(leases.acquire_async("door"))
    assert lease is not None and lease.revision == 7 and leases._kv.calls == 2
