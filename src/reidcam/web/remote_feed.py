"""A worker's live feed turned back into what the page's live state takes (``FrameResult``).

In the distributed mode the frames stay on the worker that runs a camera; what arrives is
``broker.feed.FrameFeed``: boxes, track ids and decisions per frame, a crop now and then, and the
picture only while somebody watches. ``RemoteFrames`` rebuilds ``FrameResult``s so the gallery
cards, the matches and the overlays go through the same ``LiveState`` code as in one process:

- a crop is sent for a track only every few frames, so the newest crop of each (camera, track)
  is kept and lent to that track's observations in between (a card saves a crop when it is
  due, exactly as with local frames);
- the picture comes downscaled: the boxes drawn on it are scaled to it, while the cards get
  the boxes in the camera's own pixels (what the replay check of looping demo cameras compares).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.broker.feed import FeedObservation, FrameFeed, StatusFeed
from reidcam.cluster.sink import SHARED_QUERY_PREFIX
from reidcam.core.events import FrameResult, Observation
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame, MatchDecision, Verdict
from reidcam.web.state import LiveState

log = logging.getLogger(__name__)

#: Crops kept per camera for tracks between two sent crops (oldest track forgotten first).
MAX_TRACK_CROPS = 256
#: A frame with no picture is filed with this stand-in image (never shown: the view keeps its last).
_NO_PICTURE = np.zeros((1, 1, 3), np.uint8)


@dataclass
class CameraFeedState:
    """What the web knows of one remote camera: who runs it and its latest counters."""

    worker: str = ""
    fps: float = 0.0
    frames_processed: int = 0
    errors: int = 0
    last_frame_at: float = 0.0  # when the web received it (monotonic), 0 before any
    last_picture_at: float = 0.0  # when a frame with its picture came (monotonic), 0 before any
    status: SourceStatus | None = None


def decode_image(data: bytes) -> NDArray[np.uint8] | None:
    """A JPEG as BGR uint8, or None when it does not decode (a damaged blob is skipped)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else np.asarray(img, np.uint8)


def to_decision(d: dict[str, object] | None) -> MatchDecision | None:
    """The feed's decision JSON as a ``MatchDecision``; shared query ids lose their prefix, so
    they name this server's queries (the web writes them as ``shared:<query id>``)."""
    if d is None:
        return None

    def qid(v: object) -> str | None:
        return None if v is None else str(v).removeprefix(SHARED_QUERY_PREFIX)

    def opt_float(v: object) -> float | None:
        return None if v is None else float(v)  # type: ignore[arg-type]

    def opt_int(v: object) -> int | None:
        return None if v is None else int(v)  # type: ignore[call-overload]

    return MatchDecision(
        verdict=Verdict(str(d["verdict"])),
        query_id=qid(d.get("query_id")),
        similarity=float(d["similarity"]),  # type: ignore[arg-type]
        runner_up_id=qid(d.get("runner_up_id")),
        runner_up_similarity=opt_float(d.get("runner_up_similarity")),
        threshold=float(d.get("threshold") or 0.0),  # type: ignore[arg-type]
        reason=str(d.get("reason") or ""),
        view=opt_int(d.get("view")),
        runner_up_view=opt_int(d.get("runner_up_view")),
        threshold_why=str(d.get("threshold_why") or ""),
    )


