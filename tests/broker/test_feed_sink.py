"""The worker's live feed and health against a real nats-server (fake models, synthetic scene).

A second connection subscribes ``reidcam.cameras.>`` as the web server will, and decodes what
arrives with ``broker.feed``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest
from nats_support import NatsServer, broker_config
from worker_support import FPS, running

from reidcam.broker.connection import BrokerClient
from reidcam.broker.feed import (
    CAMERA_SUBJECTS,
    FrameFeed,
    StatusFeed,
    decision_json,
    decode_frame,
    decode_status,
    parse_subject,
    watch_subject,
)
from reidcam.broker.health import HealthReporter, health_key, read_health
from reidcam.broker.leases import CameraRegistry
from reidcam.cluster.feed_sink import FeedOptions, LiveFeedSink
from reidcam.cluster.worker import Worker, WorkerOptions
from reidcam.core.events import FanOutSink, FrameResult, Observation
from reidcam.core.types import Frame, MatchDecision, Verdict
from reidcam.pipeline.runner import Runner
from reidcam.testing.live import scene_camera, scene_cameras
from reidcam.testing.models import fake_models
from reidcam.testing.sinks import RecordingSink

pytestmark = pytest.mark.broker


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


class Listener:
    """Every feed message on the broker, decoded (the web server's side)."""

    def __init__(self, client: BrokerClient) -> None:
        self.client = client
        self.frames: list[FrameFeed] = []
        self.statuses: list[StatusFeed] = []
        self.sizes: list[int] = []
        self._lock = threading.Lock()
        self._sub = client.call(client.nc.subscribe(CAMERA_SUBJECTS, cb=self._on_msg))
        client.call(client.nc.flush())

    async def _on_msg(self, msg: object) -> None:
        _, kind = parse_subject(msg.subject)  # type: ignore[attr-defined]
        data: bytes = msg.data  # type: ignore[attr-defined]
        with self._lock:
            if kind == "frame":
                self.frames.append(decode_frame(data))
                self.sizes.append(len(data))
            elif kind == "status":
                self.statuses.append(decode_status(data))

    def frames_of(self, camera_id: str) -> list[FrameFeed]:
        with self._lock:
            return [f for f in self.frames if f.camera_id == camera_id]

    def clear(self) -> None:
        with self._lock:
            self.frames.clear()
            self.statuses.clear()


@pytest.fixture
def connect(nats_server: NatsServer) -> Iterator[Callable[[], BrokerClient]]:
    clients: list[BrokerClient] = []

    def make() -> BrokerClient:
        clients.append(BrokerClient(broker_config(nats_server.url)).connect())
        return clients[-1]

    yield make
    for c in reversed(clients):
        c.close()


# -- frames of a synthetic FrameResult ---------------------------------------------------------


def _decision(verdict: Verdict) -> MatchDecision:
    return MatchDecision(verdict, "q1", 0.85, None, None, 0.8, "test")


def _result(index: int, observations: list[Observation], camera_id: str = "door.1") -> FrameResult:
    image = np.full((480, 1280, 3), index % 255, np.uint8)
    return FrameResult(Frame(camera_id, index, image, 1000.0 + index), tuple(observations), {"detect": 1.5})


def _obs(i: int, track: int | None, verdict: Verdict | None = None, crop: bool = True) -> Observation:
    pixels = np.full((400, 100, 3), 120, np.uint8) if crop else None
    decision = None if verdict is None else _decision(verdict)
    box = np.array([10 + i, 20, 110 + i, 420], np.float32)
    return Observation(i, box, 0.9, track, pixels, True, "ok", decision)


def test_crops_go_out_for_a_new_track_every_n_frames_and_on_a_verdict_change(connect) -> None:
    listener = Listener(connect())
    sink = LiveFeedSink(connect(), "w1", FeedOptions(crop_every_frames=10)).start()
    try:
        for n in range(25):
            verdict = Verdict.UNCERTAIN if n < 4 else Verdict.MATCH  # changes at frame 4
            observations = [
                _obs(0, track=7, verdict=verdict),
                _obs(1, track=None),  # untracked: its crop every time
                _obs(2, track=8, crop=False),  # no pixels: never a crop
            ]
            sink.on_frame(_result(n, observations))
        wait_for("25 frames", lambda: len(listener.frames_of("door.1")) == 25)
    finally:
        sink.stop()
    frames = sorted(listener.frames_of("door.1"), key=lambda f: f.index)
    with_crop = [f.index for f in frames if f.observations[0].crop_jpeg is not None]
    assert with_crop == [0, 4, 14, 24], "first, on the verdict change, then every 10 frames of the track"
    assert all(f.observations[1].crop_jpeg is not None for f in frames)
    assert all(f.observations[2].crop_jpeg is None for f in frames)
    crop = cv2.imdecode(np.frombuffer(frames[0].observations[0].crop_jpeg or b"", np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (256, 64, 3), "a 400 px crop is sent at most 256 px high"
    f = frames[10]
    assert (f.width, f.height, f.worker, f.frames_processed) == (1280, 480, "w1", 11)
    assert f.observations[0].decision == decision_json(_decision(Verdict.MATCH))
    assert f.observations[0].xyxy == (10.0, 20.0, 110.0, 420.0) and f.observations[0].track_id == 7
    assert f.timings_ms == {"detect": 1.5} and f.image_jpeg is None
    assert sink.counts.crops == 4 + 25 and sink.counts.images == 0


def test_the_picture_goes_out_only_while_watched(connect) -> None:
    listener, pinger = Listener(connect()), connect()
    sink = LiveFeedSink(connect(), "w1", FeedOptions(watch_for_s=1.0)).start()
    n = 0

    def frame() -> FrameFeed:
        nonlocal n
        n += 1
        sink.on_frame(_result(n, [_obs(0, track=1)], camera_id="cam0"))
        wait_for(f"frame {n}", lambda: any(f.index == n for f in listener.frames_of("cam0")))
        return next(f for f in listener.frames_of("cam0") if f.index == n)

    try:
        assert frame().image_jpeg is None and frame().image_jpeg is None
        assert sink.counts.images == 0, "nobody watching: no frame JPEG encoded at all"
        pinger.call(pinger.nc.publish(watch_subject("cam0"), b""))
        wait_for("the ping arrives", lambda: sink.watched("cam0"), timeout_s=5.0)
        watched = frame()
        assert watched.image_jpeg is not None
        image = cv2.imdecode(np.frombuffer(watched.image_jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (360, 960, 3), "downscaled to 960 px wide"
        assert (watched.width, watched.height) == (1280, 480), "boxes stay in the camera's pixels"
        assert sink.snapshot()["watched"] == ["cam0"]
        wait_for("the watch lapses", lambda: not sink.watched("cam0"), timeout_s=3.0)
        assert frame().image_jpeg is None
        assert sink.counts.images == 1
    finally:
        sink.stop()


def test_feed_matches_the_runners_frame_results(connect) -> None:
    listener = Listener(connect())
    sink = LiveFeedSink(connect(), "w1").start()
    recorder = RecordingSink()
    runner = Runner(scene_cameras(fps=FPS), fake_models(), FanOutSink([recorder, sink]))
    runner.start()
    try:
        wait_for("decisions in the feed", lambda: any(
            o.decision is not None for f in listener.frames_of("cam1") for o in f.observations))  # fmt: skip
        wait_for("both cameras", lambda: min(len(listener.frames_of(c)) for c in ("cam0", "cam1")) > 10)
    finally:
        runner.stop()
        sink.stop()
    time.sleep(0.3)  # the last messages in flight
    results = {(r.frame.camera_id, r.frame.index, r.frame.captured_at): r for r in recorder.frames}
    assert len(listener.frames) == len(results) and sink.counts.dropped == 0
    decided = 0
    for f in listener.frames:
        r = results[(f.camera_id, f.index, f.captured_at)]
        assert [o.track_id for o in f.observations] == [o.track_id for o in r.observations]
        assert [o.xyxy for o in f.observations] == [tuple(float(v) for v in o.xyxy) for o in r.observations]
        assert [o.decision for o in f.observations] == [decision_json(o.decision) for o in r.observations]
        assert [o.quality_ok for o in f.observations] == [o.quality_ok for o in r.observations]
        decided += sum(o.decision is not None for o in f.observations)
    assert decided > 0
    assert {s.camera_id for s in listener.statuses} == {"cam0", "cam1"}
    assert listener.frames_of("cam0")[-1].fps > 0


def test_broker_away_drops_the_feed_without_slowing_the_camera(own_nats_server: NatsServer) -> None:
    client = BrokerClient(broker_config(own_nats_server.url)).connect()
    sink = LiveFeedSink(client, "w1").start()
    try:
        own_nats_server.stop()
        wait_for("the client notices", lambda: not client.connected, timeout_s=5.0)
        t0 = time.perf_counter()
        for n in range(200):
            sink.on_frame(_result(n, [_obs(0, track=1), _obs(1, track=None)]))
        per_frame_ms = (time.perf_counter() - t0) * 1000.0 / 200
        assert sink.counts.dropped == 200 and sink.counts.sent == 0
        assert per_frame_ms < 20.0, f"{per_frame_ms:.1f} ms per frame with the broker away"
    finally:
        sink.stop(timeout_s=0.5)
        client.close(timeout_s=0.5)


# -- a worker: status of a failed camera, health in KV ------------------------------------------


def test_worker_feed_failed_camera_status_and_health_key(own_nats_server: NatsServer) -> None:
    admin = BrokerClient(broker_config(own_nats_server.url)).connect()
    wclient = BrokerClient(broker_config(own_nats_server.url, lease_ttl_s=2.0)).connect()
    try:
        registry = CameraRegistry(admin).open()
        registry.put("cam0", {"source": "synthetic-cam0"})
        registry.put("gone", {"source": "/no/such/video.mp4"})
        listener = Listener(admin)
        options = WorkerOptions(name="w1", poll_s=0.2, health_every_s=0.3, health_ttl_s=1.0)
        worker = Worker(wclient, fake_models(), lambda cam: scene_camera(cam, fps=FPS), options)
        with running(worker):
            wait_for("frames of cam0", lambda: len(listener.frames_of("cam0")) > 5)
            wait_for("the failed camera's status", lambda: any(
                s.camera_id == "gone" and s.state == "failed" for s in list(listener.statuses)))  # fmt: skip
            failed = next(s for s in listener.statuses if s.camera_id == "gone")
            assert failed.worker == "w1" and "video.mp4" in (failed.last_error or failed.description)
            key = health_key("worker", "w1")
            wait_for("health key", lambda: key in read_health(admin, ttl_s=1.0))
            first = read_health(admin, ttl_s=1.0)[key]
            assert first["name"] == "w1" and sorted(first["cameras"]) == ["cam0", "gone"]  # type: ignore[arg-type]
            assert "password" not in str(first) and first["broker"]["state"] == "connected"  # type: ignore[index]
            wait_for("health refreshed", lambda: read_health(admin, ttl_s=1.0)[key]["at"] > first["at"])
            assert read_health(admin, ttl_s=1.0)[key]["feed"]["frames"] > 0
        assert key not in read_health(admin, ttl_s=1.0), "a clean stop deletes the health key"
        # a killed process puts no more: its key lapses by the bucket's TTL
        reporter = HealthReporter(admin, health_key("worker", "dead"), lambda: {"x": 1}, 0.3, 1.0).start()
        wait_for("dead's key", lambda: "worker.dead" in read_health(admin, ttl_s=1.0))
        reporter.stop(delete=False)
        wait_for("dead's key lapses", lambda: "worker.dead" not in read_health(admin, ttl_s=1.0), 5.0)
    finally:
        wclient.close()
        admin.close()


def test_health_key_names() -> None:
    assert health_key("worker", "host.lan-42") == "worker.host_lan-42"
    assert health_key("memory", "") == "memory._"
