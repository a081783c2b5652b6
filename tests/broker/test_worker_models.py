"""Smoke test: `reidcam worker` with the real models on the sample video, against a real nats-server.

Marked ``models`` (needs REIDCAM_WEIGHTS_DIR and REIDCAM_MEDIA_DIR; skips saying so) and ``slow``
(loading the models and playing the video takes ~40 s here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nats_support import NatsServer, broker_config, need_nats_server

from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import CameraLeases, CameraRegistry
from reidcam.broker.streams import SightingConsumer, setup_sightings_stream
from reidcam.config import ReidConfig

pytestmark = [pytest.mark.broker, pytest.mark.models, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _folder(var: str) -> Path:
    value = os.environ.get(var)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{var} is not set to a folder (CI uses ../shared/assets/{var.split('_')[1].lower()})")
    return Path(value)


def test_worker_runs_the_sample_video_with_the_real_models(tmp_path: Path) -> None:
    need_nats_server()
    _folder("REIDCAM_WEIGHTS_DIR")
    media = _folder("REIDCAM_MEDIA_DIR")
    if not (media / "vtest.avi").is_file():
        pytest.skip(f"no vtest.avi in {media}")
    srv = NatsServer(tmp_path).start()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "reidcam.cli", "worker", "--broker", srv.url, "--name", "smoke"]
    try:
        with BrokerClient(broker_config(srv.url)) as client:
            # the media folder as a ${ENV} reference: expanded on the worker, as a secret would be
            CameraRegistry(client).open().put("vtest", {"source": "${REIDCAM_MEDIA_DIR}/vtest.avi"})
            leases = CameraLeases(client, "admin").open()
            setup_sightings_stream(client)  # the worker makes it too; the consumer needs it now
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                consumer = SightingConsumer(client, expect_model_id=ReidConfig().model).start()
                got = []
                deadline = time.monotonic() + 120
                while len(got) < 3 and time.monotonic() < deadline and proc.poll() is None:
                    for d in consumer.fetch(32, 1.0):
                        got.append(d.sighting)
                        d.ack()
                assert leases.owner("vtest") == "smoke"
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(60) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            assert len(got) >= 3, out
            assert {s.camera_id for s in got} == {"vtest"} and {s.worker for s in got} == {"smoke"}
            assert leases.owner("vtest") is None, "a clean stop releases the lease"
    finally:
        srv.stop()
