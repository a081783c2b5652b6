"""The runner's cameras, changed from any thread while the loop reads them.

The loop (the collecting thread, and in two-stage mode the thread that finishes steps)
reads the set many times a second; a web request adds or removes a camera now and then.
So the set is copy-on-write: readers take an immutable snapshot without a lock, writers
swap in a new tuple under one. A removed camera is not closed by the remover: its frames
may still be in a step in flight, and its sighting book belongs to the loop's thread. It is
handed to the loop with the next collection (after every step that holds its frames), and
the loop closes its sightings and says so (``retired``), so nothing it saw is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from reidcam.core.errors import ReidcamError
from reidcam.pipeline.camera import CameraUnit


class CameraSetError(ReidcamError):
    """A camera cannot be added or removed as asked."""


class DuplicateCamera(CameraSetError):
    """A camera with this id is already in the set (or being added or removed)."""


class UnknownCamera(CameraSetError):
    """No camera with this id is in the set."""


@dataclass
class Removal:
    """A camera taken out of the set. ``by_loop``: the running loop closes its sightings and
    then sets ``done``; else the remover closes them (nobody else touches the camera)."""

    unit: CameraUnit
    by_loop: bool
    done: threading.Event = field(default_factory=threading.Event)


class CameraSet:
    """Thread-safe camera set of one runner: snapshots for the loop, add/remove for anyone.

    ``live`` is True while the loop runs (between opening the cameras and shutting down):
    then an added camera must be opened by whoever adds it, and a removed one is retired by
    the loop; otherwise nobody reads the cameras and both happen in the caller's thread.

    Raises:
        DuplicateCamera: two units share an id.
    """

    def __init__(self, units: Sequence[CameraUnit]) -> None:
        ids = [u.camera_id for u in units]
        if len(set(ids)) != len(ids):
            raise DuplicateCamera(f"camera ids must be unique, got {ids}")
        self._lock = threading.Lock()
        self._units: tuple[CameraUnit, ...] = tuple(units)
        self._adding: set[str] = set()
        self._removed: list[Removal] = []  # out of the set, not yet handed to the loop
        self._retiring: dict[int, Removal] = {}  # handed over or not, sightings not closed yet
        self.live = False

    @property
    def units(self) -> tuple[CameraUnit, ...]:
        """A snapshot of the cameras (never changes under the caller)."""
        return self._units

    def set_live(self, live: bool) -> None:
        with self._lock:
            self.live = live

    # -- adding --------------------------------------------------------------
    def reserve(self, camera_id: str) -> bool:
        """Claim ``camera_id`` for a camera about to be added; returns ``live``.

        Raises:
            DuplicateCamera: the id is taken, being added, or still being removed.
        """
        with self._lock:
            if any(u.camera_id == camera_id for u in self._units):
                raise DuplicateCamera(f"camera {camera_id!r} already exists; remove it first")
            if camera_id in self._adding:
                raise DuplicateCamera(f"camera {camera_id!r} is being added already")
            if any(r.unit.camera_id == camera_id for r in self._retiring.values()):
                raise DuplicateCamera(f"camera {camera_id!r} is still being removed; try again")
            self._adding.add(camera_id)
            return self.live

    def admit(self, unit: CameraUnit, opened: bool) -> bool:
        """Put a reserved camera in the set; False (and not added) when it was opened for a
        loop that has stopped meanwhile: the caller releases it."""
        with self._lock:
            self._adding.discard(unit.camera_id)
            if opened and not self.live:
                return False
            self._units = (*self._units, unit)
            return True

    def release_reservation(self, camera_id: str) -> None:
        with self._lock:
            self._adding.discard(camera_id)

    # -- removing ------------------------------------------------------------
    def withdraw(self, camera_id: str) -> Removal:
        """Take a camera out of the set; the loop retires it when ``live`` (``by_loop``).

        Raises:
            UnknownCamera: no camera with this id.
        """
        with self._lock:
            unit = next((u for u in self._units if u.camera_id == camera_id), None)
            if unit is None:
                raise UnknownCamera(f"no camera {camera_id!r}")
            self._units = tuple(u for u in self._units if u is not unit)
            removal = Removal(unit, by_loop=self.live)
            if not removal.by_loop:
                return removal
            self._removed.append(removal)
            self._retiring[id(unit)] = removal
            return removal

    def collect(self) -> tuple[tuple[CameraUnit, ...], list[CameraUnit]]:
        """For the loop: the cameras to read now and those removed since the last call, in
        one step, so a removed camera is never read after it is handed over."""
        with self._lock:
            removed, self._removed = self._removed, []
            return self._units, [r.unit for r in removed]

    def retired(self, unit: CameraUnit) -> None:
        """The loop closed this removed camera's sightings (no-op for a camera not removed)."""
        with self._lock:
            removal = self._retiring.pop(id(unit), None)
            self._removed = [r for r in self._removed if r is not removal]
        if removal is not None:
            removal.done.set()

    def retiring(self) -> list[CameraUnit]:
        """Removed cameras whose sightings are not closed yet (for the shutdown)."""
        with self._lock:
            return [r.unit for r in self._retiring.values()]
