"""The identity memory on the two sample videos run as two looping cameras, as ``reidcam serve`` runs them.

vtest.avi (a campus) and people-detection.264 (a room seen from the ceiling) show different
people, so after any run no identity may hold sightings of both, and none may hold two
sightings seen at the same time on one camera. The cameras are played like ``serve`` plays file
cameras (paced, looping, newest frame only, wall-clock times) through the same runner, identity
sink and memory settings (``settings_from_config``: quorum rule, stricter join threshold).

The default test runs 30 s (CI); the ``slow`` one runs 5 minutes, several passes of each video.
"""

from __future__ import annotations

import logging
import time

import pytest

from reidcam.config import AppConfig
from reidcam.identity import IdentitySink
from reidcam.identity.audit import audit
from reidcam.identity.setup import open_memory
from reidcam.pipeline.build import build_models
from reidcam.pipeline.replay import replay_cameras
from reidcam.pipeline.runner import Runner

CAMERAS = {"vtest": "vtest.avi", "ceiling": "people-detection.264"}
log = logging.getLogger(__name__)


def run_two_videos(weights_dir, media_dir, data_dir, seconds: float, fps: float = 10.0):
    for name in CAMERAS.values():
        if not (media_dir / name).exists():
            pytest.skip(f"{name} is not in {media_dir}")
    cfg = AppConfig.model_validate(
        {
            "cameras": [{"id": cam, "source": str(media_dir / name)} for cam, name in CAMERAS.items()],
            "weights": {"dir": str(weights_dir)},
        }
    )
    memory = open_memory(cfg, data_dir)
    sink = IdentitySink(memory)
    runner = Runner(replay_cameras(cfg, fps, loop=True), build_models(cfg), sink)
    runner.start()
    try:
        time.sleep(seconds)
    finally:
        runner.stop(timeout_s=60.0)
        closed = sink.close()
    with memory.engine.connect() as conn:
        result = audit(conn)
    memory.close()
    assert closed and sink.failed == 0 and sink.dropped == 0
    return result


def _check(result, min_per_camera: int) -> None:
    per_camera = {cam: sum(1 for c in result.camera_sets.values() if cam in c) for cam in CAMERAS}
    log.info(
        "identities %d, sightings %d, identities per camera %s, largest identity %d sightings, "
        "identities with both videos %d, overlapping pairs %d",
        result.identities,
        result.sightings,
        per_camera,
        max(result.sizes.values(), default=0),
        len(result.spanning(set(CAMERAS))),
        len(result.overlaps),
    )
    assert all(n >= min_per_camera for n in per_camera.values()), (
        f"too few identities per camera: {per_camera}"
    )
    both = result.spanning(set(CAMERAS))
    assert not both, f"identities holding people of both videos: {[(i, result.sizes[i]) for i in both]}"
    assert not result.overlaps, f"two people seen at once in one identity: {result.overlaps[:5]}"


def test_two_videos_for_30_s_never_share_an_identity(weights_dir, media_dir, tmp_path):
    _check(run_two_videos(weights_dir, media_dir, tmp_path / "data", seconds=30.0), min_per_camera=1)


@pytest.mark.slow
def test_two_videos_for_5_minutes_never_share_an_identity(weights_dir, media_dir, tmp_path):
    result = run_two_videos(weights_dir, media_dir, tmp_path / "data", seconds=300.0)
    _check(result, min_per_camera=3)
    assert any(n >= 2 for n in result.sizes.values()), "the looping people are recognised again"
