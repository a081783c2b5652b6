"""Detection before viewers: the threads that serve pages run at a lower CPU priority.

On a small machine every MJPEG viewer, event stream and API poll takes CPU from detection.
A surveillance system should rather answer a viewer late than process a camera late, so the
web server's threads are made "nicer" than the pipeline's. Linux gives each thread its own
nice value and a new thread inherits its creator's; raising one's own nice needs no
privilege, lowering it does. Hence the pipeline's threads are started from a
:class:`ThreadLauncher`, a thread created before the server lowered its priority, and the
server's main thread then lowers its own (the threads it creates later inherit that).
Elsewhere than Linux this does nothing.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
SERVER_NICE = 10  # CFS weight about 1/10 of a nice-0 thread's when both want the CPU


def lower_this_thread(increment: int = SERVER_NICE) -> bool:
    """Raise the calling thread's nice value by ``increment``; False where that is not possible."""
    if not sys.platform.startswith("linux") or increment <= 0:
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except OSError as exc:
        log.warning("could not lower the priority of thread %d: %s", tid, exc)
        return False
    return True


def thread_nice() -> int:
    """The calling thread's nice value (0 where unknown)."""
    if not sys.platform.startswith("linux"):
        return 0
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class ThreadLauncher:
    """Runs callables on one long-lived thread, so threads they start inherit its priority."""

    def __init__(self, name: str = "reidcam-launcher") -> None:
        self._calls: queue.Queue[tuple[Callable[[], object], Future[object]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the launcher thread; its result, or its exception re-raised here."""
        if threading.current_thread() is self._thread:
            return fn()
        done: Future[object] = Future()
        self._calls.put((fn, done))
        return done.result()  # type: ignore[return-value]

    def close(self) -> None:
        self._calls.put(None)
        self._thread.join(5.0)

    def _loop(self) -> None:
        while (item := self._calls.get()) is not None:
            fn, done = item
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)
