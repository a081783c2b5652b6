"""A full or unwritable data directory under the web app: a storage warning in /api/status,
detection and matching go on, identity rows never name a crop file that was not written."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import ALICE, IDENTITY_SETTINGS, fake_config, wait_for

from reidcam.identity import IdentityMemory
from reidcam.storage.db import default_url
from reidcam.testing import crop_of
from reidcam.testing.disk import DiskUnavailable, TinyDisk
from reidcam.web import Services, create_app


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyDisk]:
    try:
        with TinyDisk(tmp_path / "disk", size_kib=2048) as d:
            yield d
    except DiskUnavailable as exc:
        pytest.skip(f"no tiny disk to fill: {exc} (the ENOTDIR test in this file still runs)")


def _status(client: TestClient) -> dict:
    r = client.get("/api/status")
    assert r.status_code == 200, r.text
    return r.json()


def _crop_paths(memory: IdentityMemory) -> list[str | None]:
    """Crop paths of every stored sighting; each one that is set names a file that exists."""
    paths = []
    for ident in memory.list_identities(limit=1000):
        for s in memory.timeline(ident.id):
            assert s.crop_path is None or memory.crop_file(s.crop_path) is not None, s.crop_path
            paths.append(s.crop_path)
    return paths


def test_full_disk_warns_in_status_and_detection_goes_on(
    disk: TinyDisk, tmp_path: Path, make_services: Callable[..., Services]
) -> None:
    memory = IdentityMemory.open(disk.path, url=default_url(tmp_path), settings=IDENTITY_SETTINGS)
    try:
        services = make_services(data_dir=disk.path, memory=memory)
        with TestClient(create_app(fake_config(), services)) as client:
            client.app.state.controller.upload(crop_of(ALICE), "alice", True)  # saved while there is room
            ok = _status(client)["storage"]
            assert ok["failing"] is False and ok["write_errors"] == 0 and ok["last_error"] is None

            disk.fill()
            assert client.post("/api/start").json()["running"] is True
            st = wait_for(lambda: _status(client)["storage"]["failing"] and _status(client), what="a warning")
            assert st["storage"]["write_errors"] > 0 and st["crop_write_errors"] > 0
            assert "No space left on device" in st["storage"]["last_error"]
            # Detection and matching go on: matches listed (without thumbnails), frames counted.
            wait_for(lambda: _status(client)["matches"] > 0, what="a match on the full disk")
            matches = client.get("/api/matches").json()["matches"]
            assert matches and all(m["thumbnail_url"] is None for m in matches)
            seen = {c["camera_id"]: c["frames_processed"] for c in _status(client)["cameras"]}
            wait_for(
                lambda: all(c["frames_processed"] > seen[c["camera_id"]] for c in _status(client)["cameras"])
            )
            assert all(c["errors"] == 0 for c in _status(client)["cameras"])
            wait_for(lambda: len(_crop_paths(memory)) >= 2, what="sightings stored")
            assert set(_crop_paths(memory)) == {None}, "rows stored, naming no unwritten crop"

            disk.free()
            wait_for(lambda: not _status(client)["storage"]["failing"], what="the warning to clear")
            wait_for(lambda: any(_crop_paths(memory)), what="a sighting stored with its crop")
            assert _status(client)["storage"]["sightings_failed"] == 0
            client.post("/api/stop")
    finally:
        memory.close()


def test_unwritable_crop_folder_warns_in_status(client: TestClient, services: Services) -> None:
    """Without a mount: a regular file where the gallery folder should be fails every crop write
    (EEXIST from mkdir), root or not."""
    folder = services.data_dir / "query_images"
    shutil.rmtree(folder)
    folder.write_text("in the way")
    assert client.post("/api/start").json()["running"] is True
    # The first crop write comes after the first started frames; on the loaded 2-core CI machine
    # that has taken longer than the default 10 s once.
    st = wait_for(
        lambda: _status(client)["storage"]["failing"] and _status(client), timeout_s=30, what="a warning"
    )
    assert "File exists" in st["storage"]["last_error"] and st["storage"]["last_error_at"] > 0
    seen = sum(c["frames_processed"] for c in st["cameras"])
    wait_for(lambda: sum(c["frames_processed"] for c in _status(client)["cameras"]) > seen + 10)
    folder.unlink()
    folder.mkdir()
    wait_for(lambda: not _status(client)["storage"]["failing"], what="the warning to clear")
    client.post("/api/stop")
