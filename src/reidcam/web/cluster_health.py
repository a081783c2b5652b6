"""What the page says about the distributed mode's processes: one line, and the problems.

Built from the health reports in ``reidcam-health`` (a process that stopped reporting has
lapsed out of them) and the camera registry. A problem is a sentence a user can act on. Lost
data (sightings a worker dropped, or the memory could not store) stays a problem for as long as
the process runs: a count that went back to green would hide it. A database that was away is not
a problem once it is back (those sightings were delivered again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClusterHealth:
    summary: str
    problems: list[str] = field(default_factory=list)


def _int(report: Mapping[str, Any], *path: str) -> int:
    value: Any = report
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def assess(
    workers: Mapping[str, Mapping[str, Any]],
    memory: Mapping[str, Mapping[str, Any]],
    cameras: Iterable[str],
) -> ClusterHealth:
    """The summary line and the problems of the live ``workers`` and ``memory`` services (name ->
    last health report) serving the registry's ``cameras``."""
    registered = sorted(cameras)
    running: set[str] = set()
    for report in workers.values():
        cams = report.get("cameras")
        if isinstance(cams, list):
            running.update(c for c in cams if isinstance(c, str))
    problems = [p for name, report in sorted(workers.items()) for p in _worker_problems(name, report)]
    if registered and not workers:
        problems.append("no worker is running: no camera is processed (start `reidcam worker`)")
    elif waiting := [c for c in registered if c not in running]:
        full = all(_full(report) for report in workers.values())
        why = " (every worker runs as many as its --max-cameras allows: start another)" if full else ""
        problems.append(f"no worker runs {_plural(len(waiting), 'camera')} yet: {', '.join(waiting)}{why}")
    active = sorted(n for n, r in memory.items() if r.get("role") == "active")
    if not memory:
        problems.append(
            "no memory service is running: closed sightings wait on the broker and People is not "
            "updated (start `reidcam memory`)"
        )
    elif not active:
        roles = ", ".join(f"{n} {r.get('role', '?')}" for n, r in sorted(memory.items()))
        problems.append(f"no memory service is active yet ({roles})")
    problems += [p for name, report in sorted(memory.items()) for p in _memory_problems(name, report)]
    memory_part = f"memory {', '.join(active)} active" if active else "no active memory"
    cams = f"{len(running & set(registered))}/{len(registered)} cameras"
    return ClusterHealth(f"{_plural(len(workers), 'worker')} · {cams} · {memory_part}", problems)


def _full(report: Mapping[str, Any]) -> bool:
    cap, cams = report.get("max_cameras"), report.get("cameras")
    return isinstance(cap, int) and isinstance(cams, list) and len(cams) >= cap


def _worker_problems(name: str, report: Mapping[str, Any]) -> list[str]:
    out = []
    dropped = _int(report, "publisher", "dropped")
    if dropped:
        out.append(
            f"worker {name} dropped {_plural(dropped, 'closed sighting')} while the broker was away "
            "(its buffer was full: broker.buffer_max_sightings)"
        )
    queued = _int(report, "publisher", "queued")
    publisher = report.get("publisher")
    error = publisher.get("last_error") if isinstance(publisher, Mapping) else None
    if queued and error:
        out.append(f"worker {name}: {_plural(queued, 'sighting')} waiting to be sent ({error})")
    refused = report.get("refused_cameras")
    for camera_id, why in sorted(refused.items()) if isinstance(refused, Mapping) else ():
        out.append(f"worker {name} cannot run camera {camera_id}: {why}")
    return out


def _memory_problems(name: str, report: Mapping[str, Any]) -> list[str]:
    out = []
    failed, rejected = _int(report, "failed"), _int(report, "rejected")
    if failed:
        out.append(f"memory {name} could not store {_plural(failed, 'sighting')} and dropped them")
    if rejected:
        last = report.get("last_rejection") or "no reason given"
        out.append(f"memory {name} refused {_plural(rejected, 'sighting')} (last: {last})")
    return out
