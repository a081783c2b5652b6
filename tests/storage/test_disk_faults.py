"""A full or read-only data directory: crop writes fail with a logged error, nothing else stops.

The disk is a real tmpfs of a few KiB (``reidcam.testing.disk.TinyDisk``), filled up (ENOSPC)
or remounted read-only (EROFS): the kernel refuses the writes, root included, which a
chmod'ed folder would not. Where mounting is not permitted those tests skip and say why;
the ENOTDIR tests at the end (a regular file where a folder is expected) always run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storage_support import SETTINGS, crop_image, person, sighting, view

from reidcam.config import TrackerConfig
from reidcam.core.events import FanOutSink
from reidcam.identity import IdentityMemory, IdentitySettings, IdentitySink
from reidcam.outputs.search_folders import SearchOutputSink
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.reid.enroll import enroll
from reidcam.storage.crop_store import CropStore
from reidcam.storage.db import StorageError, default_url
from reidcam.testing import FakeSource, crop_of, render, two_camera_scene
from reidcam.testing.disk import DiskUnavailable, TinyDisk
from reidcam.testing.models import fake_models
from reidcam.testing.sinks import RecordingSink
from reidcam.track import build_tracker

ALICE = (30, 30, 220)
N_FRAMES = 50
ERRNO_TEXT = {"full": "No space left on device", "read_only": "Read-only file system"}


@contextlib.contextmanager
def tiny_disk(path: Path, size_kib: int) -> Iterator[TinyDisk]:
    try:
        with TinyDisk(path, size_kib) as d:
            yield d
    except DiskUnavailable as exc:
        pytest.skip(f"no tiny disk to fill: {exc} (the ENOTDIR tests in this file cover the logic)")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyDisk]:
    with tiny_disk(tmp_path / "disk", 256) as d:
        yield d


@pytest.fixture(params=["full", "read_only"])
def fault(
    request: pytest.FixtureRequest, disk: TinyDisk
) -> tuple[str, Callable[[], None], Callable[[], None]]:
    """(kind, break the disk, repair it)."""
    if request.param == "full":
        return "full", disk.fill, disk.free
    return "read_only", disk.read_only, disk.writable


def _run_scene(sink) -> Runner:
    """The synthetic two-camera scene with fake models; alice (red) is the query."""
    units = []
    for cam in ("cam0", "cam1"):
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        source = FakeSource(cam, render(two_camera_scene(), cam, N_FRAMES))
        units.append(CameraUnit(cam, source, tracker, SightingBook(cam, max_missing_frames=10)))
    models = fake_models()
    enroll(models.gallery, models.embedder, "alice", [crop_of(ALICE)])
    runner = Runner(units, models, sink)
    runner.run()
    return runner


def _errors(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and text in r.getMessage()]


def _assert_rows_point_at_files(memory: IdentityMemory) -> list[str | None]:
    """Every sighting row's crop path is null or names a file that exists; returns the paths."""
    paths = []
    for ident in memory.list_identities(limit=1000):
        for s in memory.timeline(ident.id):
            assert s.crop_path is None or memory.crop_file(s.crop_path) is not None, s.crop_path
            paths.append(s.crop_path)
    return paths


# -- the crop store ---------------------------------------------------------------------------
def test_crop_writes_fail_with_one_logged_error_and_resume(fault, disk, caplog):
    kind, break_disk, repair = fault
    store = CropStore(disk.path)
    assert store.save("crops/a.jpg", crop_image()) == "crops/a.jpg"
    break_disk()
    assert [store.save(f"crops/b{i}.jpg", crop_image()) for i in range(5)] == [None] * 5
    assert store.write_errors == 5 and store.failing
    assert ERRNO_TEXT[kind] in (store.last_error or "")
    assert len(_errors(caplog, "cannot write crop")) == 1, "one error per failure streak, not per crop"
    repair()
    assert store.save("crops/c.jpg", crop_image()) == "crops/c.jpg"
    assert (disk.path / "crops/c.jpg").stat().st_size > 0 and not store.failing
    assert any("work again" in r.getMessage() for r in caplog.records)
    assert not list(disk.path.rglob(".tmp-*")), "a failed write leaves no temp file"


def test_a_repaired_folder_clears_the_warning_without_waiting_for_the_next_crop(fault, disk):
    """Crops are written now and then; the status must not wait for one to learn the disk is back."""
    _kind, break_disk, repair = fault
    store = CropStore(disk.path)
    assert store.save("crops/a.jpg", crop_image()) == "crops/a.jpg"
    break_disk()
    assert store.save("crops/b.jpg", crop_image()) is None and store.failing
    assert store.recheck(every_s=0.0) is False and store.failing, "still broken: the probe must fail"
    repair()
    assert store.recheck(every_s=60.0) is False, "probed a moment ago: not again so soon"
    store._probed_at = 0.0  # as if the last probe were old
    assert store.recheck(every_s=60.0) is True and not store.failing
    assert not list(disk.path.rglob(".reidcam-write-probe")) and not list(disk.path.rglob(".tmp-*"))


