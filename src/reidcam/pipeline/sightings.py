"""Per-camera track lifecycle: a sighting is one track from first to last frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import MatchDecision, Sighting, SightingKey
from reidcam.reid.aggregate import robust_mean


@dataclass
class _State:
    first_seen_at: float
    last_seen_at: float
    last_frame: int
    part: int = 0
    last_embed_frame: int = -(10**9)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)
    prototype: NDArray[np.float32] | None = None
    decision: MatchDecision | None = None


class SightingBook:
    """Keeps the open sightings of one camera and closes those whose track is gone.

    Args:
        camera_id: the camera this book belongs to.
        max_embeddings: embeddings kept per sighting (oldest dropped first).
        embed_interval_frames: re-embed a tracked person at most this often.
        max_missing_frames: a track unseen for longer is closed.
        switch_similarity: a good crop less similar than this to the track's
            prototype splits the sighting (the tracker swapped two people).
    """

    def __init__(
        self,
        camera_id: str,
        max_embeddings: int = 16,
        embed_interval_frames: int = 1,
        max_missing_frames: int = 30,
        switch_similarity: float = 0.5,
    ) -> None:
        self.camera_id = camera_id
        self.max_embeddings = max_embeddings
        self.embed_interval_frames = embed_interval_frames
        self.max_missing_frames = max_missing_frames
        self.switch_similarity = switch_similarity
        self.model_id: str | None = None
        self.splits = 0
        self._open: dict[int, _State] = {}
        self._closed: list[Sighting] = []

    def __len__(self) -> int:
        return len(self._open)

    def observe(self, track_id: int, frame_index: int, now: float) -> None:
        st = self._open.get(track_id)
        if st is None:
            self._open[track_id] = _State(now, now, frame_index)
        else:
            st.last_seen_at, st.last_frame = now, frame_index

    def wants_embedding(self, track_id: int, frame_index: int) -> bool:
        """True when this track's crop should go through the ReID model now."""
        st = self._open.get(track_id)
        if st is None or not st.vectors:
            return True
        return frame_index - st.last_embed_frame >= self.embed_interval_frames

    def has_prototype(self, track_id: int) -> bool:
        st = self._open.get(track_id)
        return st is not None and st.prototype is not None

    def add_embedding(
        self, track_id: int, vector: NDArray[np.float32], model_id: str, frame_index: int
    ) -> NDArray[np.float32]:
        """Add one good crop's embedding; returns the updated prototype (D,)."""
        if self.model_id is not None and model_id != self.model_id:
            raise ValueError(f"camera {self.camera_id}: mixing {self.model_id} and {model_id} embeddings")
        self.model_id = model_id
        st = self._open[track_id]
        if st.prototype is not None and float(st.prototype @ vector) < self.switch_similarity:
            st = self._split(track_id)
        st.vectors.append(np.asarray(vector, np.float32))
        if len(st.vectors) > self.max_embeddings:
            st.vectors.pop(0)
        st.last_embed_frame = frame_index
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

    def prototype(self, track_id: int) -> NDArray[np.float32] | None:
        st = self._open.get(track_id)
        return None if st is None else st.prototype

    def set_decision(self, track_id: int, decision: MatchDecision) -> None:
        self._open[track_id].decision = decision

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
        )

    def _close(self, track_id: int) -> Sighting:
        sighting = self.snapshot(track_id)
        del self._open[track_id]
        return sighting
