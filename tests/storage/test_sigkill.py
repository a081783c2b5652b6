"""SIGKILL in the middle of a run loses no committed sighting and breaks nothing at the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import sqlalchemy as sa

from reidcam.identity import IdentityMemory
from reidcam.storage import tables as t
from reidcam.storage.files import TEMP_PREFIX

WORKER = Path(__file__).with_name("sigkill_worker.py")
KILL_AFTER = 12


def _start(data_dir: Path, url: str, rounds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), url, str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_until_killed(data_dir: Path, url: str) -> set[str]:
    """Start the worker, SIGKILL it once it has committed KILL_AFTER sightings; the ids it printed."""
    proc = _start(data_dir, url, rounds=0)
    committed: set[str] = set()
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("committed "):
                committed.add(line.split()[1])
            if len(committed) >= KILL_AFTER or time.monotonic() > deadline:
                os.kill(proc.pid, signal.SIGKILL)
                break
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    committed |= {x.split()[1] for x in rest.splitlines() if x.startswith("committed ")}
    assert proc.returncode == -signal.SIGKILL, f"the worker ended by itself: {err[-2000:]}"
    assert len(committed) >= KILL_AFTER, err[-2000:]
    return committed


def _crop_paths(memory: IdentityMemory) -> set[str]:
    with memory.engine.connect() as conn:
        paths = set(conn.execute(sa.select(t.sightings.c.crop_path)).scalars())
        paths |= set(conn.execute(sa.select(t.identity_embeddings.c.crop_path)).scalars())
    return {p for p in paths if p}


def test_sigkill_mid_run_loses_no_committed_sighting(db_url, data_dir):
    committed = _run_until_killed(data_dir, db_url)

    # Files left as they were at the kill: every finished crop decodes, temp files are only temps.
    for path in (data_dir / "memory").rglob("*.jpg"):
        if not path.name.startswith(TEMP_PREFIX):
            assert cv2.imread(str(path)) is not None, f"half-written crop {path}"

    memory = IdentityMemory.open(data_dir, url=db_url, sweep_min_age_s=0.0)  # migrations run again
    try:
        missing = [sid for sid in committed if memory.get_sighting(sid) is None]
        assert not missing, f"committed sightings lost: {missing}"
        referenced = _crop_paths(memory)
        assert all(memory.crop_file(p) is not None for p in referenced), "a row points at no file"
        on_disk = {
            p.relative_to(data_dir).as_posix() for p in (data_dir / "memory").rglob("*") if p.is_file()
        }
        assert on_disk == referenced, "the startup sweep removed temp and orphan files"
        before = memory.counts()["sightings"]
    finally:
        memory.close()

    again = _start(data_dir, db_url, rounds=1)  # the next run goes on writing
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err[-2000:]
    assert out.rstrip().endswith("done")
    with IdentityMemory.open(data_dir, url=db_url) as memory:
        assert memory.counts()["sightings"] > before
