"""A perception worker that notes every closed sighting it hands to its publisher (for tests
that check what reached the stream or the memory against what the worker closed)."""

from __future__ import annotations

import threading

from reidcam.broker.wire import ClosedSighting
from reidcam.cluster.worker import Worker


class RecordingWorker(Worker):
    """A worker that notes every closed sighting handed to its publisher, in order."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.closed: list[ClosedSighting] = []
        self.closed_lock = threading.Lock()

    def start(self) -> Worker:
        super().start()
        publisher = self._publisher  # the test's only look inside: which ids were handed over
        assert publisher is not None
        publish = publisher.publish

        def record(s: ClosedSighting) -> None:
            with self.closed_lock:
                self.closed.append(s)
            publish(s)

        publisher.publish = record  # type: ignore[method-assign]
        return self

    def closed_ids(self) -> list[str]:
        with self.closed_lock:
            return [s.sighting_id for s in self.closed]
