"""Read a running process's memory, open files and threads from ``/proc`` (Linux only).

Used by the soak and load benchmarks to watch the real ``reidcam serve`` process from the
outside: a leak shows as a resident set, a descriptor count or a thread count that keeps
growing while the work stays the same. Children are included, so a server that ever forks
workers is still measured whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessSample:
    """One look at a process tree.

    Attributes:
        rss_mb: resident set (VmRSS) of the process and its children, MiB.
        fds: open file descriptors (sockets included), all processes of the tree.
        threads: threads of the tree.
        cpu_s: user + system CPU seconds the tree has used so far (live processes only).
        pids: how many processes were counted (1 = no children).
    """

    rss_mb: float
    fds: int
    threads: int
    cpu_s: float
    pids: int


def read_status(pid: int, proc: Path = PROC) -> dict[str, str]:
    """``/proc/PID/status`` as a dict of raw strings. Raises OSError when the process is gone."""
    out: dict[str, str] = {}
    for line in (proc / str(pid) / "status").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def rss_mb(status: dict[str, str]) -> float:
    """VmRSS in MiB from a parsed status (the kernel writes kB); 0 for a zombie without one."""
    raw = status.get("VmRSS", "0 kB").split()
    return int(raw[0]) / 1024.0 if raw else 0.0


def count_fds(pid: int, proc: Path = PROC) -> int:
    """Open descriptors of one process. Raises OSError when gone or not ours to read."""
    return len(os.listdir(proc / str(pid) / "fd"))


def cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """User + system CPU time of one process, seconds (``/proc/PID/stat`` fields 14 and 15)."""
    stat = (proc / str(pid) / "stat").read_text(encoding="utf-8")
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and ')'
    ticks = int(fields[11]) + int(fields[12])
    return ticks / float(os.sysconf("SC_CLK_TCK"))


def _parent_of(pid: int, proc: Path) -> int | None:
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(pid: int, proc: Path = PROC) -> list[int]:
    """Every live descendant of ``pid`` (children, grandchildren...), by scanning /proc."""
    parents: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            ppid = _parent_of(int(entry.name), proc)
            if ppid is not None:
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def probe(pid: int, proc: Path = PROC) -> ProcessSample:
    """Memory, descriptors, threads and CPU of ``pid`` and its descendants.

    Raises:
        OSError: ``pid`` itself is gone (a child that ends meanwhile is skipped).
    """
    status = read_status(pid, proc)
    rss, threads = rss_mb(status), int(status.get("Threads", "0"))
    fds, cpu, n = count_fds(pid, proc), cpu_seconds(pid, proc), 1
    for child in descendants(pid, proc):
        try:
            st = read_status(child, proc)
            rss, threads = rss + rss_mb(st), threads + int(st.get("Threads", "0"))
            fds, cpu, n = fds + count_fds(child, proc), cpu + cpu_seconds(child, proc), n + 1
        except (OSError, ValueError):
            continue
    return ProcessSample(round(rss, 1), fds, threads, round(cpu, 2), n)