# -- the pipeline with the identity memory ------------------------------------------------------
def test_detection_and_matching_go_on_and_rows_never_name_missing_files(fault, disk, tmp_path, caplog):
    kind, break_disk, repair = fault
    memory = IdentityMemory.open(
        disk.path, url=default_url(tmp_path), settings=IdentitySettings(threshold=0.8)
    )
    try:
        break_disk()
        rec, sink = RecordingSink(), IdentitySink(memory)
        _run_scene(FanOutSink([rec, sink]))
        assert sink.close() and sink.failed == 0
        assert len(rec.frames) == 2 * N_FRAMES and rec.matched_cameras() == {"cam0", "cam1"}
        assert memory.crops.write_errors > 0 and ERRNO_TEXT[kind] in (memory.crops.last_error or "")
        assert _errors(caplog, "cannot write crop")
        before = _assert_rows_point_at_files(memory)
        assert len(before) >= 4 and before == [None] * len(before), "rows written, no crop named"

        repair()
        sink = IdentitySink(memory)
        _run_scene(FanOutSink([RecordingSink(), sink]))
        assert sink.close() and sink.failed == 0
        after = _assert_rows_point_at_files(memory)
        assert sum(p is not None for p in after) >= 4, "crop writes resume once the disk has room"
        assert not memory.crops.failing
    finally:
        memory.close()


def test_database_on_the_full_disk_stays_consistent(tmp_path):
    """The SQLite file on the full disk too: the sighting is not stored, nothing half-stored.

    2 MiB: the migrated database's write-ahead log alone takes about 170 KiB.
    """
    with tiny_disk(tmp_path / "disk", 2048) as disk:
        _db_on_full_disk(disk)
        with sqlite3.connect(disk.path / "reidcam.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _db_on_full_disk(disk: TinyDisk) -> None:
    memory = IdentityMemory.open(disk.path, settings=SETTINGS)
    try:
        memory.record_sighting(sighting("cam0", 1, view(person(1), 1), 100.0))
        counts = memory.counts()
        disk.fill()
        sink = IdentitySink(memory)
        sink.on_sighting_closed(sighting("cam0", 2, view(person(2), 2), 200.0))
        assert sink.flush(10) and sink.failed == 1 and sink.written == 0
        assert memory.counts() == counts
        disk.free()
        sink.on_sighting_closed(sighting("cam0", 3, view(person(3), 3), 300.0))
        assert sink.close() and sink.written == 1
        paths = _assert_rows_point_at_files(memory)
        assert len(paths) == 2 and None not in paths
        on_disk = {p.relative_to(disk.path).as_posix() for p in (disk.path / "memory").rglob("*.jpg")}
        assert on_disk == set(paths), "no orphan crop of the sighting that was not stored"
    finally:
        memory.close()


# -- the `reidcam search` output folder ----------------------------------------------------------
def test_search_output_on_a_full_disk_logs_clearly_and_the_run_goes_on(disk, caplog):
    out = disk.path / "out"
    sink = SearchOutputSink(out)
    disk.fill()
    rec = RecordingSink()
    runner = _run_scene(FanOutSink([sink, rec]))
    assert len(rec.frames) == 2 * N_FRAMES and rec.matched_cameras() == {"cam0", "cam1"}
    assert [u.errors for u in runner.cameras] == [0, 0], "a full disk is not a camera fault"
    assert len(_errors(caplog, "matches.jsonl")) == 1 and len(_errors(caplog, "cannot write crop")) == 1
    assert sink.lines_lost == sink.detections > 0
    disk.free()
    for result in rec.frames[-5:]:
        sink.on_frame(result)
    sink.close()
    lines = (out / "matches.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole and valid
    assert len(records) == sum(len(r.observations) for r in rec.frames[-5:]) > 0
    assert all(r["crop"] and (out / r["crop"]).is_file() for r in records), "crops saved again"
    assert any("is incomplete" in r.getMessage() for r in caplog.records)


def test_search_output_folder_that_cannot_be_created_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StorageError, match=r"cannot create the search output folder .*file/out"):
        SearchOutputSink(tmp_path / "file" / "out")


# -- without a mount: a regular file where a folder is expected (ENOTDIR) -------------------------
def test_unwritable_crop_folder_keeps_rows_consistent_and_resumes(tmp_path, caplog):
    memory = IdentityMemory.open(tmp_path / "data", settings=SETTINGS)
    try:
        blocker = tmp_path / "data" / "memory"
        blocker.write_text("a file where the crop folder should be")
        first = memory.record_sighting(sighting("cam0", 1, view(person(1), 1), 100.0))
        assert first is not None and first.crop_path is None
        assert memory.crops.write_errors == 1 and "Not a directory" in (memory.crops.last_error or "")
        assert _errors(caplog, "cannot write crop")
        blocker.unlink()
        second = memory.record_sighting(sighting("cam1", 1, view(person(2), 2), 200.0))
        assert second is not None and second.crop_path is not None
        assert memory.crop_file(second.crop_path) is not None and not memory.crops.failing
        assert memory.get_sighting(first.sighting_id).crop_path is None
    finally:
        memory.close()
