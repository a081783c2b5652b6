"""The identity memory through the web app: people, timelines, feedback, photo search, restarts.

Fake models and the synthetic two-camera scene (Alice crosses cam0 then cam1), on a temp SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from web_support import ALICE, CAMERAS, IDENTITY_SETTINGS, fake_config, is_colour, wait_for

from reidcam.core.types import Sighting, SightingKey, l2_normalize
from reidcam.identity import IdentityMemory
from reidcam.identity.topology import Link, Topology
from reidcam.web import Services, create_app

ZERO_IDN = "idn_" + "0" * 20
ZERO_SIG = "sig_" + "0" * 20


def _people(client: TestClient, **params: object) -> list[dict]:
    r = client.get("/api/identities", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["identities"]


def _colour_of(client: TestClient, person: dict) -> bool:
    url = person["thumbnail_url"]
    return url is not None and is_colour(client.get(url).content, ALICE)


def _alice(client: TestClient) -> dict | None:
    """Alice's identity once she has been seen on both cameras."""
    for p in _people(client):
        if set(p["camera_ids"]) == set(CAMERAS) and _colour_of(client, p):
            return p
    return None


def _timeline(client: TestClient, identity_id: str, **params: object) -> list[dict]:
    r = client.get(f"/api/identities/{identity_id}/timeline", params=params)
    assert r.status_code == 200, r.text
    return r.json()["sightings"]


def _record_alice(client: TestClient) -> dict:
    """Run the cameras until Alice is an identity seen on both cameras, then stop (all written)."""
    assert client.post("/api/start").json()["running"] is True
    wait_for(lambda: _alice(client), timeout_s=30, what="Alice's identity on both cameras")
    assert client.post("/api/stop").json()["running"] is False
    alice = _alice(client)
    assert alice is not None
    return alice


def _memory_files(data: Path) -> set[Path]:
    return {p for p in (data / "memory").rglob("*.jpg") if not p.name.startswith(".")}


