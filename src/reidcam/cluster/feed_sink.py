"""The worker's live feed: every processed frame's overlays and decisions on the broker.

``LiveFeedSink`` is an ``EventSink`` next to the ``PublishingSink``. Per processed frame it
publishes a ``FrameFeed`` (``broker.feed``: boxes, track ids, crop-gate verdicts, decisions, the
camera's rate and counters) on ``reidcam.cameras.<id>.frame`` with core NATS, and each source
status on ``.status`` (the last one of each camera again every ``status_every_s``, so a web
server that starts later learns a failed camera that sends no frames).

JPEGs are encoded on the camera thread, so they are sent only when needed:

- a crop (height <= ``crop_max_height``) for a track's first observation with a crop, then at
  most one every ``crop_every_frames`` frames of that track, and one whenever its decision's
  verdict changes; an untracked detection's crop always (the page files it as a single card);
- the frame (width <= ``image_max_width``, no overlays drawn: the page draws the boxes) only
  while somebody watches the camera: a ``.watch`` ping keeps it coming for ``watch_for_s``.
  With nobody watching no frame is encoded at all.

Publishing never blocks the camera loop: the message is handed to the broker loop
(``call_soon``); with the broker away, or more than ``max_in_flight`` messages not yet handed
to the connection, it is dropped and counted. The feed is live-only: nothing is kept for later.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.broker.connection import BrokerClient, cancel_and_wait
from reidcam.broker.feed import (
    WATCH_FOR_S,
    FeedObservation,
    FrameFeed,
    StatusFeed,
    decision_json,
    encode_frame,
    encode_status,
    frame_subject,
    status_subject,
    watch_subject,
)
from reidcam.core.events import FrameResult, Observation
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting

log = logging.getLogger(__name__)

#: camera id -> (frames processed, errors) of the runner's camera, or None when unknown.
CameraCounters = Callable[[str], "tuple[int, int] | None"]
_EMA = 0.2  # weight of the newest frame interval in the camera's rate
_TRACK_FORGET_FRAMES = 300  # a track not seen for this many frames of its camera is forgotten


@dataclass(frozen=True)
class FeedOptions:
    """How much the feed sends (defaults: the web's ``LiveSettings`` stream settings)."""

    crop_every_frames: int = 10
    crop_max_height: int = 256
    crop_jpeg_quality: int = 85
    image_max_width: int = 960
    image_jpeg_quality: int = 75
    watch_for_s: float = WATCH_FOR_S
    status_every_s: float = 5.0
    max_in_flight: int = 256

    def __post_init__(self) -> None:
        if self.crop_every_frames < 1 or self.crop_max_height < 1 or self.image_max_width < 1:
            raise ValueError("feed: crop_every_frames, crop_max_height and image_max_width must be >= 1")
        if self.watch_for_s <= 0 or self.status_every_s <= 0 or self.max_in_flight < 1:
            raise ValueError("feed: watch_for_s and status_every_s must be > 0, max_in_flight >= 1")


@dataclass
class FeedCounts:
    """``frames``/``statuses``: messages made; ``sent``: handed to the connection; ``dropped``:
    not (broker away or too many in flight); ``bytes``: of the messages sent; ``crops`` and
    ``images``: JPEGs encoded; ``watch_pings``: received."""

    frames: int = 0
    statuses: int = 0
    sent: int = 0
    dropped: int = 0
    bytes: int = 0
    crops: int = 0
    images: int = 0
    watch_pings: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Track:
    seen: int = 0  # frames of this track so far
    last_crop: int | None = None  # ``seen`` when its last crop went out
    verdict: str | None = None  # verdict of the last crop sent
    last_frame: int = 0  # the camera's frame count when last seen


@dataclass
class _Camera:
    frames: int = 0
    last_at: float | None = None
    interval_s: float | None = None
    watched_until: float = 0.0
    tracks: dict[int, _Track] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return 0.0 if not self.interval_s else 1.0 / self.interval_s


class LiveFeedSink:
    """EventSink publishing the live feed of every camera this worker runs (module docstring).

    ``counters``: the runner's error count per camera (``errors`` of the feed); without it the
    feed says 0 errors. ``clock``: monotonic seconds (tests).
    """

    def __init__(
        self,
        client: BrokerClient,
        worker: str,
        options: FeedOptions | None = None,
        counters: CameraCounters | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.worker = worker
        self.options = options or FeedOptions()
        self.counts = FeedCounts()
        self._counters = counters
        self._clock = clock
        self._lock = threading.Lock()
        self._cameras: dict[str, _Camera] = {}
        self._statuses: dict[str, StatusFeed] = {}
        self._subscriptions: dict[str, Any] = {}
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._resend: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LiveFeedSink:
        """Start re-sending the cameras' last statuses (a task on the broker loop)."""
        self.client.call(self._start())
        return self

    async def _start(self) -> None:
        self._resend = asyncio.get_running_loop().create_task(self._resend_statuses(), name="reidcam-feed")

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop re-sending and unsubscribe the watch pings."""
        try:
            self.client.call(self._stop(), timeout=timeout_s)
        except Exception as exc:
            log.debug("live feed: stopping: %s", self.client.scrub(str(exc)))

    async def _stop(self) -> None:
        task, self._resend = self._resend, None
        if task is not None:
            await cancel_and_wait(task)
        with self._lock:
            subs, self._subscriptions = list(self._subscriptions.values()), {}
        for sub in subs:
            await _unsubscribe(sub)

    def forget(self, camera_id: str) -> None:
        """The camera left this worker: no more status re-sends, watch pings unsubscribed."""
        with self._lock:
            self._cameras.pop(camera_id, None)
            self._statuses.pop(camera_id, None)
            sub = self._subscriptions.pop(camera_id, None)
        if sub is not None:
            self._soon(lambda: self._spawn(_unsubscribe(sub)))

    # -- state -------------------------------------------------------------------------------

    def watched(self, camera_id: str) -> bool:
        with self._lock:
            cam = self._cameras.get(camera_id)
            return cam is not None and self._clock() < cam.watched_until

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            out = self.counts.as_dict()
            out["watched"] = sorted(c for c, s in self._cameras.items() if self._clock() < s.watched_until)
        return out

    # -- EventSink ---------------------------------------------------------------------------

    def on_frame(self, result: FrameResult) -> None:
        self._send(frame_subject(result.frame.camera_id), self.frame_message(result))

    def frame_message(self, result: FrameResult) -> bytes:
        """The encoded ``frame`` message of ``result`` (crops and picture as due; counted)."""
        frame = result.frame
        cid = frame.camera_id
        now = self._clock()
        with self._lock:
            cam = self._camera(cid)
            cam.frames += 1
            if cam.last_at is not None:
                dt = max(now - cam.last_at, 1e-6)
                cam.interval_s = dt if cam.interval_s is None else (1 - _EMA) * cam.interval_s + _EMA * dt
            cam.last_at = now
            watched = now < cam.watched_until
            wanted = [self._wants_crop(cam, o) for o in result.observations]
            self._forget_old_tracks(cam)
            frames, fps = cam.frames, cam.fps
        counters = self._counters(cid) if self._counters is not None else None
        crops = [self._crop(o) if want else None for o, want in zip(result.observations, wanted, strict=True)]
        image = self._image(frame.image) if watched else None
        h, w = frame.image.shape[:2]
        feed = FrameFeed(
            camera_id=cid,
            index=frame.index,
            captured_at=frame.captured_at,
            width=int(w),
            height=int(h),
            worker=self.worker,
            observations=tuple(_observation(o, c) for o, c in zip(result.observations, crops, strict=True)),
            name=frame.name,
            fps=round(fps, 3),
            frames_processed=frames,
            errors=counters[1] if counters is not None else 0,
            timings_ms={k: round(float(v), 3) for k, v in result.timings_ms.items()},
            image_jpeg=image,
        )
        with self._lock:
            self.counts.frames += 1
            self.counts.crops += sum(c is not None for c in crops)
            self.counts.images += image is not None
        return encode_frame(feed)

    def on_status(self, status: SourceStatus) -> None:
        feed = StatusFeed(
            camera_id=status.camera_id,
            worker=self.worker,
            state=status.state.value,
            frames_read=status.frames_read,
            reconnects=status.reconnects,
            last_frame_age_s=status.last_frame_age_s,
            last_error=status.last_error,
            description=status.description,
            at=time.time(),
        )
        with self._lock:
            self._camera(status.camera_id)
            self._statuses[status.camera_id] = feed
            self.counts.statuses += 1
        self._send(status_subject(status.camera_id), encode_status(feed))

    def on_sighting_closed(self, sighting: Sighting) -> None:
        return None  # the PublishingSink sends closed sightings

    # -- what to send (camera thread) --------------------------------------------------------

    def _camera(self, camera_id: str) -> _Camera:
        """(Under the lock.) The camera's state; its watch pings are subscribed on first sight."""
        cam = self._cameras.get(camera_id)
        if cam is None:
            cam = self._cameras[camera_id] = _Camera()
            self._subscriptions[camera_id] = None  # reserved: subscribed on the loop
            self._soon(partial(self._spawn, self._subscribe(camera_id)))
        return cam

    def _wants_crop(self, cam: _Camera, o: Observation) -> bool:
        """(Under the lock.) Whether this observation's crop goes out (module docstring)."""
        if o.track_id is None:
            return o.crop is not None
        track = cam.tracks.get(o.track_id)
        if track is None:
            track = cam.tracks[o.track_id] = _Track()
        track.seen += 1
        track.last_frame = cam.frames
        if o.crop is None:  # nothing to send: still due on its next frame with a crop
            return False
        verdict = (
            None if o.decision is None else str(getattr(o.decision.verdict, "value", o.decision.verdict))
        )
        due = track.last_crop is None or track.seen - track.last_crop >= self.options.crop_every_frames
        if due or verdict != track.verdict:
            track.last_crop, track.verdict = track.seen, verdict
            return True
        return False

    def _forget_old_tracks(self, cam: _Camera) -> None:
        if cam.frames % 100 == 0:
            old = [t for t, s in cam.tracks.items() if cam.frames - s.last_frame > _TRACK_FORGET_FRAMES]
            for t in old:
                del cam.tracks[t]

    def _crop(self, o: Observation) -> bytes | None:
        crop = o.crop
        if crop is None or crop.size == 0:
            return None
        h, w = crop.shape[:2]
        limit = self.options.crop_max_height
        if h > limit:
            crop = _resize(crop, max(1, round(w * limit / h)), limit)
        return _jpeg(crop, self.options.crop_jpeg_quality)

    def _image(self, image: NDArray[np.uint8]) -> bytes | None:
        h, w = image.shape[:2]
        limit = self.options.image_max_width
        if w > limit:
            image = _resize(image, limit, max(1, round(h * limit / w)))
        return _jpeg(image, self.options.image_jpeg_quality)

    # -- sending -----------------------------------------------------------------------------

    def _send(self, subject: str, data: bytes) -> None:
        """Hand ``data`` to the broker loop, or drop it (never waits)."""
        with self._lock:
            if not self.client.connected or self._in_flight >= self.options.max_in_flight:
                self.counts.dropped += 1
                return
            self._in_flight += 1
        if not self._soon(partial(self._spawn, self._publish(subject, data))):
            with self._lock:
                self._in_flight -= 1
                self.counts.dropped += 1

    def _soon(self, fn: Callable[[], object]) -> bool:
        try:
            self.client.call_soon(fn)
        except RuntimeError:  # the loop is closed (the worker is stopping)
            return False
        return True

    def _spawn(self, coro: Any) -> None:
        """(On the loop.) Run ``coro`` as a task, keeping a reference until it is done."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, subject: str, data: bytes) -> None:
        ok = False
        try:
            if self.client.connected:
                await self.client.nc.publish(subject, data)
                ok = True
        except Exception as exc:  # live-only: a feed message the broker cannot take is dropped
            log.debug("live feed %s: %s", subject, self.client.scrub(str(exc)))
        with self._lock:
            self._in_flight -= 1
            if ok:
                self.counts.sent += 1
                self.counts.bytes += len(data)
            else:
                self.counts.dropped += 1

    async def _subscribe(self, camera_id: str) -> None:
        """(On the loop.) Follow the camera's watch pings (nats-py replays it on reconnects)."""
        try:
            sub = await self.client.nc.subscribe(
                watch_subject(camera_id), cb=partial(self._on_watch, camera_id)
            )
        except Exception as exc:
            log.warning("live feed: cannot follow the watch pings of %s: %s", camera_id,
                        self.client.scrub(str(exc)))  # fmt: skip
            return
        with self._lock:
            keep = camera_id in self._subscriptions and self._subscriptions[camera_id] is None
            if keep:
                self._subscriptions[camera_id] = sub
        if not keep:  # forgotten meanwhile
            await _unsubscribe(sub)

    async def _on_watch(self, camera_id: str, msg: Any) -> None:
        with self._lock:
            known = camera_id in self._cameras
        if known:  # else forgotten since: a late ping must not bring it back
            self.watch(camera_id)

    def watch(self, camera_id: str) -> None:
        """A watch ping for the camera: its picture goes out for ``watch_for_s`` from now."""
        with self._lock:
            self.counts.watch_pings += 1
            self._camera(camera_id).watched_until = self._clock() + self.options.watch_for_s

    async def _resend_statuses(self) -> None:
        while True:
            await asyncio.sleep(self.options.status_every_s)
            with self._lock:
                last = list(self._statuses.values())
            for status in last:
                self._send(status_subject(status.camera_id), encode_status(status))


def _observation(o: Observation, crop: bytes | None) -> FeedObservation:
    x1, y1, x2, y2 = (float(v) for v in o.xyxy[:4])
    return FeedObservation(
        detection_index=o.detection_index,
        xyxy=(x1, y1, x2, y2),
        confidence=float(o.confidence),
        track_id=o.track_id,
        quality_ok=o.quality_ok,
        quality_reason=o.quality_reason,
        decision=decision_json(o.decision),
        crop_jpeg=crop,
    )


def _resize(image: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _jpeg(image: NDArray[np.uint8], quality: int) -> bytes | None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return bytes(buf) if ok else None


async def _unsubscribe(sub: Any) -> None:
    if sub is None:
        return
    try:
        await sub.unsubscribe()
    except Exception as exc:
        log.debug("live feed: unsubscribing: %s", exc)
