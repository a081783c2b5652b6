"""Per-camera track lifecycle: a sighting is one track from first to last frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from reidcam.core.geometry import iou_matrix
from reidcam.core.types import BestCrop, MatchDecision, Sighting, SightingKey
from reidcam.match.autocal import SIGHTING_APART, SIGHTING_HALVES
from reidcam.reid.aggregate import robust_mean

# A track re-found after more processed frames than this, or whose box overlaps its last box
# by less than this IoU, is embedded again before its old evidence is trusted. (A walker at
# 10-25 fps keeps IoU 0.8-0.95 from frame to frame, 0.6+ with two of three frames dropped.)
REFOUND_GAP_FRAMES = 5
MIN_STEP_IOU = 0.5
# The similarity to its sighting's prototype a jumped track's new crop needs to stay in it.
JUMP_SIMILARITY = 0.65
# Label-free calibration (reidcam.match.autocal): two tracks in one frame whose boxes overlap
# less than this are two people (NMS already removed boxes overlapping by more than 0.5);
# a track with this many good embeddings per half gives a same-person pair of halves.
APART_IOU = 0.2
MIN_HALF_EMBEDDINGS = 2


@dataclass
class _State:
    first_seen_at: float
    last_seen_at: float
    last_frame: int
    part: int = 0
    last_embed_frame: int = -(10**9)
    last_embed_height: float = 0.0
    last_poor_frame: int = -(10**9)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)
    good_crops: int = 0  # good crops embedded into this sighting (not capped like ``vectors``)
    person: bool | None = None  # the person check's answer: None not asked yet
    person_checks: int = 0
    last_person_check: int = -(10**9)
    prototype: NDArray[np.float32] | None = None
    decision: MatchDecision | None = None
    provisional: MatchDecision | None = None  # from a poor crop, shown until a good one comes
    last_box: NDArray[np.float32] | None = None
    last_good: bool = True
    last_tick: int = 0  # the book's processed-frame count when last seen
    jumped: bool = False  # leapt, came back after a gap or out of occlusion: maybe another person now
    best_crop: BestCrop | None = None
    apart: set[tuple[int, int]] = field(default_factory=set)  # (track_id, part) seen apart from it


class SightingBook:
    """Keeps the open sightings of one camera and closes those whose track is gone.

    Args:
        camera_id: the camera this book belongs to.
        max_embeddings: embeddings kept per sighting (oldest dropped first).
        embed_interval_frames: re-embed a tracked person at most this often.
        max_missing_frames: a track unseen for longer is closed.
        switch_similarity: a good crop less similar than this to the track's
            prototype splits the sighting (the tracker swapped two people).
        reembed_height_change: a track whose box height changed by this fraction
            since its last embedding is embedded again before the interval is up
            (the person came closer or turned: a new view is worth a crop).
    """

    # Priorities of embed_priority, most urgent first.
    NEW, CHANGED, DUE, POOR = 0, 1, 2, 3

    def __init__(
        self,
        camera_id: str,
        max_embeddings: int = 16,
        embed_interval_frames: int = 1,
        max_missing_frames: int = 30,
        switch_similarity: float = 0.5,
        reembed_height_change: float = 0.25,
    ) -> None:
        self.camera_id = camera_id
        self.reembed_height_change = reembed_height_change
        self.max_embeddings = max_embeddings
        self.embed_interval_frames = embed_interval_frames
        self.max_missing_frames = max_missing_frames
        self.switch_similarity = switch_similarity
        self.model_id: str | None = None
        self.splits = 0
        self._open: dict[int, _State] = {}
        self._closed: list[Sighting] = []
        self._ticks = 0

    def __len__(self) -> int:
        return len(self._open)

    def observe(
        self,
        track_id: int,
        frame_index: int,
        now: float,
        xyxy: NDArray[np.float32] | None = None,
        good: bool | None = None,
    ) -> None:
        """The track is in this frame (box ``xyxy`` and crop quality ``good`` when known)."""
        st = self._open.get(track_id)
        if st is None:
            st = self._open[track_id] = _State(now, now, frame_index)
        else:
            back_in_view = good is True and not st.last_good
            st.jumped = st.jumped or back_in_view or self._jumped(st, self._ticks, xyxy)
            st.last_seen_at, st.last_frame = now, frame_index
        st.last_tick = self._ticks
        if xyxy is not None:
            st.last_box = np.asarray(xyxy, np.float32).reshape(4).copy()
        if good is not None:
            st.last_good = good

    def note_apart(self, track_ids: list[int], xyxy: NDArray[np.float32]) -> None:
        """Tracks in one frame with boxes ``xyxy`` (N, 4): those apart are different people."""
        if len(track_ids) < 2:
            return
        iou = iou_matrix(np.asarray(xyxy, np.float32), np.asarray(xyxy, np.float32))
        states = [self._open.get(t) for t in track_ids]
        for i, j in zip(*np.nonzero(np.triu(iou < APART_IOU, k=1)), strict=True):
            a, b = states[i], states[j]
            if a is not None and b is not None and track_ids[i] != track_ids[j]:
                a.apart.add((track_ids[j], b.part))
                b.apart.add((track_ids[i], a.part))

    def tick(self) -> None:
        """One more frame of this camera was processed (gaps count processed frames, so a
        camera that drops frames under load does not see every track as re-found)."""
        self._ticks += 1

    @staticmethod
    def _jumped(st: _State, tick: int, xyxy: NDArray[np.float32] | None) -> bool:
        """Trackers swap identities where a track is re-found after a gap, where its box leaps
        (little overlap with its last box), and where people cross (the crop was occluded);
        those are the moments its old embeddings may describe someone else."""
        if tick - st.last_tick > REFOUND_GAP_FRAMES:
            return True
        if xyxy is None or st.last_box is None:
            return False
        box = np.asarray(xyxy, np.float32).reshape(1, 4)
        return float(iou_matrix(st.last_box.reshape(1, 4), box)[0, 0]) < MIN_STEP_IOU

    def needs_check(self, track_id: int) -> bool:
        """True while a jumped track has no fresh good embedding: its old evidence is suspect."""
        st = self._open.get(track_id)
        return st is not None and st.jumped

    def wants_embedding(self, track_id: int, frame_index: int) -> bool:
        """True when this track's crop should go through the ReID model now."""
        st = self._open.get(track_id)
        if st is None or not st.vectors:
            return True
        return frame_index - st.last_embed_frame >= self.embed_interval_frames

    def embed_priority(self, track_id: int, frame_index: int, box_height: float, good: bool) -> int | None:
        """How urgently this track's crop needs the ReID model now (lower first), or None.

        ReID is the costly stage, so a tracked person is embedded when new, when the view
        changed, and then every ``embed_interval_frames``; a poor crop (small, cut, hidden)
        only while the track has nothing better, at the same interval.
        """
        st = self._open.get(track_id)
        if st is None or (good and not st.vectors):
            return self.NEW if good else self.POOR
        if good and st.jumped:
            return self.CHANGED
        if not good:
            due = frame_index - st.last_poor_frame >= self.embed_interval_frames
            return self.POOR if st.prototype is None and due else None
        if st.last_embed_height > 0 and (
            abs(box_height - st.last_embed_height) >= self.reembed_height_change * st.last_embed_height
        ):
            return self.CHANGED
        return self.DUE if frame_index - st.last_embed_frame >= self.embed_interval_frames else None

    def note_poor_embedding(self, track_id: int, frame_index: int) -> None:
        """A poor crop of this track was embedded (for a provisional answer only)."""
        st = self._open.get(track_id)
        if st is not None:
            st.last_poor_frame = frame_index

    def has_prototype(self, track_id: int) -> bool:
        st = self._open.get(track_id)
        return st is not None and st.prototype is not None

    def add_embedding(
        self,
        track_id: int,
        vector: NDArray[np.float32],
        model_id: str,
        frame_index: int,
        box_height: float = 0.0,
        best_crop: BestCrop | None = None,
    ) -> NDArray[np.float32]:
        """Add one good crop's embedding (box ``box_height`` px); returns the updated prototype (D,)."""
        if self.model_id is not None and model_id != self.model_id:
            raise ValueError(f"camera {self.camera_id}: mixing {self.model_id} and {model_id} embeddings")
        self.model_id = model_id
        st = self._open[track_id]
        # After a jump the tracker's word counts for less: the crop must look clearly like the
        # sighting so far (the same person scores 0.75-0.9, a different one 0.3-0.6).
        limit = max(self.switch_similarity, JUMP_SIMILARITY) if st.jumped else self.switch_similarity
        if st.prototype is not None and float(st.prototype @ vector) < limit:
            st = self._split(track_id)
        st.vectors.append(np.asarray(vector, np.float32))
        st.good_crops += 1
        if len(st.vectors) > self.max_embeddings:
            st.vectors.pop(0)
        st.last_embed_frame = frame_index
        st.last_embed_height = float(box_height)
        st.jumped = False
        if best_crop is not None and best_crop.better_than(st.best_crop):
            st.best_crop = best_crop
        st.prototype = robust_mean(np.stack(st.vectors))
        return st.prototype

    def _split(self, track_id: int) -> _State:
        """Close the track's current sighting and open a new part for the new person."""
        old = self._open[track_id]
        self._closed.append(self.snapshot(track_id))
        self.splits += 1
        new = _State(old.last_seen_at, old.last_seen_at, old.last_frame, part=old.part + 1)
        self._open[track_id] = new
        return new

    MAX_PERSON_CHECKS = 3  # a track found no person this many times stays out for good

    def is_person(self, track_id: int) -> bool | None:
        """The person check's answer for the track: True once any check passed, None if not asked."""
        st = self._open.get(track_id)
        return None if st is None else st.person

    def wants_person_check(self, track_id: int, frame_index: int) -> bool:
        """Ask for a track not yet seen as a person: at once when new, then every embed interval."""
        st = self._open.get(track_id)
        if st is None or st.person is True or st.person_checks >= self.MAX_PERSON_CHECKS:
            return False
        return frame_index - st.last_person_check >= self.embed_interval_frames

    def set_person(self, track_id: int, is_person: bool, frame_index: int) -> None:
        st = self._open.get(track_id)
        if st is not None:
            st.person = bool(is_person) or st.person is True
            st.person_checks += 1
            st.last_person_check = frame_index

    def good_crops(self, track_id: int) -> int:
        """Good crops embedded into the track's current sighting so far (0 for an unknown track)."""
        st = self._open.get(track_id)
        return 0 if st is None else st.good_crops

    def prototype(self, track_id: int) -> NDArray[np.float32] | None:
        st = self._open.get(track_id)
        return None if st is None else st.prototype

    def set_decision(self, track_id: int, decision: MatchDecision) -> None:
        self._open[track_id].decision = decision

    def set_provisional(self, track_id: int, decision: MatchDecision) -> None:
        """Keep a poor crop's answer for the frames between its (rationed) embeddings."""
        st = self._open.get(track_id)
        if st is not None:
            st.provisional = decision

    def provisional(self, track_id: int) -> MatchDecision | None:
        st = self._open.get(track_id)
        return None if st is None else st.provisional

    def decision(self, track_id: int) -> MatchDecision | None:
        st = self._open.get(track_id)
        return None if st is None else st.decision

    def expire(self, frame_index: int) -> list[Sighting]:
        """Sightings closed since the last call: split ones, and tracks unseen for too long."""
        gone = [t for t, st in self._open.items() if frame_index - st.last_frame > self.max_missing_frames]
        return self._drain() + [self._close(t) for t in gone]

    def close_all(self) -> list[Sighting]:
        return self._drain() + [self._close(t) for t in list(self._open)]

    def _drain(self) -> list[Sighting]:
        closed, self._closed = self._closed, []
        return closed

    def snapshot(self, track_id: int) -> Sighting:
        st = self._open[track_id]
        return Sighting(
            key=SightingKey(self.camera_id, track_id, st.part),
            first_seen_at=st.first_seen_at,
            last_seen_at=st.last_seen_at,
            n_embeddings=len(st.vectors),
            prototype=None if st.prototype is None else st.prototype.copy(),
            model_id=self.model_id,
            decision=st.decision,
            best_crop_quality=0.0 if st.best_crop is None else st.best_crop.quality,
            best_crop=st.best_crop,
            extra=_calibration_facts(st),
        )

    def _close(self, track_id: int) -> Sighting:
        sighting = self.snapshot(track_id)
        del self._open[track_id]
        return sighting


def _calibration_facts(st: _State) -> dict[str, object]:
    """What the label-free calibration learns from a sighting: the sightings it was seen apart
    from, and the prototypes of its earlier and later halves when it is long enough."""
    facts: dict[str, object] = {SIGHTING_APART: tuple(sorted(st.apart))}
    n = len(st.vectors)
    if n >= 2 * MIN_HALF_EMBEDDINGS:
        vecs = np.stack(st.vectors)
        facts[SIGHTING_HALVES] = (robust_mean(vecs[: n // 2]), robust_mean(vecs[n // 2 :]))
    return facts
