"""IdentitySink: the pipeline's closed sightings become global identities, off the runner thread.

The runner thread only enqueues; one writer thread encodes the crop, writes it and commits the
sighting's transaction. ``close()`` drains the queue, so a clean shutdown loses nothing; a
killed process loses only the sightings still queued or mid-transaction, never a committed one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting
from reidcam.identity.memory import IdentityMemory
from reidcam.identity.models import Assignment

log = logging.getLogger(__name__)

_STOP = object()
RETRIES = 3


class IdentitySink:
    """EventSink that records every closed sighting with a prototype in an IdentityMemory.

    Args:
        memory: where sightings and identities are kept.
        on_assigned: called on the writer thread after each commit (live UI updates, logs).
        max_queue: sightings waiting to be written; when full, ``put_timeout_s`` is waited
            before the sighting is dropped and counted, so a stalled disk never stalls cameras.
    """

    def __init__(
        self,
        memory: IdentityMemory,
        on_assigned: Callable[[Assignment], None] | None = None,
        max_queue: int = 1000,
        put_timeout_s: float = 1.0,
    ) -> None:
        self.memory = memory
        self.on_assigned = on_assigned
        self.put_timeout_s = put_timeout_s
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self._closed = False
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="reidcam-identity-writer", daemon=True)
        self._thread.start()

    # -- EventSink ----------------------------------------------------------
    def on_frame(self, result: FrameResult) -> None:
        return None

    def on_status(self, status: SourceStatus) -> None:
        return None

    def on_sighting_closed(self, sighting: Sighting) -> None:
        if sighting.prototype is None:
            return
        if self._closed:
            self.dropped += 1
            log.warning("identity sink is closed: dropped sighting %s", sighting.key)
            return
        try:
            self._queue.put(sighting, timeout=self.put_timeout_s)
        except queue.Full:
            self.dropped += 1
            log.warning("identity writer is behind: dropped sighting %s", sighting.key)

    # -- lifecycle ------------------------------------------------------------
    @property
    def pending(self) -> int:
        return self._queue.unfinished_tasks

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued sighting is committed (or failed); True if the queue drained."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 30.0) -> bool:
        """Write what is queued, then stop the writer; True if everything was written."""
        self._closed = True
        if not self._thread.is_alive():
            return self._queue.unfinished_tasks == 0
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        return not self._thread.is_alive() and self._queue.unfinished_tasks == 0

    # -- the writer -------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self._write(item)  # type: ignore[arg-type]
            finally:
                self._queue.task_done()

    def _write(self, sighting: Sighting) -> None:
        for attempt in range(1, RETRIES + 1):
            try:
                assignment = self.memory.record_sighting(sighting)
                break
            except OperationalError:
                if attempt == RETRIES:
                    self.failed += 1
                    log.exception("cannot store sighting %s after %d tries", sighting.key, RETRIES)
                    return
                time.sleep(0.2 * attempt)
            except Exception:
                self.failed += 1
                log.exception("cannot store sighting %s", sighting.key)
                return
        if assignment is None:
            return
        self.written += 1
        if self.on_assigned is not None:
            try:
                self.on_assigned(assignment)
            except Exception:
                log.exception("on_assigned callback failed")
