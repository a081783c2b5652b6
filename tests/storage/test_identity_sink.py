"""IdentitySink's writer thread, the config helpers and the retention thread (no database needed
for the sink mechanics: a stand-in memory records what it is given)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError
from storage_support import person, sighting

from reidcam.config import AppConfig
from reidcam.core.types import Sighting, SightingKey
from reidcam.identity import IdentitySink, RetentionWorker
from reidcam.identity.setup import open_memory, retention_worker, settings_from_config
from reidcam.reid.registry import REGISTRY


class SlowMemory:
    def __init__(self, delay_s: float = 0.0, fail_first: int = 0, error: type[Exception] = OperationalError):
        self.delay_s, self.fail_first, self.error = delay_s, fail_first, error
        self.recorded: list[Sighting] = []
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def record_sighting(self, s: Sighting):
        self.calls += 1
        self.gate.wait(5)
        time.sleep(self.delay_s)
        if self.calls <= self.fail_first:
            raise self.error("stmt", {}, Exception("database is locked"))
        self.recorded.append(s)
        return f"assigned-{s.key.track_id}"


def test_close_writes_everything_queued_in_order():
    memory = SlowMemory(delay_s=0.002)
    seen = []
    sink = IdentitySink(memory, on_assigned=seen.append)
    for i in range(20):
        sink.on_sighting_closed(sighting("c1", i, person(i), 1000.0 + i))
    assert sink.close(timeout_s=10)
    assert [s.key.track_id for s in memory.recorded] == list(range(20))
    assert seen == [f"assigned-{i}" for i in range(20)] and sink.written == 20


def test_sightings_without_prototype_are_not_queued():
    memory = SlowMemory()
    sink = IdentitySink(memory)
    sink.on_sighting_closed(Sighting(SightingKey("c1", 1), 0.0, 1.0, 0, None, None))
    assert sink.flush(timeout_s=5) and memory.calls == 0
    sink.close()


def test_a_full_queue_drops_instead_of_stalling_the_cameras():
    memory = SlowMemory()
    memory.gate.clear()  # the writer is stuck on the first sighting
    sink = IdentitySink(memory, max_queue=2, put_timeout_s=0.01)
    for i in range(6):
        sink.on_sighting_closed(sighting("c1", i, person(i), 1000.0))
    assert sink.dropped >= 3
    memory.gate.set()
    assert sink.close(timeout_s=10)
    assert len(memory.recorded) + sink.dropped == 6


def test_a_locked_database_is_retried_and_other_errors_are_counted():
    flaky = SlowMemory(fail_first=2)
    sink = IdentitySink(flaky)
    sink.on_sighting_closed(sighting("c1", 1, person(1), 1000.0))
    assert sink.close(timeout_s=10) and len(flaky.recorded) == 1 and sink.failed == 0

    broken = SlowMemory(fail_first=1, error=ValueError)
    sink = IdentitySink(broken)
    sink.on_sighting_closed(sighting("c1", 1, person(1), 1000.0))
    sink.on_sighting_closed(sighting("c1", 2, person(2), 1000.0))
    assert sink.close(timeout_s=10)
    assert sink.failed == 1 and [s.key.track_id for s in broken.recorded] == [2]


def test_config_gives_settings_and_a_sqlite_memory_in_the_data_dir(tmp_path):
    cfg = AppConfig.model_validate(
        {"storage": {"retention_days": 2, "max_embeddings_per_identity": 7, "identity_margin": 0.1}}
    )
    s = settings_from_config(cfg)
    assert s.retention_max_age_s == 2 * 86400 and s.max_embeddings_per_identity == 7 and s.margin == 0.1
    model_threshold = REGISTRY[cfg.reid.model].threshold
    assert s.threshold == pytest.approx(model_threshold + 0.1), "no calibrated curve: model threshold + 0.1"
    assert s.quorum == 0.5 and s.topology is None
    assert (
        settings_from_config(AppConfig.model_validate({"storage": {"identity_threshold": 0.8}})).threshold
        == 0.8
    )
    assert (
        settings_from_config(
            AppConfig.model_validate({"storage": {"retention_days": None}})
        ).retention_max_age_s
        is None
    )
    with open_memory(cfg, tmp_path / "data") as memory:
        assert (tmp_path / "data" / "reidcam.db").is_file()
        worker = retention_worker(cfg, memory)
        assert worker.interval_s == cfg.storage.purge_interval_s


def test_the_retention_thread_purges_periodically_and_stops(memory):
    memory.record_sighting(sighting("c1", 1, person(1), 1000.0))
    worker = RetentionWorker(memory.purge, interval_s=0.05, max_age_s=60, clock=lambda: 10_000.0)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.passes < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert worker.passes >= 2 and memory.counts()["sightings"] == 0
    assert not np.isnan(worker.last_report.cutoff_at)


def test_a_closed_sink_drops_late_sightings():
    memory = SlowMemory()
    sink = IdentitySink(memory)
    assert sink.close()
    sink.on_sighting_closed(sighting("c1", 1, person(1), 1000.0))
    assert sink.dropped == 1 and memory.calls == 0
