"""The worker's ends of the broker: closed sightings out, shared settings in.

``PublishingSink`` is the worker's ``EventSink``: every closed sighting becomes a
``ClosedSighting`` (its best crop as a small JPEG, for the memory's pictures) with a fresh
sighting id (the message id, so a re-send is stored once) handed to the
``SightingPublisher``, which never blocks the camera loop. ``SettingsApplier``
applies the shared settings (``reidcam-settings``: threshold, query people) to the same
``Gallery`` and ``Matcher`` the single process uses, so matching on a worker decides as
``reidcam serve`` does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reidcam.broker.buffer import SightingPublisher
from reidcam.broker.settings import QUERIES, THRESHOLD, QueryPerson, unusable
from reidcam.broker.wire import ClosedSighting, new_sighting_id
from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Embeddings, Sighting, l2_normalize
from reidcam.match import Gallery, Matcher

log = logging.getLogger(__name__)

#: Query ids of the people set through the shared settings start with this.
SHARED_QUERY_PREFIX = "shared:"


@dataclass
class SinkCounts:
    """``published``: sightings handed to the publisher; ``skipped``: closed without a
    prototype (no good crop was embedded: nothing to match on, as in the single process)."""

    published: int = 0
    skipped: int = 0


class PublishingSink:
    """EventSink that publishes every closed sighting (with a prototype) to the broker."""

    def __init__(self, publisher: SightingPublisher, worker: str, with_crops: bool = True) -> None:
        self._publisher = publisher
        self.worker = worker
        self.with_crops = with_crops
        self.counts = SinkCounts()
        self._lock = threading.Lock()

    def on_frame(self, result: FrameResult) -> None:
        return None  # overlays and decisions: cluster.feed_sink.LiveFeedSink

    def on_status(self, status: SourceStatus) -> None:
        return None

    def on_sighting_closed(self, sighting: Sighting) -> None:
        if sighting.prototype is None or sighting.model_id is None:
            with self._lock:
                self.counts.skipped += 1
            return
        closed = ClosedSighting.from_sighting(
            sighting, new_sighting_id(), worker=self.worker, with_crop=self.with_crops
        )
        self._publisher.publish(closed)
        with self._lock:
            self.counts.published += 1


class SettingsApplier:
    """Applies ``reidcam-settings`` changes to a matcher and its gallery (the watch's callback).

    ``threshold``: the matcher's threshold; deleted -> ``default_threshold`` again.
    ``queries``: replaces the shared query people (new ones added before stale ones are
    removed, so the gallery is never empty in between); a person embedded by another ReID
    model than ``model_id`` is refused with an error line (never compared). Deleted -> none.
    Called on the broker loop; ``Gallery`` and ``Matcher`` are thread-safe.
    """

    def __init__(self, matcher: Matcher, gallery: Gallery, model_id: str, default_threshold: float) -> None:
        self.matcher = matcher
        self.gallery = gallery
        self.model_id = model_id
        self.default_threshold = default_threshold
        self.refused = 0

    def __call__(self, key: str, value: object | None) -> None:
        if key == THRESHOLD:
            threshold = self.default_threshold if value is None else float(value)  # type: ignore[arg-type]
            self.matcher.set_threshold(threshold)
            log.info("threshold %.3f (shared settings)", threshold)
        elif key == QUERIES:
            self.set_queries(() if value is None else value)  # type: ignore[arg-type]

    def set_queries(self, people: Sequence[QueryPerson]) -> None:
        wanted: dict[str, QueryPerson] = {}
        for person in people:
            why = unusable(person, self.model_id)
            if why is not None:
                self.refused += 1
                log.error("%s", why)
                continue
            wanted[SHARED_QUERY_PREFIX + person.name] = person
        current = {i.query_id: i for i in self.gallery.identities()}
        for qid, person in wanted.items():
            have = current.get(qid)
            vectors = l2_normalize(person.vectors)
            if have is not None and np.array_equal(have.vectors, vectors):
                continue  # a watch repeats values after a reconnect: no gap for an unchanged person
            self.gallery.remove(qid)  # replaced whole, never appended to
            self.gallery.add(qid, Embeddings(vectors, person.model_id), label=person.name, source="shared")
        for ident in self.gallery.identities():
            if ident.query_id.startswith(SHARED_QUERY_PREFIX) and ident.query_id not in wanted:
                self.gallery.remove(ident.query_id)
        log.info("%d query people (shared settings)", len(wanted))
