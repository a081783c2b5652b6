"""The track crops kept for ``finetune --from-memory`` (``training/tracks/``) are pictures of people
like the memory's own crops: they go when their sighting or identity is deleted and when
retention purges it, and retention also removes old ones no kept sighting covers."""

from __future__ import annotations

from pathlib import Path

from storage_support import person, sighting, view

from reidcam.identity import RetentionWorker
from reidcam.identity.track_crops import TRACK_FOLDER, crop_name, track_folder


def _crops(data_dir: Path, camera: str, track: int, times: list[float]) -> list[Path]:
    """Track crop files as ``TrackCropSink`` names them (content does not matter here)."""
    folder = track_folder(data_dir, camera, track)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / crop_name(at) for at in times]
    for path in paths:
        path.write_bytes(b"\xff\xd8jpeg")
    return paths


def _left(data_dir: Path) -> set[str]:
    base = data_dir / TRACK_FOLDER
    return {p.relative_to(base).as_posix() for p in base.rglob("*.jpg")}


def test_deleting_a_sighting_removes_its_track_crops_only(memory, data_dir):
    gone = memory.record_sighting(sighting("c1", 5, person(1), 1000.0, 1004.0))
    _crops(data_dir, "c1", 5, [1000.0, 1002.0, 1004.2])  # within the span (0.5 s slack)
    later_run = _crops(data_dir, "c1", 5, [9000.0])  # the same track id after a restart
    other_camera = _crops(data_dir, "c2", 5, [1001.0])
    assert memory.delete_sighting(gone.sighting_id)
    assert _left(data_dir) == {"c1/5/9000000.jpg", "c2/5/1001000.jpg"}
    assert all(p.is_file() for p in later_run + other_camera)


def test_deleting_an_identity_removes_the_track_crops_of_all_its_sightings(memory, data_dir):
    alice = person(1)
    first = memory.record_sighting(sighting("c1", 1, view(alice, 1), 1000.0))
    second = memory.record_sighting(sighting("c2", 7, view(alice, 2), 1100.0))
    assert second.identity_id == first.identity_id
    bob = memory.record_sighting(sighting("c1", 2, person(2), 1000.0))
    _crops(data_dir, "c1", 1, [1000.0, 1001.0])
    _crops(data_dir, "c2", 7, [1100.0, 1102.0])
    _crops(data_dir, "c1", 2, [1000.5])
    removed = memory.delete_identity(first.identity_id)
    assert removed == 2 + 4  # two best crops and four track crops
    assert _left(data_dir) == {"c1/2/1000500.jpg"}
    assert memory.get_identity(bob.identity_id) is not None
    assert not (data_dir / TRACK_FOLDER / "c2").exists(), "emptied folders go too"


def test_retention_purges_track_crops_with_their_sightings_and_old_orphans(memory, data_dir):
    now = 100_000.0
    memory.record_sighting(sighting("c1", 1, person(1), 1000.0))  # old stranger: purged
    named = memory.record_sighting(sighting("c1", 2, person(2), 1000.0))
    memory.update_identity(named.identity_id, name="Bob")  # confirmed: kept forever
    memory.record_sighting(sighting("c1", 3, person(3), now - 10))  # recent: kept
    _crops(data_dir, "c1", 1, [1000.0, 1001.0])
    _crops(data_dir, "c1", 2, [1000.0, 1001.5])
    _crops(data_dir, "c1", 3, [now - 10])
    _crops(data_dir, "c1", 4, [2000.0])  # old, no sighting (never recorded): purged
    _crops(data_dir, "c1", 5, [now - 5])  # recent, no sighting yet (track still open): kept

    report = RetentionWorker(memory.purge, max_age_s=3600, clock=lambda: now).run_once()
    assert (report.sightings, report.identities) == (1, 1)
    assert report.files == 1 + 2 + 1  # the stranger's best crop, its two track crops, the orphan
    assert _left(data_dir) == {
        "c1/2/1000000.jpg",
        "c1/2/1001500.jpg",
        f"c1/3/{round((now - 10) * 1000)}.jpg",
        f"c1/5/{round((now - 5) * 1000)}.jpg",
    }
    again = RetentionWorker(memory.purge, max_age_s=3600, clock=lambda: now).run_once()
    assert again.files == 0 and len(_left(data_dir)) == 4
