"""Detection keeps its priority while the web server's threads give theirs up."""

from __future__ import annotations

import sys
import threading

import pytest

from reidcam.runtime.priority import ThreadLauncher, lower_this_thread, thread_nice

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def _in_thread(fn):  # type: ignore[no-untyped-def]
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(10)
    return out[0]


def test_a_thread_lowers_only_itself_and_what_it_starts_later() -> None:
    base = thread_nice()
    launcher = ThreadLauncher()  # made before anything lowered its priority
    try:

        def server_thread() -> tuple[int, int, int]:
            assert lower_this_thread(5)
            started_here = _in_thread(thread_nice)  # inherits the lowered priority
            started_by_launcher = launcher.call(lambda: _in_thread(thread_nice))
            return thread_nice(), started_here, started_by_launcher  # type: ignore[return-value]

        mine, child, pipeline = _in_thread(server_thread)
        assert mine == child == min(19, base + 5)
        assert pipeline == base  # detection's threads keep the normal priority
        assert thread_nice() == base  # this thread was never touched
    finally:
        launcher.close()


def test_the_launcher_returns_results_and_raises_errors() -> None:
    launcher = ThreadLauncher()
    try:
        assert launcher.call(lambda: threading.current_thread().name) == "reidcam-launcher"
        with pytest.raises(ZeroDivisionError):
            launcher.call(lambda: 1 / 0)
        assert launcher.call(lambda: 42) == 42  # still serving after an error
    finally:
        launcher.close()
