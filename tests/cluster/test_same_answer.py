"""Same answer: the scene run in one process (as ``reidcam serve`` runs it) and by two workers +
the memory service give the same sightings, the same identity partition, the same match decisions.

(a) one ``Runner`` over both cameras with an ``IdentitySink`` into a fresh memory and the query
person in the local gallery (``web/controller.py`` ``_start_runner``);
(b) two workers (``max_cameras=1`` each) on their own connections, the query person set through
the shared settings, the memory service writing into another fresh memory.

Same input in both: the finite synthetic cameras with frame-index times (``scene_support``),
deterministic fake models. Commit order across cameras differs between (a) and (b) (one runner
interleaves the cameras' closes; two workers publish whenever each closes), so the identity
partition is compared as a set of groups: on this scene every person's sightings are far above
the identity threshold to each other and far below it to anybody else, so the joins do not
depend on the order (``test_the_partition_does_not_depend_on_commit_order`` checks that claim).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
from cluster_support import LEASE_TTL_S, wait_for
from fastapi.testclient import TestClient
from scene_support import (
    CAMERAS,
    Row,
    build_scene_camera,
    decision_key,
    partition,
    scene_unit,
    stored_sightings,
)

from broker.nats_support import NatsServer, broker_config
from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import CameraRegistry
from reidcam.broker.settings import QUERIES, SharedSettings
from reidcam.cluster.memory_service import MemoryService, ServiceSettings
from reidcam.cluster.worker import Worker, WorkerOptions
from reidcam.commands.worker import serve_worker
from reidcam.config import AppConfig, TrackerConfig
from reidcam.core.types import Sighting, Verdict
from reidcam.identity import IdentityMemory, IdentitySettings
from reidcam.identity.sink import IdentitySink
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.step import Models
from reidcam.testing.fakes import FakeEmbedder
from reidcam.testing.models import fake_models
from reidcam.testing.scene import crop_of
from reidcam.track import build_tracker
from reidcam.web import Services, create_app

pytestmark = pytest.mark.broker

MODEL = "fake-colour-v1"
SETTINGS = IdentitySettings(threshold=0.7, margin=0.05, max_embeddings_per_identity=8)
ALICE = (30, 30, 220)  # her colour in the scene: the query person


def alice_vectors() -> np.ndarray:
    return np.asarray(FakeEmbedder().embed([crop_of(ALICE)]).vectors)


def recording_decisions(models: Models) -> list[tuple]:
    """Every match decision the pipeline makes with ``models``, as ``decision_key``s."""
    seen: list[tuple] = []
    original = models.matcher.decide

    def spy(vector, model_id, gallery, camera_id=None):  # type: ignore[no-untyped-def]
        d = original(vector, model_id, gallery, camera_id)
        # the one query person: "alice" here, the page's query id in the cluster
        label = "alice" if d.query_id else None
        seen.append(decision_key(camera_id, d.verdict, label, d.similarity))
        return d

    models.matcher.decide = spy  # type: ignore[method-assign]
    return seen


def single_process(data_dir: Path) -> tuple[dict[Row, str], list[tuple]]:
    """(a): one runner, both cameras, the identity sink, the query in the local gallery."""
    from reidcam.core.types import Embeddings

    models = fake_models()
    models.gallery.add("alice", Embeddings(alice_vectors(), MODEL), label="alice")
    decisions = recording_decisions(models)
    with IdentityMemory.open(data_dir, settings=SETTINGS) as memory:
        sink = IdentitySink(memory)
        runner = Runner([scene_unit(c) for c in CAMERAS], models, sink=sink)
        runner.run()
        assert sink.close(), "the identity sink did not write everything"
        assert (sink.dropped, sink.failed) == (0, 0)
        return stored_sightings(memory.engine), decisions


@contextmanager
def on_thread(target: Callable[[], object], stop: Callable[[], None], name: str) -> Iterator[None]:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join(20)
        assert not thread.is_alive(), f"{name} did not stop"


def stop_worker(worker: Worker, stop: threading.Event) -> None:
    stop.set()
    worker.wake()


def cluster(url: str, data_dir: Path, expected: int) -> tuple[dict[Row, str], list[tuple], dict]:
    """(b): two workers with one camera each, the memory service; the query via shared settings."""
    clients: list[BrokerClient] = []

    def connect() -> BrokerClient:
        clients.append(BrokerClient(broker_config(url, lease_ttl_s=LEASE_TTL_S)).connect())
        return clients[-1]

    admin = connect()
    web = stack_web(connect(), data_dir / "web")
    query_id = upload_alice(web)  # a user's photo of the query person, through the page
    settings = SharedSettings(admin).open()
    wait_for(lambda: settings.get(QUERIES), 10.0, "the page shares its query")
    shared = settings.get(QUERIES)
    assert [q.name for q in shared] == [query_id]  # type: ignore[union-attr]
    np.testing.assert_allclose(shared[0].vectors, alice_vectors(), atol=1e-6)  # type: ignore[index]
    workers = []
    decisions: list[tuple] = []
    for name in ("w1", "w2"):
        models = fake_models()
        options = WorkerOptions(name=name, max_cameras=1, poll_s=0.2, flush_timeout_s=3.0)
        workers.append(Worker(connect(), models, build_scene_camera, options))
    try:
        with IdentityMemory.open(data_dir, settings=SETTINGS) as memory:
            service = MemoryService(
                connect(), memory,
                ServiceSettings(name="m1", model_id=MODEL, batch=8, fetch_timeout_s=0.2, retry_delay_s=0.2),
            )  # fmt: skip
            with on_thread(service.run, service.stop, "memory-service"):
                with ExitStack() as stack:
                    for w in workers:
                        stop = threading.Event()
                        stack.enter_context(on_thread(
                            partial(serve_worker, w, stop), partial(stop_worker, w, stop), w.options.name
                        ))  # fmt: skip
                    for w in workers:  # the query reached each worker before any camera runs
                        wait_for(lambda w=w: [i.label for i in w.models.gallery.identities()] == [query_id],
                                 10.0, f"{w.options.name} has the query")  # fmt: skip
                        decisions.append(recording_decisions(w.models))
                    registry = CameraRegistry(admin).open()
                    for cam in CAMERAS:
                        registry.put(cam, {"source": f"scene-{cam}"})
                    wait_for(lambda: sorted(w.cameras()[0] if w.cameras() else "" for w in workers)
                             == list(CAMERAS), 30.0, "each worker runs one camera")  # fmt: skip
                    wait_for(lambda: service.stats.stored >= expected, 60.0, f"{expected} sightings stored")
                    time.sleep(1.0)  # anything beyond the expected count would show now
                stats = {"service": vars(service.stats).copy(), "workers": [w.status() for w in workers]}
                stats["web_matches"] = web.get("/api/matches", params={"limit": 500}).json()["matches"]
                stats["query_id"] = query_id
            return stored_sightings(memory.engine), list(itertools.chain(*decisions)), stats
    finally:
        web.__exit__(None, None, None)
        for c in reversed(clients):
            c.close()


def stack_web(client: BrokerClient, data_dir: Path) -> TestClient:
    """``reidcam serve --broker`` on fake models (the page's query is embedded by them)."""
    services = Services(models=fake_models(), build_cameras=list, data_dir=data_dir, broker=client)
    web = TestClient(create_app(AppConfig(), services))
    web.__enter__()
    return web


def upload_alice(web: TestClient) -> str:
    """Her photo (a lossless crop) uploaded as the query; the query's id."""
    ok, png = cv2.imencode(".png", crop_of(ALICE))
    assert ok
    r = web.post("/api/query/upload", files={"file": ("alice.png", png.tobytes(), "image/png")},
                 data={"label": "Alice"})  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["query"]["query_id"])