def test_people_timeline_feedback_merge_delete(client: TestClient, services: Services) -> None:
    alice = _record_alice(client)
    aid = alice["identity_id"]
    people = _people(client)
    # Alice and at least one other (a loaded machine may drop every frame of a passer-by)
    assert len(people) >= 2 and all(p["n_sightings"] >= 1 for p in people)
    assert client.get(f"/api/identities/{aid}").json()["identity_id"] == aid

    # Her timeline spans both cameras, oldest first, every thumbnail is her.
    line = _timeline(client, aid)
    assert {s["camera_id"] for s in line} == set(CAMERAS)
    assert [s["first_seen_at"] for s in line] == sorted(s["first_seen_at"] for s in line)
    assert all(is_colour(client.get(s["thumbnail_url"]).content, ALICE) for s in line)
    assert {s["camera_id"] for s in _timeline(client, aid, camera_id="cam1")} == {"cam1"}
    assert _timeline(client, aid, since=line[-1]["last_seen_at"] + 1) == []

    # Confirm one sighting; reject another: it leaves her and is placed elsewhere.
    assert len(line) >= 3, "the looping cameras show her several times"
    r = client.post(f"/api/sightings/{line[0]['sighting_id']}/confirm")
    assert r.status_code == 200, r.text
    assert r.json()["identity_id"] == aid and r.json()["feedback"] is not None
    rejected = line[-1]["sighting_id"]
    r = client.post(f"/api/sightings/{rejected}/reject")
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["identity_id"] != aid
    assert rejected not in {s["sighting_id"] for s in _timeline(client, aid)}
    assert rejected in {s["sighting_id"] for s in _timeline(client, moved["identity_id"])}

    # Rename: she becomes a query (source 'memory') that the query list shows.
    r = client.patch(f"/api/identities/{aid}", json={"name": "Alice", "notes": "red coat"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Alice" and r.json()["confirmed"] is True
    assert r.json()["notes"] == "red coat"
    queries = client.get("/api/query").json()["queries"]
    assert [(q["query_id"], q["label"], q["source"]) for q in queries] == [(aid, "Alice", "memory")]
    assert [p["identity_id"] for p in _people(client, named_only=True)] == [aid]

    # Merge the identity the rejected sighting went to back into her.
    other = moved["identity_id"]
    before = client.get(f"/api/identities/{aid}").json()["n_sightings"]
    r = client.post(f"/api/identities/{aid}/merge", json={"other_id": other})
    assert r.status_code == 200, r.text
    assert r.json()["n_sightings"] > before
    assert client.get(f"/api/identities/{other}").status_code == 404
    assert client.post(f"/api/identities/{aid}/merge", json={"other_id": aid}).status_code == 409

    # Delete (right to be forgotten): identity, sightings and crop files are gone, and the query.
    files = _memory_files(services.data_dir)
    crops = [s["thumbnail_url"] for s in _timeline(client, aid)]
    r = client.delete(f"/api/identities/{aid}")
    assert r.status_code == 200, r.text
    assert r.json()["files_removed"] == len(crops) >= 3
    assert len(_memory_files(services.data_dir)) == len(files) - len(crops)
    assert all(client.get(url).status_code == 404 for url in crops)
    assert client.get(f"/api/identities/{aid}").status_code == 404
    assert client.get(f"/api/identities/{aid}/timeline").status_code == 404
    assert client.get("/api/query").json()["queries"] == []


def _views(services: Services, query_id: str) -> int:
    """How many embeddings the live query of a named person holds."""
    found = [q for q in services.models.gallery.identities() if q.query_id == query_id]
    return len(found[0].vectors) if found else 0


def _stored_views(services: Services, identity_id: str) -> int:
    assert services.memory is not None
    info = services.memory.get_identity(identity_id)
    assert info is not None
    return info.n_embeddings


def test_split_and_assign(client: TestClient, services: Services) -> None:
    aid = _record_alice(client)["identity_id"]
    assert client.patch(f"/api/identities/{aid}", json={"name": "Alice"}).status_code == 200
    before = _views(services, aid)
    assert before >= 1  # named: she is a query of the live search
    sid = _timeline(client, aid)[0]["sighting_id"]
    r = client.post(f"/api/sightings/{sid}/split")
    assert r.status_code == 200, r.text
    assert r.json()["created_identity"] is True and r.json()["identity_id"] != aid
    # the user's word reaches the live search at once: the split-off view no longer speaks for her
    assert _views(services, aid) == _stored_views(services, aid) < before
    r = client.post(f"/api/sightings/{sid}/assign", json={"identity_id": aid})
    assert r.status_code == 200, r.text
    assert r.json()["identity_id"] == aid and r.json()["verdict"] == "manual"
    assert _views(services, aid) == _stored_views(services, aid) == before  # pinned back
    assert client.post(f"/api/sightings/{sid}/assign", json={"identity_id": ZERO_IDN}).status_code == 404


def test_search_by_photo_finds_alice_first(client: TestClient) -> None:
    alice = _record_alice(client)
    photo = client.get(_timeline(client, alice["identity_id"])[0]["thumbnail_url"]).content
    r = client.post("/api/search/photo", files={"file": ("alice.jpg", photo, "image/jpeg")}, data={"k": "5"})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert 1 <= len(hits) <= 5
    assert hits[0]["sighting"]["identity_id"] == alice["identity_id"] and hits[0]["similarity"] > 0.8
    assert [h["similarity"] for h in hits] == sorted((h["similarity"] for h in hits), reverse=True)
    assert is_colour(client.get(hits[0]["sighting"]["thumbnail_url"]).content, ALICE)
    assert r.json()["exact"] is True and "Approximate" not in r.json()["message"]

    only_cam1 = client.post(
        "/api/search/photo", files={"file": ("a.jpg", photo, "image/jpeg")}, data={"camera_id": "cam1"}
    ).json()["hits"]
    assert only_cam1 and {h["sighting"]["camera_id"] for h in only_cam1} == {"cam1"}
    future = client.post(
        "/api/search/photo", files={"file": ("a.jpg", photo, "image/jpeg")}, data={"since": "4e9"}
    ).json()
    assert future["hits"] == []

    for data in ({"k": "0"}, {"k": "x"}, {"since": "nan"}):
        bad = client.post("/api/search/photo", files={"file": ("a.jpg", photo, "image/jpeg")}, data=data)
        assert bad.status_code == 422, (data, bad.text)
    assert (
        client.post("/api/search/photo", files={"file": ("a.txt", b"hello", "text/plain")}).status_code == 415
    )


def test_an_approximate_search_says_so_and_how_to_narrow_it(client: TestClient, monkeypatch: Any) -> None:
    """A large PostgreSQL memory answers from its index (``tests/storage``: when it does): the
    page is told the result may miss some of the person's sightings, and how to narrow it."""
    from dataclasses import replace

    from reidcam.identity import IdentityMemory

    alice = _record_alice(client)
    photo = client.get(_timeline(client, alice["identity_id"])[0]["thumbnail_url"]).content
    search_photo = IdentityMemory.search_photo
    monkeypatch.setattr(
        IdentityMemory, "search_photo", lambda *a, **kw: replace(search_photo(*a, **kw), exact=False)
    )
    r = client.post("/api/search/photo", files={"file": ("alice.jpg", photo, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["hits"] and r.json()["exact"] is False
    assert "may have missed" in r.json()["message"] and "Narrow the time window" in r.json()["message"]


def test_bad_ids_and_path_traversal(client: TestClient) -> None:
    for url in (
        "/api/identities/idn_xyz",
        "/api/identities/IDN_" + "0" * 20,
        "/api/identities/idn_" + "0" * 21,
        "/api/sightings/sig_12/crop.jpg",
        "/api/sightings/idn_" + "0" * 20 + "/crop.jpg",
    ):
        assert client.get(url).status_code == 422, url
    assert client.get(f"/api/identities/{ZERO_IDN}").status_code == 404
    assert client.get(f"/api/identities/{ZERO_IDN}/thumbnail.jpg").status_code == 404
    assert client.get(f"/api/sightings/{ZERO_SIG}/crop.jpg").status_code == 404
    assert client.patch(f"/api/identities/{ZERO_IDN}", json={"name": "x"}).status_code == 404
    assert client.delete(f"/api/identities/{ZERO_IDN}").status_code == 404
    assert client.post(f"/api/sightings/{ZERO_SIG}/confirm").status_code == 404
    assert client.post(f"/api/sightings/{ZERO_SIG}/reject").status_code == 404
    assert client.post(f"/api/sightings/{ZERO_SIG}/assign", json={"identity_id": "x"}).status_code == 422
    assert client.post(f"/api/identities/{ZERO_IDN}/merge", json={"other_id": "../x"}).status_code == 422
    assert client.patch(f"/api/identities/{ZERO_IDN}", json={"name": "x" * 65}).status_code == 422
    for url in (
        "/api/sightings/..%2F..%2F..%2Fetc%2Fpasswd/crop.jpg",
        "/api/sightings/../../../etc/passwd/crop.jpg",
        "/api/sightings/%2e%2e%2freidcam.db/crop.jpg",
        "/api/identities/..%2Freidcam.db/thumbnail.jpg",
    ):
        r = client.get(url)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert not r.content.startswith(b"SQLite") and b"root:" not in r.content


def test_routes_need_the_token_and_a_memory(make_services: Callable[..., Services]) -> None:
    with TestClient(create_app(fake_config(), make_services(token="s3cret-token-123"))) as c:
        assert c.get("/api/identities").status_code == 401
        assert (
            c.get("/api/identities", headers={"Authorization": "Bearer s3cret-token-123"}).status_code == 200
        )
    with TestClient(create_app(fake_config(), make_services(memory=None))) as c:
        r = c.get("/api/identities")
        assert r.status_code == 503 and "identity memory is off" in r.json()["detail"]
        assert c.post(f"/api/sightings/{ZERO_SIG}/confirm").status_code == 503
        assert c.post("/api/start").json()["running"] is True  # detection works without a memory
        assert c.post("/api/stop").json()["running"] is False


def test_identities_and_named_queries_survive_a_restart(make_services: Callable[..., Services]) -> None:
    first = make_services()
    with TestClient(create_app(fake_config(), first)) as c:
        aid = _record_alice(c)["identity_id"]
        assert c.patch(f"/api/identities/{aid}", json={"name": "Alice"}).status_code == 200
        n_people = len(_people(c))
    first.memory.close()  # type: ignore[union-attr]

    again = make_services()  # fresh models (empty query gallery), same data dir
    assert again.data_dir == first.data_dir and len(again.models.gallery) == 0
    with TestClient(create_app(fake_config(), again)) as c:
        assert len(_people(c)) == n_people
        assert [p["name"] for p in _people(c, named_only=True)] == ["Alice"]
        queries = c.get("/api/query").json()["queries"]
        assert [(q["query_id"], q["label"], q["source"]) for q in queries] == [(aid, "Alice", "memory")]
        assert [i.query_id for i in again.models.gallery.identities()] == [aid]

        # Matching resumes: she is matched, under her name, on both cameras.
        c.post("/api/start")

        def named_on_both() -> bool:
            ms = c.get("/api/matches").json()["matches"]
            return {m["camera_id"] for m in ms if m["query_id"] == aid and m["label"] == "Alice"} == set(
                CAMERAS
            )

        wait_for(named_on_both, timeout_s=30, what="matches of the restored query on both cameras")


def test_merging_people_seen_at_once_on_one_camera_is_refused_with_the_reason(
    client: TestClient, services: Services
) -> None:
    def seen(track: int, t0: float) -> str:
        vec = l2_normalize(np.random.default_rng(track).normal(size=16))
        s = Sighting(SightingKey("cam0", track, 0), t0, t0 + 10.0, 3, vec.astype(np.float32), "fake", None)
        return services.memory.record_sighting(s).identity_id

    a, b = seen(1, 1000.0), seen(2, 1005.0)
    r = client.post(f"/api/identities/{a}/merge", json={"other_id": b})
    assert r.status_code == 409 and "seen at the same time on camera cam0" in r.json()["detail"], r.text
    assert client.get(f"/api/identities/{b}").status_code == 200, "nothing was merged"


def test_merging_people_the_camera_topology_keeps_apart_is_refused_with_the_reason(
    make_memory: Callable[..., IdentityMemory], make_services: Callable[..., Services], tmp_path: Path
) -> None:
    # cam0 <-> cam1 takes at least 30 s (cameras[].neighbours); these two were 5 s apart
    topology = Topology.from_links([Link("cam0", "cam1", 30.0, 300.0)])
    memory = IdentityMemory.open(tmp_path / "topo", settings=replace(IDENTITY_SETTINGS, topology=topology))
    try:

        def seen(camera: str, track: int, t0: float) -> str:
            vec = l2_normalize(np.random.default_rng(track).normal(size=16)).astype(np.float32)
            s = Sighting(SightingKey(camera, track, 0), t0, t0 + 10.0, 3, vec, "fake", None)
            return memory.record_sighting(s).identity_id

        now = time.time()  # recent: the app's retention pass at start keeps them
        a, b = seen("cam0", 1, now - 100.0), seen("cam1", 2, now - 85.0)
        with TestClient(create_app(fake_config(), make_services(memory=memory))) as client:
            r = client.post(f"/api/identities/{a}/merge", json={"other_id": b})
            assert r.status_code == 409, r.text
            assert "camera topology" in r.json()["detail"]
            assert "cam0 -> cam1 in 5.0 s, a walk takes at least 30.0 s" in r.json()["detail"]
            assert client.get(f"/api/identities/{b}").status_code == 200, "nothing was merged"
    finally:
        memory.close()
