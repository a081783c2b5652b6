"""The query gallery: the identities a user is looking for, several embeddings each."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Embeddings
from reidcam.match.similarity import cosine_similarity


@dataclass
class QueryIdentity:
    """One person to look for; ``vectors`` (K, D) come from ``model_id`` only.

    ``view_cameras[k]``: the camera query image ``k`` was cropped from (None: a photo, or not
    known); a decision against that view from another camera is a cross-camera decision.
    """

    query_id: str
    label: str
    model_id: str
    vectors: NDArray[np.float32]
    sources: list[str] = field(default_factory=list)
    view_cameras: list[str | None] = field(default_factory=list)


class Gallery:
    """Thread-safe set of query identities.

    An identity's score against a probe is the maximum similarity over its
    query images: several views of a person (front, back) should each be able
    to vouch for a match without being diluted by the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, QueryIdentity] = {}

    def add(
        self,
        query_id: str,
        embeddings: Embeddings,
        label: str | None = None,
        source: str = "",
        cameras: Sequence[str | None] | None = None,
    ) -> None:
        """Add query images to an identity, creating it if new.

        ``cameras``: per image, the camera it was cropped from (None or omitted: unknown).

        Raises:
            ValueError: the embeddings come from another model than the identity's, or
                ``cameras`` does not have one entry per image.
        """
        if len(embeddings) == 0:
            raise ValueError("no embeddings to add")
        views: list[str | None] = [None] * len(embeddings) if cameras is None else list(cameras)
        if len(views) != len(embeddings):
            raise ValueError(f"{len(views)} cameras for {len(embeddings)} query images")
        with self._lock:
            ident = self._ids.get(query_id)
            if ident is None:
                vectors = embeddings.vectors.copy()
                self._ids[query_id] = QueryIdentity(
                    query_id, label or query_id, embeddings.model_id, vectors, [source], views
                )
                return
            if ident.model_id != embeddings.model_id:
                raise ValueError(
                    f"query {query_id!r} holds {ident.model_id} embeddings, got {embeddings.model_id}"
                )
            ident.vectors = np.concatenate([ident.vectors, embeddings.vectors])
            ident.sources.append(source)
            ident.view_cameras.extend(views)

    def view_camera(self, query_id: str, view: int | None) -> str | None:
        """The camera view ``view`` of ``query_id`` was cropped from; None when not known."""
        with self._lock:
            ident = self._ids.get(query_id)
            if ident is None or view is None or not 0 <= view < len(ident.view_cameras):
                return None
            return ident.view_cameras[view]

    def remove(self, query_id: str) -> bool:
        with self._lock:
            return self._ids.pop(query_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()

    def identities(self) -> list[QueryIdentity]:
        with self._lock:
            return list(self._ids.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def scores(self, vector: NDArray[np.float32], model_id: str) -> list[tuple[str, float]]:
        """Similarity of one probe vector to every identity, best first.

        Raises:
            ValueError: an identity was enrolled with another model.
        """
        return [(qid, sim) for qid, sim, _ in self.scores_with_views(vector, model_id)]

    def scores_with_views(self, vector: NDArray[np.float32], model_id: str) -> list[tuple[str, float, int]]:
        """``(query_id, similarity, view)`` per identity, best first; ``view`` is the index of
        the identity's vector (query image) that gave the score.

        Raises:
            ValueError: an identity was enrolled with another model.
        """
        out: list[tuple[str, float, int]] = []
        for ident in self.identities():
            if ident.model_id != model_id:
                raise ValueError(f"cannot compare {model_id} embeddings with {ident.model_id} query")
            sims = cosine_similarity(vector, ident.vectors)[0]
            view = int(np.argmax(sims))
            out.append((ident.query_id, float(sims[view]), view))
        out.sort(key=lambda item: item[1], reverse=True)
        return out
