"""Regression: a clean stop during a lease renewal still releases the lease.

The keeper used to cancel its renewal task mid-renewal: the broker had applied the update, the
keeper kept the old revision, and the release (a delete with that revision) was refused, so the
camera stayed held until its TTL after a clean worker stop.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from nats_support import broker_config

from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import LEASE_BUCKET, CameraLeases, Lease, LeaseKeeper

pytestmark = pytest.mark.broker
TTL = 1.0


class SlowAnswer(CameraLeases):
    """Renewals whose answer arrives late: the broker applied them before the wait."""

    applied = threading.Event()

    async def renew_async(self, lease: Lease) -> Lease:
        renewed = await super().renew_async(lease)
        self.applied.set()
        await asyncio.sleep(0.5)
        return renewed


def test_stop_during_a_renewal_releases_the_lease(nats_server) -> None:
    with BrokerClient(broker_config(nats_server.url)) as client:
        leases = SlowAnswer(client, "w1", TTL).open()
        keeper = LeaseKeeper(leases, lambda cam, why: None).start()
        try:
            assert keeper.take("cam-slow")
            assert SlowAnswer.applied.wait(5.0)
            keeper.stop()  # while the renewal's answer is on its way
            assert leases.owner("cam-slow") is None
        finally:
            client.call(client.js.delete_key_value(LEASE_BUCKET))
