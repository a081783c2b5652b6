"""The worker's pieces that need no broker: registry entries, shared settings, the sink."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from reidcam.broker.settings import QUERIES, THRESHOLD, QueryPerson
from reidcam.broker.wire import ClosedSighting
from reidcam.cluster.feed_sink import FeedOptions
from reidcam.cluster.sink import SHARED_QUERY_PREFIX, PublishingSink, SettingsApplier
from reidcam.cluster.worker import WorkerOptions, registry_camera
from reidcam.core.errors import ReidcamError
from reidcam.core.types import Embeddings, Sighting, SightingKey
from reidcam.match import Gallery, Matcher, MatcherSettings

MODEL = "m1"


def test_registry_entry_becomes_the_camera_config_with_env_expanded(monkeypatch) -> None:
    monkeypatch.setenv("CAM_PASS", "s3cret")
    cam = registry_camera("door", {"source": "rtsp://u:${CAM_PASS}@cam/1", "loop": True})
    assert (cam.id, cam.source, cam.loop) == ("door", "rtsp://u:s3cret@cam/1", True)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"id": "other", "source": 0}, "names another id"),
        ({"source": 0, "bogus": 1}, "bogus"),
        ({}, "source"),
        ({"source": "rtsp://u:${UNSET_FOR_TEST}@x/"}, "UNSET_FOR_TEST"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_registry_entry_is_a_clear_error(value, says) -> None:
    with pytest.raises(ReidcamError, match=says):
        registry_camera("door", value)


def test_worker_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_cameras"):
        WorkerOptions(name="w", max_cameras=0)
    with pytest.raises(ValueError, match="name"):
        WorkerOptions(name="")
    with pytest.raises(ValueError, match="health"):
        WorkerOptions(name="w", health_every_s=2.0, health_ttl_s=2.0)
    with pytest.raises(ValueError, match="crop_every_frames"):
        FeedOptions(crop_every_frames=0)
    with pytest.raises(ValueError, match="watch_for_s"):
        FeedOptions(watch_for_s=0)


def _applier() -> SettingsApplier:
    return SettingsApplier(Matcher(MatcherSettings(threshold=0.6)), Gallery(), MODEL, default_threshold=0.6)


def test_threshold_setting_and_its_deletion() -> None:
    a = _applier()
    a(THRESHOLD, 0.3)
    assert a.matcher.settings.threshold == pytest.approx(0.3)
    a(THRESHOLD, None)
    assert a.matcher.settings.threshold == pytest.approx(0.6)


def test_queries_replace_the_shared_people_and_keep_the_others(caplog) -> None:
    a = _applier()
    own = Embeddings(np.eye(4, dtype=np.float32)[:1], MODEL)
    a.gallery.add("local", own)  # enrolled another way: not the settings' to remove
    v = np.array([[3.0, 4.0, 0.0, 0.0]], np.float32)
    a(QUERIES, (QueryPerson("alice", MODEL, v), QueryPerson("bob", MODEL, v)))
    ids = {i.query_id: i for i in a.gallery.identities()}
    assert set(ids) == {"local", SHARED_QUERY_PREFIX + "alice", SHARED_QUERY_PREFIX + "bob"}
    assert np.allclose(ids[SHARED_QUERY_PREFIX + "alice"].vectors, [[0.6, 0.8, 0, 0]])  # normalised
    with caplog.at_level(logging.ERROR):
        a(QUERIES, (QueryPerson("alice", MODEL, v), QueryPerson("eve", "other-model", v)))
    assert {i.query_id for i in a.gallery.identities()} == {"local", SHARED_QUERY_PREFIX + "alice"}
    assert a.refused == 1 and "other-model" in caplog.text
    a(QUERIES, None)
    assert [i.query_id for i in a.gallery.identities()] == ["local"]


class _Publisher:
    def __init__(self) -> None:
        self.sent: list[ClosedSighting] = []

    def publish(self, s: ClosedSighting) -> None:
        self.sent.append(s)


def _sighting(track_id: int, prototype: np.ndarray | None) -> Sighting:
    return Sighting(SightingKey("cam0", track_id, 0), 10.0, 12.0, 0 if prototype is None else 3, prototype,
                    None if prototype is None else MODEL)  # fmt: skip


def test_sink_publishes_closed_sightings_with_fresh_ids_and_skips_empty_ones() -> None:
    pub = _Publisher()
    sink = PublishingSink(pub, "w1")  # type: ignore[arg-type]
    proto = np.array([1, 0, 0, 0], np.float32)
    for track_id in (1, 2):
        sink.on_sighting_closed(_sighting(track_id, proto))
    sink.on_sighting_closed(_sighting(3, None))
    assert [s.track_id for s in pub.sent] == [1, 2]
    assert all(s.worker == "w1" and s.model_id == MODEL for s in pub.sent)
    assert pub.sent[0].sighting_id != pub.sent[1].sighting_id
    assert (sink.counts.published, sink.counts.skipped) == (2, 1)
