"""A perception worker on fake models and the synthetic scene, in this process or as a subprocess.

Run as a script (``python tests/broker/worker_support.py URL NAME TTL [MAX]``) it is a worker
process like ``reidcam worker`` (same ``serve_worker`` loop and signal handling), with the test
fakes instead of real models: the worker-death tests SIGKILL it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reidcam.broker.connection import BrokerClient
from reidcam.cluster.worker import Worker, WorkerOptions
from reidcam.config import TrackerConfig
from reidcam.testing.live import scene_camera
from reidcam.testing.models import fake_models
from reidcam.track import build_tracker

SCRIPT = Path(__file__)
MODEL = "fake-colour-v1"  # FakeEmbedder's model id
FPS = 15.0


def make_worker(client: BrokerClient, name: str, max_cameras: int | None = None) -> Worker:
    """A worker on fake models; registry sources ``synthetic-cam0`` / ``synthetic-cam1`` replay
    the synthetic scene's cameras (``reidcam.testing.live.scene_camera``)."""
    options = WorkerOptions(name=name, max_cameras=max_cameras, poll_s=0.2, flush_timeout_s=3.0)
    return Worker(client, fake_models(), lambda cam: scene_camera(cam, fps=FPS), options)


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """``worker`` running its control loop on a thread (``serve_worker``, as the command does)."""
    from reidcam.commands.worker import serve_worker

    stop = threading.Event()
    thread = threading.Thread(target=serve_worker, args=(worker, stop), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        worker.wake()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"


def main(argv: list[str]) -> int:
    import logging

    from nats_support import broker_config  # run as a script: tests/broker is on the path

    from reidcam.commands.worker import serve_worker

    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)d %(name)s: %(message)s")

    url, name, ttl = argv[0], argv[1], float(argv[2])
    # Load the tracker's runtime (Ultralytics, torch: 2+ s here) before leasing, as the real
    # command's build_models does, so a leased camera starts at once.
    build_tracker(TrackerConfig())
    max_cameras = int(argv[3]) if len(argv) > 3 else None
    client = BrokerClient(broker_config(url, lease_ttl_s=ttl)).connect()
    try:
        return serve_worker(make_worker(client, name, max_cameras))
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
