"""One background thread that can be started again after a stop: the runner, the retention purge."""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundThread:
    """Runs ``target`` on a daemon thread; ``stop_event`` is what ``target`` watches to end.

    ``start`` does nothing while the thread runs; ``stop`` sets the event and joins.
    """

    def __init__(self, name: str, target: Callable[[], None], stop_event: threading.Event) -> None:
        self.name = name
        self._target = target
        self._stop = stop_event
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the thread ends; True if it did."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.running
