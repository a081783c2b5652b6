"""Gallery cards: one card per person per camera, a few crops each.

The runner sees a walking person in every frame; showing (and saving) every
crop would bury the gallery in near-duplicates. A card groups the crops of one
``(camera_id, track_id)``; a detection without a track gets a card of its own.
A crop is saved when its card is new, then at most every ``crop_every_frames``
frames of that track. Replayed demo cameras show the same files again and
again: a detection whose frame name and box were seen before returns to the
card it had, so a loop adds no new cards.

Past ``max_cards`` a card is left out, least worth keeping first (``evict_rank``): single
untracked frames (mostly objects and blurs on busy footage), then cards without one good crop,
then short tracks, then the rest, each oldest-seen first. Cards of a queried person (a match,
or the cards a query was picked from) are kept while any other card can go. How many were left
out, and why, is counted for the gallery's answer.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from reidcam.core.events import Observation
from reidcam.core.geometry import iou_matrix
from reidcam.core.types import Frame, Verdict
from reidcam.web.crop_index import (
    ALL_CROPS_DIR,
    MATCHED_DIR,
    UNCERTAIN_DIR,
    UNMATCHED_DIR,
    CropIndex,
    CropRecord,
)

REPLAY_IOU = 0.7
#: A track seen in fewer frames than this is a "short track" for eviction (a passer-by at the
#: edge, a flicker of the detector), behind people the tracker followed for a while.
SHORT_TRACK_FRAMES = 5
#: Why a card was left out, in eviction order (the first goes first).
LEFT_OUT_REASONS = ("untracked single frame", "no good crop", "short track", "oldest", "oldest queried")


@dataclass
class Card:
    """One person on one camera. ``crop_ids`` oldest first: the first crop stays, the rest rotate."""

    card_id: str
    seq: int
    camera_id: str
    track_id: int | None
    first_seen_at: float
    last_seen_at: float
    crop_ids: list[str] = field(default_factory=list)
    last_crop_frame: int = -(10**9)
    has_good_crop: bool = False
    observations: int = 0
    best_similarity: float | None = None
    matched: bool = False


@dataclass(frozen=True)
class CardUpdate:
    """What one observation did: its card, whether the card changed, the crops saved."""

    card: Card
    changed: bool
    saved: dict[str, CropRecord]


class CardBook:
    """Thread-safe, bounded set of cards (oldest evicted past ``max_cards``)."""

    def __init__(
        self,
        crops: CropIndex,
        max_cards: int = 400,
        max_crops_per_card: int = 4,
        crop_every_frames: int = 10,
        max_replay_frames: int = 5000,
        short_track_frames: int = SHORT_TRACK_FRAMES,
    ) -> None:
        self.crops = crops
        self.max_cards = max_cards
        self.max_crops_per_card = max_crops_per_card
        self.crop_every_frames = crop_every_frames
        self.max_replay_frames = max_replay_frames
        self.short_track_frames = short_track_frames
        self.left_out: Counter[str] = Counter()
        self._pinned: set[str] = set()
        self._lock = threading.RLock()
        self._seq = 0
        self._cards: OrderedDict[str, Card] = OrderedDict()
        self._by_track: dict[tuple[str, int], str] = {}
        self._replay: OrderedDict[tuple[str, str], list[tuple[NDArray[np.float32], str]]] = OrderedDict()

    # -- runner side ------------------------------------------------------
    def new_run(self) -> None:
        """Forget track ids: a new run's trackers count from 1 again."""
        with self._lock:
            self._by_track.clear()

    def observe(self, frame: Frame, obs: Observation) -> CardUpdate:
        """File one observation (with a crop) under its card, saving a crop if due."""
        with self._lock:
            card, is_new, replayed = self._card_for(frame, obs)
            card.last_seen_at = frame.captured_at
            card.observations += 1
            sim = _similarity(obs)
            if sim is not None and (card.best_similarity is None or sim > card.best_similarity):
                card.best_similarity = sim
            card.matched = card.matched or obs.matched
            saved: dict[str, CropRecord] = {}
            if not replayed and (is_new or self._due(card, frame, obs)):
                saved = self._save(card, frame, obs)
            return CardUpdate(card, is_new or bool(saved), saved)

    def _card_for(self, frame: Frame, obs: Observation) -> tuple[Card, bool, bool]:
        cam, tid = frame.camera_id, obs.track_id
        hit = self._replay_hit(frame, obs.xyxy)
        if hit is not None:
            if tid is not None:
                self._by_track[(cam, tid)] = hit.card_id
            return hit, False, True
        card = self._cards.get(self._by_track.get((cam, tid), "")) if tid is not None else None
        is_new = card is None
        if card is None:
            card = self._new_card(frame, tid)
        self._remember_replay(frame, obs.xyxy, card.card_id)
        return card, is_new, False

    def _new_card(self, frame: Frame, track_id: int | None) -> Card:
        self._seq += 1
        card = Card(
            f"{self.crops.run_stamp}-c{self._seq}",
            self._seq,
            frame.camera_id,
            track_id,
            frame.captured_at,
            frame.captured_at,
        )
        while len(self._cards) >= self.max_cards > 0:
            self._evict_one()
        self._cards[card.card_id] = card
        if track_id is not None:
            self._by_track[(frame.camera_id, track_id)] = card.card_id
        return card

    def evict_rank(self, card: Card) -> tuple[int, float]:
        """(reason index in ``LEFT_OUT_REASONS``, last seen): the smallest is left out first."""
        if card.matched or card.card_id in self._pinned:
            tier = 4
        elif card.track_id is None and card.observations <= 1:
            tier = 0
        elif not card.has_good_crop:
            tier = 1
        elif card.observations < self.short_track_frames:
            tier = 2
        else:
            tier = 3
        return tier, card.last_seen_at

    def _evict_one(self) -> None:
        victim = min(self._cards.values(), key=self.evict_rank)
        self.left_out[LEFT_OUT_REASONS[self.evict_rank(victim)[0]]] += 1
        del self._cards[victim.card_id]
        if (
            victim.track_id is not None
            and self._by_track.get((victim.camera_id, victim.track_id)) == victim.card_id
        ):
            del self._by_track[(victim.camera_id, victim.track_id)]

    def pin(self, card_ids: set[str], replace: bool) -> None:
        """Keep these cards (those a query was picked from) past the cap; ``replace`` drops older pins."""
        with self._lock:
            self._pinned = set(card_ids) if replace else self._pinned | card_ids

    def _replay_hit(self, frame: Frame, xyxy: NDArray[np.float32]) -> Card | None:
        if frame.name is None:
            return None
        seen = self._replay.get((frame.camera_id, frame.name))
        if not seen:
            return None
        boxes = np.stack([b for b, _ in seen])
        ious = iou_matrix(xyxy.reshape(1, 4), boxes)[0]
        best = int(np.argmax(ious))
        if ious[best] < REPLAY_IOU:
            return None
        return self._cards.get(seen[best][1])

    def _remember_replay(self, frame: Frame, xyxy: NDArray[np.float32], card_id: str) -> None:
        if frame.name is None:
            return
        key = (frame.camera_id, frame.name)
        self._replay.setdefault(key, []).append((xyxy.copy(), card_id))
        self._replay.move_to_end(key)
        while len(self._replay) > self.max_replay_frames:
            self._replay.popitem(last=False)

    def _due(self, card: Card, frame: Frame, obs: Observation) -> bool:
        if not obs.quality_ok:
            return False
        return not card.has_good_crop or frame.index - card.last_crop_frame >= self.crop_every_frames

    def _save(self, card: Card, frame: Frame, obs: Observation) -> dict[str, CropRecord]:
        assert obs.crop is not None
        sim = _similarity(obs)
        record = self.crops.save(
            ALL_CROPS_DIR,
            obs.crop,
            frame.camera_id,
            frame=frame,
            card_id=card.card_id,
            xyxy=obs.xyxy,
            quality_ok=obs.quality_ok,
            similarity=sim,
        )
        if record is None:
            return {}
        saved = {ALL_CROPS_DIR: record}
        name = f"{frame.camera_id}_{record.crop_id}"
        if obs.matched:
            copy = self.crops.save(
                MATCHED_DIR,
                obs.crop,
                frame.camera_id,
                frame=frame,
                card_id=card.card_id,
                xyxy=obs.xyxy,
                quality_ok=obs.quality_ok,
                similarity=sim,
            )
            if copy is not None:
                saved[MATCHED_DIR] = copy
        else:
            uncertain = obs.decision is not None and obs.decision.verdict is Verdict.UNCERTAIN
            self.crops.copy_to(UNCERTAIN_DIR if uncertain else UNMATCHED_DIR, obs.crop, name)
        card.crop_ids.append(record.crop_id)
        if len(card.crop_ids) > self.max_crops_per_card:
            del card.crop_ids[1]
        card.last_crop_frame = frame.index
        card.has_good_crop = card.has_good_crop or obs.quality_ok
        return saved

    # -- reader side ------------------------------------------------------
    def page(self, offset: int, limit: int, camera_id: str | None = None) -> tuple[int, list[Card]]:
        """Cards newest first (by creation, so cards do not jump around), and the total."""
        with self._lock:
            cards = [
                c for c in reversed(self._cards.values()) if camera_id is None or c.camera_id == camera_id
            ]
            return len(cards), [_copy(c) for c in cards[offset : offset + limit]]

    def get(self, card_id: str) -> Card | None:
        with self._lock:
            card = self._cards.get(card_id)
            return None if card is None else _copy(card)

    def left_out_counts(self) -> dict[str, int]:
        """Cards left out past the cap so far, by reason, in eviction order (unused reasons absent)."""
        with self._lock:
            return {r: self.left_out[r] for r in LEFT_OUT_REASONS if self.left_out[r]}

    def __len__(self) -> int:
        with self._lock:
            return len(self._cards)


def _copy(card: Card) -> Card:
    return Card(**{**card.__dict__, "crop_ids": list(card.crop_ids)})


def _similarity(obs: Observation) -> float | None:
    """The similarity to the best query, or None when there was no query to compare with (the
    decision's 0.0 then is no score: the gallery showed "0.00" under every card)."""
    d = obs.decision
    return None if d is None or d.query_id is None else d.similarity
