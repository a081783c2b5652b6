"""Which crops go through ReID: new tracks first, changed views, every Nth frame, within a budget."""

from __future__ import annotations

import numpy as np

from reidcam.pipeline.sightings import SightingBook


def _book(interval: int = 10) -> SightingBook:
    book = SightingBook("cam", embed_interval_frames=interval, reembed_height_change=0.25)
    book.observe(1, 0, 0.0)
    return book


def _vec() -> np.ndarray:
    v = np.ones(8, np.float32)
    return v / np.linalg.norm(v)


def test_a_new_track_is_embedded_first_then_every_interval() -> None:
    book = _book()
    assert book.embed_priority(1, 0, 100.0, good=True) == book.NEW
    book.add_embedding(1, _vec(), "m", 0, box_height=100.0)
    assert book.embed_priority(1, 5, 105.0, good=True) is None
    assert book.embed_priority(1, 10, 105.0, good=True) == book.DUE


def test_a_changed_view_is_embedded_before_the_interval() -> None:
    book = _book()
    book.add_embedding(1, _vec(), "m", 0, box_height=100.0)
    assert book.embed_priority(1, 2, 130.0, good=True) == book.CHANGED
    assert book.embed_priority(1, 2, 70.0, good=True) == book.CHANGED


def test_poor_crops_only_while_nothing_better_and_rationed() -> None:
    book = _book()
    assert book.embed_priority(1, 0, 50.0, good=False) == book.POOR
    book.note_poor_embedding(1, 0)
    assert book.embed_priority(1, 3, 50.0, good=False) is None
    assert book.embed_priority(1, 10, 50.0, good=False) == book.POOR
    book.add_embedding(1, _vec(), "m", 11, box_height=100.0)
    assert book.embed_priority(1, 30, 50.0, good=False) is None, "a prototype exists"


def test_priorities_order_new_before_changed_before_due_before_poor() -> None:
    book = _book()
    assert book.NEW < book.CHANGED < book.DUE < book.POOR


def test_a_track_that_leaps_or_comes_back_is_checked_again_before_its_verdict_is_trusted() -> None:
    book = _book()
    box = np.array([100, 100, 140, 200], np.float32)
    book.observe(1, 0, 0.0, box, good=True)
    book.add_embedding(1, _vec(), "m", 0, box_height=100.0)
    book.observe(1, 1, 0.0, box + 4, good=True)  # a walker's step: same person
    assert not book.needs_check(1) and book.embed_priority(1, 1, 100.0, good=True) is None
    book.observe(1, 2, 0.0, box + 60, good=True)  # leapt: the tracker may have swapped people
    assert book.needs_check(1) and book.embed_priority(1, 2, 100.0, good=True) == book.CHANGED
    book.add_embedding(1, _vec(), "m", 2, box_height=100.0)
    assert not book.needs_check(1)
    book.observe(1, 3, 0.0, box + 60, good=False)  # hidden behind someone
    book.observe(1, 4, 0.0, box + 62, good=True)  # and out again
    assert book.needs_check(1)
    book.add_embedding(1, _vec(), "m", 4, box_height=100.0)
    for _ in range(6):
        book.tick()  # six processed frames without this track
    book.observe(1, 40, 0.0, box + 62, good=True)  # re-found after a gap
    assert book.needs_check(1)


def test_after_a_jump_a_lookalike_splits_the_sighting() -> None:
    book = _book()
    box = np.array([100, 100, 140, 200], np.float32)
    a = np.zeros(8, np.float32)
    a[0] = 1.0
    lookalike = np.zeros(8, np.float32)
    lookalike[[0, 1]] = (0.55, np.sqrt(1 - 0.55**2))  # cosine 0.55: over 0.5, under 0.65
    book.observe(1, 0, 0.0, box, good=True)
    book.add_embedding(1, a, "m", 0, box_height=100.0)
    book.observe(1, 1, 0.0, box + 2, good=True)
    book.add_embedding(1, lookalike, "m", 1, box_height=100.0)
    assert book.splits == 0, "no jump: the usual 0.5 applies"
    book.observe(1, 2, 0.0, box + 80, good=True)
    book.add_embedding(1, a, "m", 2, box_height=100.0)
    book.observe(1, 3, 0.0, box + 160, good=True)
    book.add_embedding(1, lookalike, "m", 3, box_height=100.0)
    assert book.splits == 1
