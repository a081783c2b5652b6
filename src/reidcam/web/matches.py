"""Matches: one entry per card (person on a camera) and query identity that reached MATCH,
or UNCERTAIN (a close call for a person to judge).

An entry is updated while the person stays in view (last seen, best similarity,
a better thumbnail now and then) instead of adding a row per frame. Each entry keeps its
evidence: the crop of the person, the query image that scored best, the runner-up query
and its image, and the matcher's reason.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from reidcam.core.events import Observation
from reidcam.core.types import Frame, MatchDecision, Verdict
from reidcam.web.cards import Card
from reidcam.web.crop_index import MATCHED_DIR, CropIndex, CropRecord

PUBLISH_EVERY_S = 1.0


@dataclass
class MatchEntry:
    match_id: str
    seq: int
    card_id: str
    camera_id: str
    track_id: int | None
    query_id: str
    label: str
    best_similarity: float
    last_similarity: float
    first_seen_at: float
    last_seen_at: float
    frame_name: str | None
    xyxy: tuple[float, ...]
    thumbnail_crop_id: str | None
    verdict: str = Verdict.MATCH.value  # "match" once any frame matched, else "uncertain"
    reason: str = ""
    threshold: float = 0.0
    threshold_why: str = ""
    view_crop_id: str | None = None  # the query image that gave best_similarity
    runner_up_id: str | None = None
    runner_up_label: str | None = None
    runner_up_similarity: float | None = None
    runner_up_view_crop_id: str | None = None
    hits: int = 1
    saved_frame: int = 0
    published_mono: float = 0.0


@dataclass(frozen=True)
class CameraSeen:
    """The latest match of the current query on one camera (the UI's 'query seen' badge)."""

    query_id: str
    label: str
    similarity: float
    at: float


class MatchBook:
    """Thread-safe, bounded list of match entries, and the last match per camera."""

    def __init__(self, crops: CropIndex, max_entries: int = 1000, thumb_every_frames: int = 10) -> None:
        self.crops = crops
        self.max_entries = max_entries
        self.thumb_every_frames = thumb_every_frames
        self._lock = threading.Lock()
        self._seq = 0
        self._entries: OrderedDict[tuple[str, str], MatchEntry] = OrderedDict()
        self._labels: dict[str, str] = {}
        self._views: dict[str, list[str | None]] = {}
        self._seen: dict[str, CameraSeen] = {}

    def set_queries(self, labels: dict[str, str], views: dict[str, list[str | None]] | None = None) -> None:
        """The query identities changed: new labels and query images (crop id per gallery
        view), and every camera's badge starts over."""
        with self._lock:
            self._labels = dict(labels)
            self._views = {k: list(v) for k, v in (views or {}).items()}
            self._seen.clear()

    def observe(
        self, card: Card, frame: Frame, obs: Observation, saved: dict[str, CropRecord]
    ) -> MatchEntry | None:
        """Record a MATCH or UNCERTAIN observation; returns the entry when it is worth telling clients."""
        d = obs.decision
        if d is None or d.query_id is None or d.verdict is Verdict.NO_MATCH:
            return None
        now = time.monotonic()
        with self._lock:
            label = self._labels.get(d.query_id)
            if label is None:  # decided on a frame in flight when that query was cleared
                return None
            if d.matched:
                self._seen[frame.camera_id] = CameraSeen(d.query_id, label, d.similarity, frame.captured_at)
            entry = self._entries.get((card.card_id, d.query_id))
            if entry is None:
                entry = self._add(card, frame, obs, label, saved)
            elif (
                not self._update(entry, card, frame, obs, saved)
                and now - entry.published_mono < PUBLISH_EVERY_S
            ):
                return None
            entry.published_mono = now
            return replace(entry)

    def _view(self, query_id: str | None, view: int | None) -> str | None:
        views = self._views.get(query_id or "", [])
        return views[view] if view is not None and 0 <= view < len(views) else None

    def _set_evidence(self, entry: MatchEntry, d: MatchDecision) -> None:
        """The decision that gave the entry its best score explains it."""
        entry.reason, entry.threshold, entry.threshold_why = d.reason, d.threshold, d.threshold_why
        entry.view_crop_id = self._view(d.query_id, d.view)
        entry.runner_up_id, entry.runner_up_similarity = d.runner_up_id, d.runner_up_similarity
        entry.runner_up_label = None if d.runner_up_id is None else self._labels.get(d.runner_up_id)
        entry.runner_up_view_crop_id = self._view(d.runner_up_id, d.runner_up_view)

    def _add(
        self, card: Card, frame: Frame, obs: Observation, label: str, saved: dict[str, CropRecord]
    ) -> MatchEntry:
        d = obs.decision
        assert d is not None and d.query_id is not None
        self._seq += 1
        entry = MatchEntry(
            match_id=f"{self.crops.run_stamp}-m{self._seq}",
            seq=self._seq,
            card_id=card.card_id,
            camera_id=frame.camera_id,
            track_id=obs.track_id,
            query_id=d.query_id,
            label=label,
            best_similarity=d.similarity,
            last_similarity=d.similarity,
            first_seen_at=frame.captured_at,
            last_seen_at=frame.captured_at,
            frame_name=frame.name,
            xyxy=tuple(round(float(v), 1) for v in obs.xyxy),
            thumbnail_crop_id=self._evidence_crop(card, frame, obs, saved),
            verdict=d.verdict.value,
            saved_frame=frame.index,
        )
        self._set_evidence(entry, d)
        self._entries[(card.card_id, d.query_id)] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def _evidence_crop(
        self, card: Card, frame: Frame, obs: Observation, saved: dict[str, CropRecord]
    ) -> str | None:
        """A match's crop goes to the matched folder; a close call shows the card's newest crop."""
        d = obs.decision
        if d is not None and d.matched:
            thumb = saved.get(MATCHED_DIR) or self._thumbnail_for(card.card_id, frame, obs)
            return None if thumb is None else thumb.crop_id
        return card.crop_ids[-1] if card.crop_ids else None

    def _update(
        self, entry: MatchEntry, card: Card, frame: Frame, obs: Observation, saved: dict[str, CropRecord]
    ) -> bool:
        """Refresh an entry; True when it became a match or its best similarity improved
        (clients should hear now)."""
        d = obs.decision
        assert d is not None
        entry.hits += 1
        entry.last_similarity = d.similarity
        entry.last_seen_at = frame.captured_at
        was_match = entry.verdict == Verdict.MATCH.value
        upgraded = d.matched and not was_match
        # a close call never overwrites the evidence of a match
        if not upgraded and (d.similarity <= entry.best_similarity or (was_match and not d.matched)):
            return False
        if d.matched:
            entry.verdict = Verdict.MATCH.value
        entry.best_similarity = max(entry.best_similarity, d.similarity)
        entry.frame_name = frame.name
        entry.xyxy = tuple(round(float(v), 1) for v in obs.xyxy)
        self._set_evidence(entry, d)
        if upgraded or frame.index - entry.saved_frame >= self.thumb_every_frames or saved.get(MATCHED_DIR):
            thumb = self._evidence_crop(card, frame, obs, saved)
            if thumb is not None:
                entry.thumbnail_crop_id, entry.saved_frame = thumb, frame.index
        return True

    def _thumbnail_for(self, card_id: str, frame: Frame, obs: Observation) -> CropRecord | None:
        if obs.crop is None:
            return None
        sim = None if obs.decision is None else obs.decision.similarity
        return self.crops.save(
            MATCHED_DIR,
            obs.crop,
            frame.camera_id,
            frame=frame,
            card_id=card_id,
            xyxy=obs.xyxy,
            similarity=sim,
        )

    # -- reader side ------------------------------------------------------
    def page(
        self,
        offset: int,
        limit: int,
        camera_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        query_ids: set[str] | None = None,
        verdicts: frozenset[str] = frozenset({Verdict.MATCH.value}),
    ) -> tuple[int, list[MatchEntry]]:
        """Entries newest (last seen) first, filtered, and the total after filtering."""
        with self._lock:
            rows = [
                replace(e)
                for e in self._entries.values()
                if (camera_id is None or e.camera_id == camera_id)
                and (since is None or e.last_seen_at >= since)
                and (until is None or e.first_seen_at <= until)
                and (query_ids is None or e.query_id in query_ids)
                and e.verdict in verdicts
            ]
        rows.sort(key=lambda e: (e.last_seen_at, e.seq), reverse=True)
        return len(rows), rows[offset : offset + limit]

    def seen(self, camera_id: str) -> CameraSeen | None:
        with self._lock:
            return self._seen.get(camera_id)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seen.clear()

    def __len__(self) -> int:
        """The number of matches (close calls not counted)."""
        with self._lock:
            return sum(e.verdict == Verdict.MATCH.value for e in self._entries.values())
