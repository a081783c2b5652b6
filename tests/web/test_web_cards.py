"""Gallery cards and match entries: grouped by track, saved sparingly, replays recognised."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reidcam.core.types import Frame, MatchDecision, Verdict
from reidcam.pipeline.events import Observation
from reidcam.web.cards import CardBook
from reidcam.web.crops import CropIndex
from reidcam.web.matches import MatchBook

IMG = np.full((200, 300, 3), 40, np.uint8)


def _frame(i: int, name: str | None = None, cam: str = "cam0") -> Frame:
    return Frame(cam, i, IMG, 1000.0 + i, name=name)


def _obs(track: int | None, x: float = 10.0, sim: float | None = None, ok: bool = True) -> Observation:
    d = None
    if sim is not None:
        verdict = Verdict.MATCH if sim >= 0.8 else Verdict.NO_MATCH
        d = MatchDecision(verdict, "q1", sim, None, None, 0.8, "test")
    xyxy = np.array([x, 10, x + 30, 90], np.float32)
    crop = np.full((80, 30, 3), 200, np.uint8)
    return Observation(0, xyxy, 0.9, track, crop, ok, "" if ok else "border", d)


def _book(tmp_path: Path, **kw: int) -> CardBook:
    return CardBook(CropIndex(tmp_path), **kw)


def test_one_card_per_track_with_a_few_crops(tmp_path: Path) -> None:
    book = _book(tmp_path, crop_every_frames=10, max_crops_per_card=3)
    updates = [book.observe(_frame(i), _obs(7, x=10 + i)) for i in range(100)]
    assert len(book) == 1
    (card,) = book.page(0, 10)[1]
    assert card.track_id == 7 and card.observations == 100 and len(card.crop_ids) == 3
    assert sum(bool(u.saved) for u in updates) == 10  # frames 0, 10, 20, ...: not every frame
    assert card.crop_ids[0] == updates[0].saved["query_images"].crop_id  # the first crop stays
    assert len(list((tmp_path / "query_images").glob("*.jpg"))) == 10
    assert len(list((tmp_path / "detections").glob("*.jpg"))) == 10


def test_untracked_detections_get_their_own_cards_and_tracks_restart_per_run(tmp_path: Path) -> None:
    book = _book(tmp_path)
    book.observe(_frame(0), _obs(None))
    book.observe(_frame(1), _obs(None))
    book.observe(_frame(2), _obs(1))
    book.new_run()
    book.observe(_frame(0), _obs(1))
    assert len(book) == 4
    total, cards = book.page(0, 2)
    assert total == 4 and [c.seq for c in cards] == [4, 3]  # newest first


def test_a_replayed_frame_returns_to_its_card(tmp_path: Path) -> None:
    book = _book(tmp_path)
    first = book.observe(_frame(0, "a.jpg"), _obs(None, x=50))
    again = book.observe(_frame(40, "a.jpg"), _obs(None, x=51))  # the loop came round
    other = book.observe(_frame(41, "a.jpg"), _obs(None, x=150))  # someone else in that frame
    assert again.card.card_id == first.card.card_id and not again.saved and not again.changed
    assert other.card.card_id != first.card.card_id
    assert len(book) == 2


def test_a_poor_first_crop_is_followed_by_a_good_one_at_once(tmp_path: Path) -> None:
    book = _book(tmp_path, crop_every_frames=50)
    book.observe(_frame(0), _obs(3, ok=False))
    assert book.observe(_frame(1), _obs(3)).saved
    assert not book.observe(_frame(2), _obs(3)).saved


def test_cards_are_bounded(tmp_path: Path) -> None:
    book = _book(tmp_path, max_cards=5)
    for i in range(12):
        book.observe(_frame(i), _obs(None))
    assert len(book) == 5


def test_match_entries_per_card_and_camera_badge(tmp_path: Path) -> None:
    crops = CropIndex(tmp_path)
    cards, matches = CardBook(crops), MatchBook(crops)
    matches.set_queries({"q1": "alice"})
    published = []
    for i, sim in enumerate([0.5, 0.85, 0.84, 0.9, 0.86]):
        obs = _obs(5, sim=sim)
        up = cards.observe(_frame(i), obs)
        published.append(matches.observe(up.card, _frame(i), obs, up.saved))
    assert published[0] is None  # not a match
    assert published[1] is not None and published[3] is not None  # new, then a better similarity
    assert published[2] is None  # within a second and no better: not re-sent
    total, (entry,) = matches.page(0, 10)
    assert total == 1 and entry.best_similarity == 0.9 and entry.last_similarity == 0.86 and entry.hits == 4
    assert entry.label == "alice" and entry.thumbnail_crop_id and crops.path(entry.thumbnail_crop_id)
    seen = matches.seen("cam0")
    assert seen is not None and seen.similarity == 0.86 and matches.seen("cam1") is None
    assert matches.page(0, 10, camera_id="cam1")[0] == 0
    assert matches.page(0, 10, since=2000.0)[0] == 0 and matches.page(0, 10, query_ids={"q9"})[0] == 0
    matches.set_queries({})
    assert matches.seen("cam0") is None
    assert list((tmp_path / "match_detections").glob("*.jpg"))


def test_crop_ids_never_become_paths(tmp_path: Path) -> None:
    crops = CropIndex(tmp_path / "data")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    for bad in ("../secret", "..", "/etc/passwd", "20260101T000000-1/../../secret", ""):
        assert crops.get(bad) is None and crops.path(bad) is None
    rec = crops.save("query_images", np.zeros((4, 4, 3), np.uint8), "cam0")
    assert rec is not None and crops.path(rec.crop_id) == (tmp_path / "data" / rec.relpath).resolve()


def test_a_fault_in_the_web_view_never_reaches_the_runner(tmp_path: Path) -> None:
    from reidcam.pipeline.events import FrameResult
    from reidcam.web.hub import EventHub
    from reidcam.web.state import LiveState

    live = LiveState(tmp_path, EventHub())

    def boom(*args: object) -> None:
        raise RuntimeError("disk on fire")

    live.cards.observe = boom  # type: ignore[method-assign]
    live.on_frame(FrameResult(_frame(0), (_obs(1),)))  # logged, not raised
    assert live.frame_seq("cam0") == 1


def test_uncertain_crops_are_saved_apart_from_the_unmatched(tmp_path: Path) -> None:
    book = _book(tmp_path, crop_every_frames=1)
    close_call = MatchDecision(Verdict.UNCERTAIN, "q1", 0.78, None, None, 0.8, "just below")
    obs = _obs(3, sim=0.1)
    book.observe(_frame(0), obs)  # no match
    book.observe(_frame(1), Observation(0, obs.xyxy, 0.9, 3, obs.crop, True, "", close_call))
    book.observe(_frame(2), _obs(3, sim=0.9))  # match
    count = {d: len(list((tmp_path / d).glob("*.jpg"))) for d in ("detections", "uncertain_detections")}
    assert count == {"detections": 1, "uncertain_detections": 1}
    assert len(list((tmp_path / "match_detections").glob("*.jpg"))) == 1
