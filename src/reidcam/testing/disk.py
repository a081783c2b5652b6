"""A real small filesystem to fill up or make read-only, for disk-fault tests.

A chmod'ed folder stops nobody running as root (CI containers often do), and a mocked
``open`` tests the mock. A tiny tmpfs gives the kernel's own ENOSPC and EROFS to every
writer, SQLite and OpenCV included. Mounting needs root (CAP_SYS_ADMIN); where it is not
allowed, :class:`TinyDisk` raises :class:`DiskUnavailable` with the reason, for a skip.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

FILLER = ".filler"


class DiskUnavailable(RuntimeError):
    """A tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN, no mount binary)."""


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False, timeout=10)


class TinyDisk:
    """A tmpfs of ``size_kib`` mounted on ``path`` while the ``with`` block runs.

    ``fill()`` takes every free block (writes fail with ENOSPC), ``free()`` gives it back,
    ``read_only()`` / ``writable()`` remount it (writes fail with EROFS, root included).
    """

    def __init__(self, path: Path, size_kib: int = 64) -> None:
        self.path = Path(path)
        self.size_kib = size_kib
        self._mounted = False

    def __enter__(self) -> TinyDisk:
        if os.geteuid() != 0:
            raise DiskUnavailable("mounting a tmpfs needs root (CAP_SYS_ADMIN); run the test as root")
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            res = _mount("-t", "tmpfs", "-o", f"size={self.size_kib}k,mode=0755", "tmpfs", str(self.path))
        except (OSError, subprocess.SubprocessError) as exc:
            raise DiskUnavailable(f"cannot run mount: {exc}") from exc
        if res.returncode != 0:
            raise DiskUnavailable(f"mount -t tmpfs is not permitted here: {res.stderr.strip()}")
        self._mounted = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._mounted:
            res = subprocess.run(["umount", str(self.path)], capture_output=True, check=False, timeout=10)
            if res.returncode != 0:  # a file still open (a leaked handle): detach it anyway
                subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False, timeout=10)
            self._mounted = False

    def fill(self) -> int:
        """Write a filler file until the disk is full; returns its size in bytes."""
        chunk = b"\0" * 4096
        written = 0
        with (self.path / FILLER).open("ab", buffering=0) as fh:
            while True:
                try:
                    n = fh.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += n or 0
        return written

    def free(self) -> None:
        """Give the filler's blocks back."""
        (self.path / FILLER).unlink(missing_ok=True)

    def read_only(self) -> None:
        self._remount("ro")

    def writable(self) -> None:
        self._remount("rw")

    def _remount(self, mode: str) -> None:
        res = _mount("-o", f"remount,{mode}", str(self.path))
        if res.returncode != 0:
            raise DiskUnavailable(f"cannot remount {self.path} {mode}: {res.stderr.strip()}")