def test_two_workers_and_the_memory_service_give_the_single_process_answer(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    build_tracker(TrackerConfig())  # the tracker's runtime loads once, outside both runs
    single, single_decisions = single_process(tmp_path / "single")
    assert {row[0] for row in single} == set(CAMERAS), "the scene's sightings on both cameras"
    distributed, cluster_decisions, stats = cluster(nats_server.url, tmp_path / "cluster", len(single))

    assert sorted(distributed) == sorted(single), "the same sightings (camera, track, part, first/last seen)"
    assert partition(distributed) == partition(single), "the same identity partition"
    assert sorted(cluster_decisions) == sorted(single_decisions), "the same match decisions"
    # not vacuous: alice crosses both cameras, so one identity spans them and she is matched on both
    assert any(len({row[0] for row in group}) == 2 for group in partition(single))
    assert {d[0] for d in single_decisions if d[2] == "alice" and d[1] == Verdict.MATCH.value} == set(CAMERAS)
    # the page over the broker shows those matches: on both cameras, each with a similarity the
    # single process decided as a match there, under the label given with the photo
    shown = [m for m in stats["web_matches"] if m["verdict"] == Verdict.MATCH.value]
    assert {m["camera_id"] for m in shown} == set(CAMERAS)
    assert {(m["query_id"], m["label"]) for m in shown} == {(stats["query_id"], "Alice")}
    single_matches = {(d[0], d[3]) for d in single_decisions if d[1] == Verdict.MATCH.value}
    assert {(m["camera_id"], round(m["similarity"], 5)) for m in shown} <= single_matches
    service = stats["service"]
    assert (service["stored"], service["duplicates"], service["rejected"]) == (len(single), 0, 0)
    assert sum(w.published for w in stats["workers"]) == len(single)


def test_the_partition_does_not_depend_on_commit_order(tmp_path: Path) -> None:
    """The order-independence the test above relies on: the single run's sightings committed in
    reverse order give the same partition."""
    models = fake_models()
    closed: list[Sighting] = []

    class Collect:
        def on_frame(self, result: object) -> None: ...
        def on_status(self, status: object) -> None: ...
        def on_sighting_closed(self, sighting: Sighting) -> None:
            closed.append(sighting)

    Runner([scene_unit(c) for c in CAMERAS], models, sink=Collect()).run()
    groups = []
    for i, order in enumerate((closed, closed[::-1])):
        with IdentityMemory.open(tmp_path / f"m{i}", settings=SETTINGS) as memory:
            for s in order:
                memory.record_sighting(s, now=s.last_seen_at)
            groups.append(partition(stored_sightings(memory.engine)))
    assert len(closed) >= 4 and groups[0] == groups[1]
