"""The web app in the distributed mode (``reidcam serve --broker``), against a real nats-server.

The test plays the workers: it publishes the feed messages a worker sends (``broker.feed``) and
reads what the web writes to the shared buckets, so the web side is checked on its own; the
whole chain with real workers is in tests/cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from web_support import fake_config, wait_for

from broker.nats_support import NatsServer, broker_config
from reidcam.broker.connection import BrokerClient
from reidcam.broker.feed import (
    FeedObservation,
    FrameFeed,
    StatusFeed,
    encode_frame,
    encode_status,
    frame_subject,
    status_subject,
    watch_subject,
)
from reidcam.broker.leases import CameraRegistry
from reidcam.broker.settings import QUERIES, THRESHOLD, QueryPerson, SharedSettings
from reidcam.web import Services, create_app

pytestmark = pytest.mark.broker


@pytest.fixture
def worker(nats_server: NatsServer) -> Iterator[BrokerClient]:
    """The test's own connection: it plays the workers and reads the buckets."""
    with BrokerClient(broker_config(nats_server.url)) as c:
        registry = CameraRegistry(c).open()
        for cid in registry.cameras():  # each test starts with an empty registry
            registry.remove(cid)
        SharedSettings(c).open().set_queries([])  # and nobody looked for
        yield c


@pytest.fixture
def web(
    nats_server: NatsServer, worker: BrokerClient, make_services: Callable[..., Services]
) -> Iterator[TestClient]:
    registry = CameraRegistry(worker).open()
    registry.put("cam0", {"source": "rtsp://10.0.0.7/live", "name": "Door"})
    registry.put("cam1", {"source": "rtsp://10.0.0.8/live"})
    with BrokerClient(broker_config(nats_server.url)) as broker:
        services = make_services(broker=broker)
        with TestClient(create_app(fake_config(), services)) as c:
            yield c


def _cameras(client: TestClient) -> dict[str, dict[str, Any]]:
    return {c["camera_id"]: c for c in client.get("/api/cameras").json()}


