"""ByteTrack / BoT-SORT adapter over Ultralytics' trackers, ids owned by the instance.

Ultralytics' trackers take a "Results-like" object (``conf``, ``cls``, ``xywh``,
``xyxy``, boolean indexing) and return rows
``[x1, y1, x2, y2, track_id, score, cls, idx]`` for the confirmed tracks that
were matched to a detection of the current frame (lost tracks are not output).

Track ids: older Ultralytics releases count ids in a class attribute shared by
every tracker in the process (``BaseTrack._count``), and ``reset()`` zeroes it
for all of them. 8.4.x counts per tracker, but to not depend on that, this
adapter maps Ultralytics' ids onto its own per-instance counter, and ``reset()``
builds a fresh inner tracker instead of calling its ``reset`` (which in the old
releases would touch the shared counter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.config.schema import TrackerConfig
from reidcam.core.errors import DependencyError
from reidcam.core.types import Detections, Frame, Tracks

logger = logging.getLogger(__name__)

# ByteTrack defines track_buffer at 30 fps; Ultralytics 8.4 uses it as a frame
# count as is, so scale it by the camera's frame rate (as ByteTrack and older
# Ultralytics releases do): a lost track survives track_buffer/30 seconds.
_REFERENCE_FPS = 30.0


@dataclass(frozen=True)
class _TrackerInput:
    """The Results-like view of one frame's detections that Ultralytics trackers read."""

    xyxy: NDArray[np.float32]
    conf: NDArray[np.float32]
    cls: NDArray[np.float32]

    @property
    def xywh(self) -> NDArray[np.float32]:
        wh = self.xyxy[:, 2:4] - self.xyxy[:, 0:2]
        return np.concatenate([self.xyxy[:, 0:2] + wh / 2, wh], axis=1)

    def __len__(self) -> int:
        return int(self.conf.shape[0])

    def __getitem__(self, index: Any) -> _TrackerInput:
        return _TrackerInput(self.xyxy[index], self.conf[index], self.cls[index])

    @classmethod
    def from_detections(cls, detections: Detections) -> _TrackerInput:
        n = len(detections)
        return cls(detections.xyxy.copy(), detections.confidence.copy(), np.zeros((n,), np.float32))


def _tracker_args(cfg: TrackerConfig, gmc_method: str) -> SimpleNamespace:
    """The args namespace Ultralytics' bytetrack.yaml / botsort.yaml would give."""
    track_buffer = max(1, round(cfg.track_buffer * cfg.frame_rate / _REFERENCE_FPS))
    return SimpleNamespace(
        tracker_type=cfg.kind,
        track_high_thresh=cfg.track_high_thresh,
        track_low_thresh=cfg.track_low_thresh,
        new_track_thresh=cfg.new_track_thresh,
        track_buffer=track_buffer,
        match_thresh=cfg.match_thresh,
        fuse_score=True,
        # BoT-SORT only; ReID belongs to reidcam.reid, never inside the tracker.
        gmc_method=gmc_method,
        proximity_thresh=0.5,
        appearance_thresh=0.8,
        with_reid=False,
        model="auto",
    )


def _import_tracker_class(kind: str) -> Any:
    """Return Ultralytics' BYTETracker or BOTSORT class, with an install hint if missing."""
    try:
        if kind == "botsort":
            from ultralytics.trackers.bot_sort import BOTSORT

            return BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker
    except ImportError as exc:
        raise DependencyError(
            f"the {kind} tracker needs 'ultralytics' and 'lap' ({exc}); "
            "install them with: pip install ultralytics lap"
        ) from exc
    return BYTETracker


class ByteTrackTracker:
    """One camera's multi-object tracker (ByteTrack, or BoT-SORT without ReID).

    Args:
        cfg: tracker settings; ``cfg.kind`` picks "bytetrack" or "botsort".
        gmc_method: BoT-SORT camera-motion compensation ("sparseOptFlow",
            "orb", "sift", "ecc" or "none"); ignored by ByteTrack.

    Raises:
        DependencyError: ultralytics (or lap) is not installed.
    """

    def __init__(self, cfg: TrackerConfig, gmc_method: str = "sparseOptFlow") -> None:
        self.cfg = cfg
        self._args = _tracker_args(cfg, gmc_method)
        self._tracker_cls = _import_tracker_class(cfg.kind)
        self._inner: Any = None
        self._next_id = 1
        self._id_map: dict[int, int] = {}
        self._last_seen: dict[int, int] = {}
        self._frame_count = 0
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and restart ids at 1; other instances are untouched."""
        self._inner = self._tracker_cls(self._args)
        self._next_id = 1
        self._id_map.clear()
        self._last_seen.clear()
        self._frame_count = 0

    def update(self, detections: Detections, frame: Frame) -> Tracks:
        """Associate this frame's detections with the camera's tracks.

        Args:
            detections: person boxes of ``frame`` (xyxy float32 pixels).
            frame: the frame they came from (its image feeds BoT-SORT's GMC).

        Returns:
            Confirmed tracks that have a detection in this frame: Kalman-filtered
            boxes clipped to the frame, the detection's confidence, and
            ``detection_index`` pointing into ``detections`` (always >= 0).
        """
        self._frame_count += 1
        rows = self._inner.update(_TrackerInput.from_detections(detections), frame.image)
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 8) if len(rows) else np.zeros((0, 8))
        tracks = self._to_tracks(rows, detections, frame)
        self._forget_stale_ids()
        return tracks

    def _to_tracks(self, rows: NDArray[np.float64], detections: Detections, frame: Frame) -> Tracks:
        det_index = np.rint(rows[:, 7]).astype(np.int64)
        valid = (det_index >= 0) & (det_index < len(detections))
        if not np.all(valid):
            logger.debug("dropping %d track rows without a detection this frame", int((~valid).sum()))
        rows, det_index = rows[valid], det_index[valid]
        if len(rows) == 0:
            return Tracks.empty()
        ids = np.array([self._own_id(int(raw)) for raw in rows[:, 4]], np.int64)
        xyxy = _clean_boxes(rows[:, :4], detections.xyxy[det_index], frame.width, frame.height)
        return Tracks(ids, xyxy, detections.confidence[det_index], det_index)

    def _own_id(self, raw_id: int) -> int:
        """Map Ultralytics' id to this instance's counter, minting a new id on first sight."""
        own = self._id_map.get(raw_id)
        if own is None:
            own = self._next_id
            self._next_id += 1
            self._id_map[raw_id] = own
        self._last_seen[raw_id] = self._frame_count
        return own

    def _forget_stale_ids(self) -> None:
        """Drop id mappings of tracks Ultralytics can no longer revive, so the map stays small."""
        horizon = self._args.track_buffer + 2
        stale = [raw for raw, seen in self._last_seen.items() if self._frame_count - seen > horizon]
        for raw in stale:
            del self._last_seen[raw]
            del self._id_map[raw]


def _clean_boxes(
    estimate: NDArray[np.float64], detected: NDArray[np.float32], width: int, height: int
) -> NDArray[np.float32]:
    """Clip Kalman boxes to the frame; fall back to the detection where the estimate is degenerate."""
    boxes = estimate.astype(np.float32)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    bad = ~np.all(np.isfinite(boxes), axis=1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    boxes[bad] = detected[bad]
    return boxes
