"""Stopping the broker loop's tasks: a cancellation that Python 3.11's wait_for swallowed."""

from __future__ import annotations

import asyncio

from reidcam.broker.connection import cancel_and_wait


def test_cancel_and_wait_ends_a_task_that_swallowed_a_cancellation() -> None:
    """What Python 3.11's wait_for can do inside nats-py: the first cancel is lost. A plain
    cancel-and-gather then waits for ever; cancel_and_wait cancels again until the task ends."""
    lost: list[int] = []

    async def swallows_one() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost.append(1)

    async def main() -> bool:
        task = asyncio.get_running_loop().create_task(swallows_one())
        await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.wait({task}, timeout=0.3)
        assert not task.done() and lost == [1]  # the plain way: still running after its cancel
        await asyncio.wait_for(cancel_and_wait(task, period_s=0.05), timeout=5.0)
        return task.cancelled()

    assert asyncio.run(main())
