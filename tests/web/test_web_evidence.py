"""Close calls are shown with their evidence, not dropped: the three-way verdict in the match list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from reidcam.core.events import Observation
from reidcam.core.types import Frame, MatchDecision, Verdict
from reidcam.web.cards import CardBook
from reidcam.web.crop_index import CropIndex
from reidcam.web.matches import MatchBook

IMG = np.full((200, 300, 3), 40, np.uint8)


def _frame(i: int) -> Frame:
    return Frame("cam0", i, IMG, 1000.0 + i, name=f"f{i}.jpg")


def _obs(verdict: Verdict, sim: float, view: int = 0, runner: float | None = None) -> Observation:
    reason = f"similarity {sim:.3f} vs threshold 0.800"
    d = MatchDecision(verdict, "q1", sim, None if runner is None else "q2", runner, 0.8, reason, view, 1)
    crop = np.full((80, 30, 3), 200, np.uint8)
    return Observation(0, np.array([10, 10, 40, 90], np.float32), 0.9, 5, crop, True, "", d)


def _books(tmp_path: Path) -> tuple[CropIndex, CardBook, MatchBook]:
    crops = CropIndex(tmp_path)
    matches = MatchBook(crops)
    views = {"q1": ["q1-front", "q1-back"], "q2": ["q2-front", "q2-back"]}
    matches.set_queries({"q1": "alice", "q2": "bob"}, views)
    return crops, CardBook(crops), matches


def _see(cards: CardBook, matches: MatchBook, i: int, obs: Observation) -> object:
    up = cards.observe(_frame(i), obs)
    return matches.observe(up.card, _frame(i), obs, up.saved)


def test_a_close_call_is_listed_with_its_evidence_but_not_counted_as_a_match(tmp_path: Path) -> None:
    _, cards, matches = _books(tmp_path)
    assert _see(cards, matches, 0, _obs(Verdict.NO_MATCH, 0.3)) is None
    entry = _see(cards, matches, 1, _obs(Verdict.UNCERTAIN, 0.81, view=1, runner=0.79))
    assert entry is not None
    assert entry.verdict == "uncertain" and "0.810" in entry.reason and entry.threshold == 0.8
    assert entry.view_crop_id == "q1-back"  # the query image that scored best
    assert (entry.runner_up_id, entry.runner_up_label, entry.runner_up_view_crop_id) == (
        "q2",
        "bob",
        "q2-back",
    )
    assert entry.runner_up_similarity == 0.79
    assert entry.thumbnail_crop_id is not None  # the person's own crop from the gallery card
    assert len(matches) == 0 and matches.seen("cam0") is None  # a close call is not "seen"
    assert matches.page(0, 10)[0] == 0  # the default list: matches only
    total, (row,) = matches.page(0, 10, verdicts=frozenset({"match", "uncertain"}))
    assert total == 1 and row.match_id == entry.match_id
    assert not list((tmp_path / "match_detections").glob("*.jpg"))  # nothing saved as a match


def test_a_close_call_that_becomes_a_match_is_upgraded_and_never_downgraded(tmp_path: Path) -> None:
    _, cards, matches = _books(tmp_path)
    first = _see(cards, matches, 0, _obs(Verdict.UNCERTAIN, 0.78))
    upgraded = _see(cards, matches, 1, _obs(Verdict.MATCH, 0.86, view=0))
    assert first is not None and upgraded is not None and upgraded.match_id == first.match_id
    assert upgraded.verdict == "match" and upgraded.view_crop_id == "q1-front"
    assert upgraded.runner_up_id is None and upgraded.reason.startswith("similarity 0.860")
    assert list((tmp_path / "match_detections").glob("*.jpg"))  # its crop is saved as a match now
    later = _see(cards, matches, 2, _obs(Verdict.UNCERTAIN, 0.95, runner=0.93))
    assert later is None
    (entry,) = matches.page(0, 10, verdicts=frozenset({"match", "uncertain"}))[1]
    assert entry.verdict == "match" and entry.best_similarity == 0.86 and entry.hits == 3
    assert len(matches) == 1 and matches.seen("cam0") is not None


def test_the_api_lists_close_calls_when_asked(client: TestClient) -> None:
    r = client.get("/api/matches", params=[("verdict", "match"), ("verdict", "uncertain")])
    assert r.status_code == 200 and r.json()["matches"] == []
    assert client.get("/api/matches", params={"verdict": "maybe"}).status_code == 422