def _publish(client: BrokerClient, subject: str, data: bytes) -> None:
    async def send() -> None:
        await client.nc.publish(subject, data)
        await client.nc.flush()

    client.call(send())


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (128, 64)) -> bytes:
    img = np.full((size[0], size[1], 3), colour, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def _frame(index: int, *, decision: dict[str, Any] | None = None, crop: bool = True,
           picture: bool = False, camera: str = "cam0") -> FrameFeed:  # fmt: skip
    obs = FeedObservation(
        0, (100.0, 50.0, 164.0, 178.0), 0.9, 1, True, "ok", decision, _jpeg((30, 30, 220)) if crop else None
    )
    return FrameFeed(
        camera_id=camera,
        index=index,
        captured_at=time.time(),
        width=640,
        height=360,
        worker="w1",
        observations=(obs,),
        fps=9.5,
        frames_processed=index + 1,
        image_jpeg=_jpeg((200, 200, 200), (180, 320)) if picture else None,
    )


def test_cameras_are_the_registry_and_show_their_worker_state(web: TestClient, worker: BrokerClient) -> None:
    cams = _cameras(web)
    assert list(cams) == ["cam0", "cam1"]
    assert cams["cam0"]["name"] == "Door"
    assert cams["cam0"]["state"] == "starting" and "waiting for a worker" in cams["cam0"]["last_error"]
    _publish(worker, status_subject("cam1"), encode_status(
        StatusFeed("cam1", "w2", "failed", last_error="cannot open rtsp://10.0.0.8/live", at=time.time())
    ))  # fmt: skip
    wait_for(lambda: _cameras(web)["cam1"]["state"] == "failed", what="cam1 failed, from its worker")
    assert _cameras(web)["cam1"]["worker"] == "w2"
    _publish(worker, frame_subject("cam0"), encode_frame(_frame(0)))
    wait_for(lambda: _cameras(web)["cam0"]["frames_processed"] == 1, what="cam0's counters from its feed")
    assert _cameras(web)["cam0"]["fps"] == 9.5 and _cameras(web)["cam0"]["worker"] == "w1"
    # a camera registered by someone else (`reidcam cameras add`) shows up by itself
    CameraRegistry(worker).open().put("cam2", {"source": "/videos/yard.mp4"})
    wait_for(lambda: "cam2" in _cameras(web), what="cam2 from the registry")


def test_add_and_remove_write_the_registry(web: TestClient, worker: BrokerClient) -> None:
    registry = CameraRegistry(worker).open()
    r = web.post("/api/cameras", json={"id": "lobby", "source": "rtsp://viewer:${LOBBY_PW}@10.0.0.9/live"})
    assert r.status_code == 201, r.text
    assert registry.cameras()["lobby"] == {"source": "rtsp://viewer:${LOBBY_PW}@10.0.0.9/live"}
    r = web.post("/api/cameras", json={"id": "leak", "source": "rtsp://viewer:hunter22@10.0.0.9/live"})
    assert r.status_code == 400 and "password" in r.json()["detail"]
    assert "hunter22" not in r.text and "leak" not in registry.cameras()
    assert web.post("/api/cameras", json={"id": "lobby", "source": "x.mp4"}).status_code == 409
    assert web.delete("/api/cameras/lobby").status_code == 204
    assert "lobby" not in registry.cameras() and "lobby" not in _cameras(web)
    assert web.delete("/api/cameras/lobby").status_code == 404
    assert web.post("/api/stop").status_code == 409  # the workers run the cameras


def test_threshold_is_shared_both_ways(web: TestClient, worker: BrokerClient) -> None:
    settings = SharedSettings(worker).open()
    r = web.put("/api/threshold", json={"threshold": 0.77})
    assert r.status_code == 200
    assert settings.get(THRESHOLD) == 0.77
    version = r.json()["version"]
    settings.set_threshold(0.71)  # another web server behind the same proxy
    wait_for(lambda: web.get("/api/threshold").json()["threshold"] == 0.71, what="the other server's value")
    assert web.get("/api/threshold").json()["version"] > version


def test_feed_fills_gallery_query_goes_to_workers_and_matches_show(
    web: TestClient, worker: BrokerClient
) -> None:
    for i in range(3):  # a crop with the first frame only: later frames borrow it
        _publish(worker, frame_subject("cam0"), encode_frame(_frame(i, crop=i == 0)))

    def one_card_of_three_frames() -> bool:  # the feed is handled on its own thread
        cards = web.get("/api/gallery").json()["cards"]
        return len(cards) == 1 and cards[0]["observations"] == 3

    wait_for(one_card_of_three_frames, what="one gallery card from the feed's three frames")
    card = web.get("/api/gallery").json()["cards"][0]
    assert card["camera_id"] == "cam0" and card["track_id"] == 1
    crop_id = card["crops"][0]["crop_id"]
    r = web.post("/api/query/crops", json={"crop_ids": [crop_id], "label": "Alice"})
    assert r.status_code == 200, r.text
    qid = r.json()["query_id"]
    people = SharedSettings(worker).open().get(QUERIES)
    assert isinstance(people, tuple) and [p.name for p in people] == [qid]  # the workers' query set
    decision = {"verdict": "match", "query_id": f"shared:{qid}", "similarity": 0.91, "runner_up_id": None,
                "runner_up_similarity": None, "threshold": 0.7, "reason": "above threshold"}  # fmt: skip
    _publish(worker, frame_subject("cam0"), encode_frame(_frame(3, decision=decision)))
    wait_for(lambda: web.get("/api/matches").json()["total"] == 1, what="the worker's match on the page")
    match = web.get("/api/matches").json()["matches"][0]
    assert match["query_id"] == qid and match["label"] == "Alice" and match["camera_id"] == "cam0"


def test_two_web_servers_share_one_query_set(
    web: TestClient,
    worker: BrokerClient,
    nats_server: NatsServer,
    make_services: Callable[..., Services],
    tmp_path: Path,
) -> None:
    """Replicas behind a proxy: a query chosen on one server is the query on the other (label and
    matches), a query added on the other joins it (ids never collide), and Clear on either ends it."""
    img = np.full((128, 64, 3), (30, 30, 220), np.uint8)
    ok, png = cv2.imencode(".png", img)
    assert ok
    r = web.post(
        "/api/query/upload", files={"file": ("a.png", png.tobytes(), "image/png")}, data={"label": "Alice"}
    )
    assert r.status_code == 200, r.text
    alice = r.json()["query"]["query_id"]
    with (
        BrokerClient(broker_config(nats_server.url)) as broker,
        TestClient(create_app(fake_config(), make_services(broker=broker, data_dir=tmp_path / "b"))) as other,
    ):
        # a server started after the query was chosen takes it over at start
        [q] = other.get("/api/query").json()["queries"]
        assert (q["query_id"], q["label"], q["source"]) == (alice, "Alice", "shared")
        [picture] = q["images"]  # her picture came with her, small
        r = other.get(picture["url"])
        shown = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert r.status_code == 200 and shown.shape[0] == 128 and shown[64, 32, 2] > 180  # red, as uploaded
        decision = {"verdict": "match", "query_id": f"shared:{alice}", "similarity": 0.91,
                    "runner_up_id": None, "runner_up_similarity": None, "threshold": 0.7,
                    "reason": "above threshold"}  # fmt: skip
        _publish(worker, frame_subject("cam0"), encode_frame(_frame(0, decision=decision)))
        for page in (web, other):  # both servers show the worker's match, under her label
            wait_for(lambda page=page: page.get("/api/matches").json()["total"] == 1, what="the match")
            [m] = page.get("/api/matches").json()["matches"]
            assert (m["query_id"], m["label"]) == (alice, "Alice")
        r = other.post("/api/query/upload", files={"file": ("b.png", png.tobytes(), "image/png")},
                       data={"label": "Bob", "replace": "false"})  # fmt: skip
        assert r.status_code == 200, r.text
        bob = r.json()["query"]["query_id"]
        assert bob != alice
        wait_for(lambda: {q["label"] for q in web.get("/api/query").json()["queries"]} == {"Alice", "Bob"},
                 what="the other server's added query on the first")  # fmt: skip
        people = SharedSettings(worker).open().get(QUERIES)
        assert isinstance(people, tuple)
        assert sorted((p.name, p.label) for p in people) == sorted([(alice, "Alice"), (bob, "Bob")])
        assert web.delete("/api/query").status_code == 200
        wait_for(
            lambda: other.get("/api/query").json()["queries"] == [], what="Clear reaches the other server"
        )
        assert SharedSettings(worker).open().get(QUERIES) == ()


def test_two_servers_changing_the_query_set_at_once_lose_neither_change(
    web: TestClient, worker: BrokerClient
) -> None:
    """Server A adds Bob before it heard that server B added Xavier: the shared set and A's page
    get both (compare-and-set, then a merge), not A's set over B's."""
    img = np.full((128, 64, 3), (30, 30, 220), np.uint8)
    png = cv2.imencode(".png", img)[1].tobytes()
    r = web.post("/api/query/upload", files={"file": ("a.png", png, "image/png")}, data={"label": "Alice"})
    assert r.status_code == 200, r.text
    settings = SharedSettings(worker).open()
    wait_for(lambda: len(settings.get(QUERIES) or ()) == 1, what="Alice shared")
    web.app.state.controller.link._watch.stop()  # type: ignore[attr-defined]  # A hears nothing more
    [alice] = settings.get(QUERIES)  # type: ignore[misc]
    xavier = QueryPerson("qb0b0b0-1", alice.model_id, alice.vectors[:, ::-1].copy(), "Xavier")
    settings.set_queries([alice, xavier])  # server B's write
    r = web.post("/api/query/upload", files={"file": ("b.png", png, "image/png")},
                 data={"label": "Bob", "replace": "false"})  # fmt: skip
    assert r.status_code == 200, r.text
    people = settings.get(QUERIES)
    assert isinstance(people, tuple)
    assert sorted(p.label for p in people) == ["Alice", "Bob", "Xavier"]
    assert {q["label"] for q in web.get("/api/query").json()["queries"]} == {"Alice", "Bob", "Xavier"}


def test_another_servers_write_that_lands_while_this_one_writes_is_shown(
    web: TestClient, worker: BrokerClient
) -> None:
    """Server B writes right after server A's write, and B's change reaches A while A is still
    finishing its own write: A shows B's set once its write is done (it did not drop it)."""
    ctrl = web.app.state.controller  # type: ignore[attr-defined]
    settings = SharedSettings(worker).open()
    replace_queries = ctrl.link.replace_queries

    def write_then_b_writes(people: list[QueryPerson], revision: int) -> None:
        replace_queries(people, revision)
        if any(p.label == "Bob" for p in people):
            xavier = QueryPerson("qb0b0b0-1", people[0].model_id, people[0].vectors[:, ::-1].copy(), "Xavier")
            settings.set_queries([*people, xavier])  # B's write, over A's
            wait_for(lambda: ctrl._adoption_missed, what="B's change reached A during A's write")

    ctrl.link.replace_queries = write_then_b_writes
    png = cv2.imencode(".png", np.full((128, 64, 3), (30, 30, 220), np.uint8))[1].tobytes()
    r = web.post("/api/query/upload", files={"file": ("b.png", png, "image/png")}, data={"label": "Bob"})
    assert r.status_code == 200, r.text
    assert {q["label"] for q in web.get("/api/query").json()["queries"]} == {"Bob", "Xavier"}


def test_people_pictures_come_from_the_memory_service_that_kept_them(
    web: TestClient, worker: BrokerClient, tmp_path: Path
) -> None:
    """The memory service keeps a sighting's crop on its own disk; the page behind another data
    directory (another machine) shows it through the broker; a crop nobody has is a quick 404."""
    from dataclasses import replace

    from broker.nats_support import make_sighting
    from reidcam.broker.streams import publish_sighting, setup_sightings_stream
    from reidcam.broker.wire import WireCrop
    from reidcam.cluster.memory_service import MemoryService, ServiceSettings
    from reidcam.core.types import BestCrop
    from reidcam.identity import IdentityMemory

    url = str(web.app.state.services.memory.engine.url)  # type: ignore[attr-defined]
    img = np.full((200, 80, 3), (20, 40, 210), np.uint8)
    crop = WireCrop.from_best(BestCrop(img, np.array([0, 0, 80, 200], np.float32), 0.8, 5, 105.0))
    sighting = replace(make_sighting(seed=21), crop=crop)
    with IdentityMemory.open(tmp_path / "memory-service", url=url) as memory:  # its disk, the same database
        service = MemoryService(worker, memory, ServiceSettings(name="m1", model_id=sighting.model_id))
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        try:
            setup_sightings_stream(worker)
            worker.call(publish_sighting(worker, sighting))
            wait_for(lambda: service.stats.stored == 1, what="the sighting stored by the memory service")
            [person] = web.get("/api/identities").json()["identities"]
            r = web.get(person["thumbnail_url"])
            [row] = memory.timeline(person["identity_id"])
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            assert r.content == memory.crop_file(row.crop_path).read_bytes()  # type: ignore[union-attr]
            timeline = web.get(f"/api/identities/{person['identity_id']}/timeline").json()["sightings"]
            assert web.get(timeline[0]["thumbnail_url"]).content == r.content
        finally:
            service.stop()
            thread.join(15)
        memory.crop_file(row.crop_path).unlink()  # type: ignore[union-attr]
    t0 = time.monotonic()
    assert web.get(f"/api/sightings/{row.id}/crop.jpg").status_code == 404  # nobody has it now
    assert time.monotonic() - t0 < 5


def test_a_shared_picture_that_claims_too_many_pixels_is_left_out(
    web: TestClient, worker: BrokerClient
) -> None:
    """Any broker client can write the shared query people: a picture whose header claims a
    60000 x 60000 image is never decoded; the person is adopted without it."""
    import struct

    real = cv2.imencode(".jpg", np.zeros((128, 64, 3), np.uint8))[1]
    forged = bytearray(bytes(real))
    at = next(i for i in range(2, len(forged) - 1) if forged[i] == 0xFF and forged[i + 1] == 0xC0)
    forged[at + 5 : at + 9] = struct.pack(">HH", 60000, 60000)
    model = web.app.state.controller.models.embedder.model_id  # type: ignore[attr-defined]
    vectors = np.ones((1, 8), np.float32)  # not unit length: another client's writer may not normalise
    person = QueryPerson("qf0f0f0-1", model, vectors, "Mallory", (bytes(forged), bytes(real)))
    SharedSettings(worker).open().set_queries([person])
    wait_for(lambda: [q["label"] for q in web.get("/api/query").json()["queries"]] == ["Mallory"],
             what="the person adopted")  # fmt: skip
    [q] = web.get("/api/query").json()["queries"]
    assert len(q["images"]) == 1  # the real picture only


def test_pictures_are_asked_for_only_while_watched(web: TestClient, worker: BrokerClient) -> None:
    pings: list[str] = []

    async def on_ping(msg: Any) -> None:
        pings.append(msg.subject)

    sub = worker.call(worker.nc.subscribe(watch_subject("cam0"), cb=on_ping))
    time.sleep(2.5)
    assert pings == []  # nobody watches: no pictures asked for
    stop = threading.Event()

    def watch() -> None:
        with web.stream("GET", "/api/cameras/cam0/stream.mjpg") as r:
            for _ in r.iter_bytes():
                if stop.is_set():
                    return

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    wait_for(lambda: pings, what="a watch ping while the stream is open")
    _publish(worker, frame_subject("cam0"), encode_frame(_frame(0, picture=True)))
    wait_for(lambda: web.get("/api/cameras/cam0/snapshot.jpg").status_code == 200, what="the picture")
    jpeg = web.get("/api/cameras/cam0/snapshot.jpg").content
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (180, 320)  # the worker's picture, boxes drawn on it
    stop.set()
    _publish(worker, frame_subject("cam0"), encode_frame(_frame(1, picture=True)))  # ends the stream loop
    viewer.join(10)
    worker.call(sub.unsubscribe())


def test_a_snapshot_asks_the_worker_for_a_picture(web: TestClient, worker: BrokerClient) -> None:
    pings: list[str] = []
    answer = threading.Event()

    async def on_ping(msg: Any) -> None:  # a worker: a ping gets a frame with its picture
        pings.append(msg.subject)
        if answer.is_set():
            await worker.nc.publish(frame_subject("cam0"), encode_frame(_frame(len(pings), picture=True)))

    sub = worker.call(worker.nc.subscribe("reidcam.cameras.*.watch", cb=on_ping))
    _publish(worker, frame_subject("cam0"), encode_frame(_frame(0)))  # live, no picture
    t0 = time.monotonic()
    r = web.get("/api/cameras/cam0/snapshot.jpg")  # nobody answers: an honest 409 after a wait
    assert r.status_code == 409 and "not delivered a frame yet" in r.json()["detail"]
    assert 2.5 < time.monotonic() - t0 < 6
    assert pings == [watch_subject("cam0")]  # asked once, that camera only
    answer.set()
    r = web.get("/api/cameras/cam0/snapshot.jpg")
    assert r.status_code == 200, r.text
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (180, 320)
    assert pings == [watch_subject("cam0")] * 2
    assert web.get("/api/cameras/cam0/snapshot.jpg").status_code == 200  # fresh: no new ping
    assert len(pings) == 2
    worker.call(sub.unsubscribe())


def test_unreachable_broker_at_serve_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from broker.nats_support import free_port

    port = free_port()
    r = subprocess.run(
        [sys.executable, "-m", "reidcam.cli", "serve", "--broker", f"nats://127.0.0.1:{port}",
         "--data-dir", str(tmp_path), "--port", str(free_port())],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "cannot reach the NATS broker" in errors[0], r.stderr


@pytest.fixture
def bare_web(
    nats_server: NatsServer, worker: BrokerClient, make_services: Callable[..., Services]
) -> Iterator[TestClient]:
    """The page over an empty registry."""
    with (
        BrokerClient(broker_config(nats_server.url)) as broker,
        TestClient(create_app(fake_config(), make_services(broker=broker))) as c,
    ):
        yield c


def test_a_camera_added_in_the_page_runs_on_a_real_worker_and_goes_when_removed(
    bare_web: TestClient, nats_server: NatsServer
) -> None:
    """The whole loop with a real worker (fake models, the synthetic scene): the page's Add puts
    the camera in the registry, a worker leases it, its feed makes the panel live with pictures
    and gallery cards; the page's × makes the worker let go."""
    from functools import partial

    from reidcam.cluster.worker import Worker, WorkerOptions
    from reidcam.commands.worker import serve_worker
    from reidcam.testing.live import scene_camera
    from reidcam.testing.models import fake_models

    with BrokerClient(broker_config(nats_server.url)) as wclient:
        options = WorkerOptions(name="w1", poll_s=0.2, flush_timeout_s=3.0)
        w = Worker(wclient, fake_models(), partial(scene_camera, fps=10.0), options)
        stop = threading.Event()
        thread = threading.Thread(target=serve_worker, args=(w, stop), daemon=True)
        thread.start()
        try:
            t0 = time.monotonic()
            r = bare_web.post("/api/cameras", json={"id": "lobby", "source": "synthetic-cam0"})
            assert r.status_code == 201, r.text
            wait_for(lambda: w.cameras() == ["lobby"], timeout_s=10, what="the worker leases the new camera")

            def live_on_w1() -> bool:
                cam = _cameras(bare_web)["lobby"]
                return bool(cam["state"] == "live" and cam["worker"] == "w1" and cam["frames_processed"] > 0)

            wait_for(live_on_w1, timeout_s=10, what="the panel live, run by w1")
            assert time.monotonic() - t0 < 10  # "within seconds"
            r = bare_web.get("/api/cameras/lobby/snapshot.jpg")  # nobody watches: asked for
            assert r.status_code == 200, r.text
            assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR) is not None

            def lobby_cards() -> int:
                cards = bare_web.get("/api/gallery").json()["cards"]
                return sum(1 for c in cards if c["camera_id"] == "lobby" and c["crops"])

            wait_for(lobby_cards, timeout_s=10, what="gallery cards with crops from the worker's feed")
            assert bare_web.delete("/api/cameras/lobby").status_code == 204
            wait_for(lambda: w.cameras() == [], timeout_s=5, what="the worker lets the camera go")
            assert "lobby" not in _cameras(bare_web)
        finally:
            stop.set()
            w.wake()
            thread.join(20)
    assert not thread.is_alive(), "the worker did not stop"


def test_the_page_reconnects_after_a_broker_restart(
    own_nats_server: NatsServer, make_services: Callable[..., Services]
) -> None:
    """The broker (file store) stops under a running page and comes back: the page says it is
    away, keeps its cameras, and afterwards follows the feed, the settings and the registry again
    and writes to them, without a restart of its own."""
    with (
        BrokerClient(broker_config(own_nats_server.url)) as w,
        BrokerClient(broker_config(own_nats_server.url)) as broker,
        TestClient(create_app(fake_config(), make_services(broker=broker))) as web,
    ):
        registry = CameraRegistry(w).open()
        registry.put("cam0", {"source": "rtsp://10.0.0.7/live"})
        wait_for(lambda: list(_cameras(web)) == ["cam0"], what="the registry's camera")
        own_nats_server.stop()
        wait_for(lambda: "broker" in (web.get("/api/status").json()["error"] or ""), what="broker away, said")
        assert list(_cameras(web)) == ["cam0"]  # the last registry read is kept
        own_nats_server.start()
        wait_for(lambda: web.get("/api/status").json()["error"] is None, timeout_s=20, what="reconnected")
        wait_for(lambda: w.connected, timeout_s=20, what="the worker's client reconnected")
        _publish(w, frame_subject("cam0"), encode_frame(_frame(0)))  # the feed subscription is back
        wait_for(lambda: _cameras(web)["cam0"]["frames_processed"] > 0, what="a frame after the restart")
        settings = SharedSettings(w).open()
        assert web.put("/api/threshold", json={"threshold": 0.74}).status_code == 200
        assert settings.get(THRESHOLD) == 0.74  # the page writes again
        settings.set_threshold(0.79)  # and follows another server's change again
        wait_for(lambda: web.get("/api/threshold").json()["threshold"] == 0.79, timeout_s=15,
                 what="the settings watch is back")  # fmt: skip
        registry.put("cam1", {"source": "rtsp://10.0.0.8/live"})
        wait_for(lambda: list(_cameras(web)) == ["cam0", "cam1"], what="the registry read is back")


def test_cluster_lists_the_live_workers_and_memory_services(
    web: TestClient, worker: BrokerClient, client: TestClient
) -> None:
    from reidcam.broker.health import HealthReporter, health_key

    reporters = [
        HealthReporter(worker, health_key("worker", "w7"), lambda: {"cameras": ["cam0"]}, every_s=0.2),
        HealthReporter(worker, health_key("memory", "m1"), lambda: {"stored": 12}, every_s=0.2),
    ]
    for r in reporters:
        r.start()
    try:
        wait_for(lambda: "w7" in web.get("/api/cluster").json()["workers"], what="the worker's health")
        out = web.get("/api/cluster").json()
        assert out["workers"]["w7"] == {"cameras": ["cam0"]} and out["memory"]["m1"] == {"stored": 12}
        assert out["broker"]["state"] == "connected"
        assert out["summary"] == "1 worker · 1/2 cameras · no active memory"  # the page's line
        assert "no worker runs 1 camera yet: cam1" in out["problems"]
    finally:
        reporters[0].stop(delete=True)  # a clean stop deletes its key: gone from the list at once
    wait_for(lambda: "w7" not in web.get("/api/cluster").json()["workers"], what="the stopped worker gone")
    reporters[1].stop(delete=True)
    r = client.get("/api/cluster")  # one machine: there is no cluster
    assert r.status_code == 404 and "--broker" in r.json()["detail"]