class RemoteFrames:
    """Feeds a ``LiveState`` from workers' frame and status messages (one thread calls in)."""

    def __init__(self, live: LiveState) -> None:
        self.live = live
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraFeedState] = {}
        self._crops: dict[str, OrderedDict[int, NDArray[np.uint8]]] = {}
        self.bad_blobs = 0

    # -- readers (any thread) ---------------------------------------------------------------
    def camera(self, camera_id: str) -> CameraFeedState | None:
        with self._lock:
            return self._cameras.get(camera_id)

    def picture_age_s(self, camera_id: str) -> float:
        """Seconds since a picture of the camera came (infinite before the first)."""
        with self._lock:
            cam = self._cameras.get(camera_id)
            if cam is None or cam.last_picture_at == 0.0:
                return float("inf")
            return time.monotonic() - cam.last_picture_at

    def forget(self, camera_id: str) -> None:
        """A camera left the registry: its counters and crops go with it."""
        with self._lock:
            self._cameras.pop(camera_id, None)
            self._crops.pop(camera_id, None)
        self.live.forget_camera(camera_id)

    # -- the feed ---------------------------------------------------------------------------
    def on_status(self, st: StatusFeed) -> None:
        try:
            state = SourceState(st.state)
        except ValueError:
            log.warning("camera %s: unknown state %r from worker %s", st.camera_id, st.state, st.worker)
            return
        status = SourceStatus(
            camera_id=st.camera_id,
            state=state,
            frames_read=st.frames_read,
            reconnects=st.reconnects,
            last_frame_age_s=st.last_frame_age_s,
            last_error=st.last_error,
            description=st.description,
        )
        with self._lock:
            cam = self._cameras.setdefault(st.camera_id, CameraFeedState())
            cam.worker, cam.status = st.worker, status
        self.live.on_status(status)

    def on_frame(self, feed: FrameFeed) -> None:
        with self._lock:
            cam = self._cameras.setdefault(feed.camera_id, CameraFeedState())
            cam.worker, cam.fps = feed.worker, feed.fps
            cam.frames_processed, cam.errors = feed.frames_processed, feed.errors
            cam.last_frame_at = time.monotonic()
        observations = tuple(self._observation(feed.camera_id, o) for o in feed.observations)
        filed = FrameResult(
            Frame(feed.camera_id, feed.index, _NO_PICTURE, feed.captured_at, feed.name),
            observations,
            dict(feed.timings_ms),
        )
        shown = self._shown(feed, observations)
        self.live.on_remote_frame(shown, filed)
        if shown is not None:  # only now: a snapshot that sees the time finds the picture
            with self._lock:
                cam.last_picture_at = time.monotonic()

    def _observation(self, camera_id: str, o: FeedObservation) -> Observation:
        crop = None
        if o.crop_jpeg is not None:
            crop = decode_image(o.crop_jpeg)
            if crop is None:
                self.bad_blobs += 1
        if o.track_id is not None:
            crop = self._track_crop(camera_id, o.track_id, crop)
        return Observation(
            detection_index=o.detection_index,
            xyxy=np.asarray(o.xyxy, np.float32),
            confidence=o.confidence,
            track_id=o.track_id,
            crop=crop,
            quality_ok=o.quality_ok,
            quality_reason=o.quality_reason,
            decision=to_decision(o.decision),
        )

    def _track_crop(
        self, camera_id: str, track_id: int, crop: NDArray[np.uint8] | None
    ) -> NDArray[np.uint8] | None:
        """Remember a track's newest crop; lend it to the frames that came without one."""
        with self._lock:
            crops = self._crops.setdefault(camera_id, OrderedDict())
            if crop is not None:
                crops[track_id] = crop
            elif track_id in crops:
                crop = crops[track_id]
            if track_id in crops:
                crops.move_to_end(track_id)
            while len(crops) > MAX_TRACK_CROPS:
                crops.popitem(last=False)
        return crop

    def _shown(self, feed: FrameFeed, observations: tuple[Observation, ...]) -> FrameResult | None:
        """The frame as the page draws it: the picture, boxes scaled to it; None without one."""
        if feed.image_jpeg is None:
            return None
        image = decode_image(feed.image_jpeg)
        if image is None:
            self.bad_blobs += 1
            return None
        sx = image.shape[1] / max(1, feed.width)
        sy = image.shape[0] / max(1, feed.height)
        scale = np.asarray([sx, sy, sx, sy], np.float32)
        scaled = tuple(replace(o, xyxy=o.xyxy * scale, crop=None) for o in observations)
        return FrameResult(Frame(feed.camera_id, feed.index, image, feed.captured_at, feed.name), scaled)
