"""Gallery cards and match entries: grouped by track, saved sparingly, replays recognised."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from web_support import fake_config

from reidcam.core.events import FrameResult, Observation
from reidcam.core.types import Frame, MatchDecision, Verdict
from reidcam.web import Services, create_app
from reidcam.web.cards import CardBook
from reidcam.web.crop_index import CropIndex
from reidcam.web.matches import MatchBook
from reidcam.web.state import LiveSettings

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
    from reidcam.core.events import FrameResult
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


def _seen(book: CardBook, track: int | None, frames: range, ok: bool = True, x: float = 10.0) -> str:
    """``track`` observed on ``frames`` (each frame a distinct box, so no replay); its card id."""
    card_id = ""
    for i in frames:
        card_id = book.observe(_frame(i), _obs(track, x=x + i, ok=ok)).card.card_id
    return card_id


def test_busy_footage_leaves_out_untracked_frames_not_the_people(tmp_path: Path) -> None:
    book = _book(tmp_path, max_cards=50)
    people = [_seen(book, track, range(20 * track, 20 * track + 20)) for track in (1, 2, 3)]
    for i in range(500):  # objects and blurs: one untracked detection each, newer than the people
        book.observe(_frame(1000 + i), _obs(None, x=float(i % 200)))
    assert len(book) == 50
    kept = {c.card_id for c in book.page(0, 50)[1]}
    assert set(people) <= kept, "the tracked people seen a minute ago must stay"
    assert book.left_out_counts() == {"untracked single frame": 453}


def test_left_out_in_order_single_frames_then_no_good_crop_then_short_tracks(tmp_path: Path) -> None:
    book = _book(tmp_path, max_cards=4, short_track_frames=5)
    long_track = _seen(book, 1, range(0, 10))
    short = _seen(book, 2, range(10, 12))
    blurred = _seen(book, 3, range(12, 22), ok=False)  # tracked, but never one good crop
    single = _seen(book, None, range(22, 23))
    left: list[set[str]] = []
    for track in (10, 11, 12):  # three new people arrive
        before = {c.card_id for c in book.page(0, 10)[1]}
        new = _seen(book, track, range(30 + track, 31 + track), x=200.0)
        left.append(before - {c.card_id for c in book.page(0, 10)[1]} - {new})
    assert left == [{single}, {blurred}, {short}]
    assert long_track in {c.card_id for c in book.page(0, 10)[1]}
    assert book.left_out_counts() == {"untracked single frame": 1, "no good crop": 1, "short track": 1}


def test_a_queried_or_matched_person_is_never_left_out_while_others_can_go(tmp_path: Path) -> None:
    book = _book(tmp_path, max_cards=5)
    picked = _seen(book, None, range(0, 1))  # a single untracked frame, but the query was picked from it
    book.pin({picked}, replace=True)
    matched = book.observe(_frame(1), _obs(None, x=50.0, sim=0.9)).card.card_id  # matched the query
    for i in range(100):
        book.observe(_frame(10 + i), _obs(None, x=float(60 + i)))
    kept = {c.card_id for c in book.page(0, 5)[1]}
    assert {picked, matched} <= kept and len(book) == 5
    book.pin(set(), replace=True)  # the query was cleared: the picked card may go like any other
    book.observe(_frame(200), _obs(None, x=190.0))
    book.observe(_frame(201), _obs(None, x=191.0))
    book.observe(_frame(202), _obs(None, x=192.0))
    book.observe(_frame(203), _obs(None, x=193.0))
    assert picked not in {c.card_id for c in book.page(0, 5)[1]}
    assert matched in {c.card_id for c in book.page(0, 5)[1]}


def test_the_gallery_answer_says_how_many_were_left_out_and_why(
    make_services: Callable[..., Services],
) -> None:
    with TestClient(create_app(fake_config(), make_services(live=LiveSettings(max_cards=3)))) as client:
        live = client.app.state.live  # type: ignore[attr-defined]
        assert client.get("/api/gallery").json()["left_out"] == {}
        for i in range(5):
            live.on_frame(FrameResult(_frame(i), (_obs(None, x=10.0 + 20 * i),)))  # as the runner does
        page = client.get("/api/gallery").json()
        assert page["total"] == 3 and len(page["cards"]) == 3
        assert page["left_out"] == {"untracked single frame": 2}


def test_the_card_a_query_was_picked_from_stays_until_the_query_is_cleared(
    make_services: Callable[..., Services],
) -> None:
    with TestClient(create_app(fake_config(), make_services(live=LiveSettings(max_cards=3)))) as client:
        live = client.app.state.live  # type: ignore[attr-defined]
        live.on_frame(FrameResult(_frame(0), (_obs(None, x=10.0),)))
        (card,) = client.get("/api/gallery").json()["cards"]
        r = client.post("/api/query/crops", json={"crop_ids": [card["crops"][0]["crop_id"]]})
        assert r.status_code == 200, r.text

        def flood(start: int) -> set[str]:
            for i in range(start, start + 10):
                live.on_frame(FrameResult(_frame(i), (_obs(None, x=float(i)),)))
            return {c["card_id"] for c in client.get("/api/gallery").json()["cards"]}

        assert card["card_id"] in flood(1)
        assert client.delete("/api/query").status_code == 200
        assert card["card_id"] not in flood(20)


def test_no_query_no_similarity_on_the_card(tmp_path: Path) -> None:
    """Without a query the matcher's decision scores nothing: the card shows no "0.00"."""
    book = _book(tmp_path)
    xyxy = np.array([10, 10, 40, 90], np.float32)
    crop = np.full((80, 30, 3), 200, np.uint8)
    none = MatchDecision(Verdict.NO_MATCH, None, 0.0, None, None, 0.8, "no query identities")
    update = book.observe(_frame(0), Observation(0, xyxy, 0.9, 3, crop, True, "", none))
    (card,) = book.page(0, 10)[1]
    assert card.best_similarity is None
    assert all(r.similarity is None for r in update.saved.values())
    book.observe(_frame(1), _obs(3, sim=0.42))
    assert book.page(0, 10)[1][0].best_similarity == 0.42
