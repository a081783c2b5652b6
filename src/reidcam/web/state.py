"""What the web app knows about the running pipeline: the runner's EventSink.

The runner thread writes (``on_frame``, ``on_status``); request handlers read.
Everything here is bounded: the newest frame per camera (encoded to JPEG with
overlays only when a client asks, and once per frame however many clients
watch), the gallery cards, the matches.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting
from reidcam.web.cards import CardBook
from reidcam.web.crop_index import CropIndex
from reidcam.web.frames import FrameSignal, SharedEncoder
from reidcam.web.hub import EventHub
from reidcam.web.matches import MatchBook
from reidcam.web.overlay import frame_jpeg
from reidcam.web.schemas import card_out, match_out

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSettings:
    """Limits of the live state; the defaults suit a laptop demo."""

    max_cards: int = 400
    max_crops_per_card: int = 4
    crop_every_frames: int = 10
    max_matches: int = 1000
    stream_max_width: int = 960
    stream_jpeg_quality: int = 75
    jpeg_quality: int = 90


@dataclass
class _View:
    result: FrameResult | None = None
    seq: int = 0
    jpeg: tuple[int, bytes] | None = None
    # One viewer encodes a new frame, the others wait for it and share it: without this, every
    # stream asking between the frame's arrival and the end of its encoding encoded it again.
    encoding: threading.Lock = field(default_factory=threading.Lock)


class LiveState:
    """EventSink for the runner; thread-safe reads for the HTTP handlers."""

    def __init__(self, data_dir: Path, hub: EventHub, settings: LiveSettings | None = None) -> None:
        self.settings = s = settings or LiveSettings()
        self.hub = hub
        self.crops = CropIndex(data_dir, s.jpeg_quality)
        self.cards = CardBook(self.crops, s.max_cards, s.max_crops_per_card, s.crop_every_frames)
        self.matches = MatchBook(self.crops, s.max_matches, s.crop_every_frames)
        self._lock = threading.Lock()
        self._views: dict[str, _View] = {}
        self._status: dict[str, SourceStatus] = {}
        self._labels: dict[str, str] = {}
        self.shutting_down = threading.Event()
        self.version = 0  # counts changes, for the list cache (``reidcam.web.listcache``)
        self.frames = FrameSignal()  # wakes the MJPEG viewers of a camera on its new frame
        self.encoder = SharedEncoder(self.jpeg)

    # -- EventSink ----------------------------------------------------------
    def on_frame(self, result: FrameResult) -> None:
        """Called by the runner thread; a fault here is logged, never allowed to stop detection."""
        try:
            self._on_frame(result)
        except Exception:
            log.exception("web view: handling a frame of camera %s failed", result.frame.camera_id)

    def _on_frame(self, result: FrameResult) -> None:
        self._show(result)
        self._file(result)

    def on_remote_frame(self, shown: FrameResult | None, filed: FrameResult) -> None:
        """A frame a worker processed (distributed mode): ``filed`` goes to the cards and matches
        (boxes in the camera's pixels, crops lent per track); ``shown``, the downscaled picture
        with boxes scaled to it, becomes the camera's view, and None (nobody watched, so no
        picture was sent) keeps the last one."""
        try:
            if shown is not None:
                self._show(shown)
            else:
                self.version += 1
            self._file(filed)
        except Exception:
            log.exception("web view: handling a remote frame of camera %s failed", filed.frame.camera_id)

    def _show(self, result: FrameResult) -> None:
        cam = result.frame.camera_id
        self.version += 1
        with self._lock:
            view = self._views.setdefault(cam, _View())
            view.result, view.seq, view.jpeg = result, view.seq + 1, None
        self.frames.notify(cam)

    def _file(self, result: FrameResult) -> None:
        """The frame's observations into the gallery cards and the matches; events to the pages."""
        events = []
        for obs in result.observations:
            if obs.crop is None:
                continue
            update = self.cards.observe(result.frame, obs)
            if update.changed:
                events.append({"type": "card", "card": self.card_json(update.card.card_id)})
            entry = self.matches.observe(update.card, result.frame, obs, update.saved)
            if entry is not None:
                events.append({"type": "match", "match": match_out(entry).model_dump(mode="json")})
        for event in events:
            self.hub.publish(event)

    def on_sighting_closed(self, sighting: Sighting) -> None:
        return None

    def on_status(self, status: SourceStatus) -> None:
        self.version += 1
        with self._lock:
            self._status[status.camera_id] = status

    # -- runner lifecycle -----------------------------------------------------
    def new_run(self) -> None:
        """A new run starts: trackers restart their ids, old frames and statuses are stale."""
        self.version += 1
        self.cards.new_run()
        with self._lock:
            self._views.clear()
            self._status.clear()

    def forget_camera(self, camera_id: str) -> None:
        """A camera was removed: its last frame and status go (cards and matches stay)."""
        self.version += 1
        with self._lock:
            self._views.pop(camera_id, None)
            self._status.pop(camera_id, None)

    def set_queries(self, labels: dict[str, str], views: dict[str, list[str | None]] | None = None) -> None:
        self.version += 1
        with self._lock:
            self._labels = dict(labels)
        self.matches.set_queries(labels, views)

    # -- readers ------------------------------------------------------------
    def status(self, camera_id: str) -> SourceStatus | None:
        with self._lock:
            return self._status.get(camera_id)

    def frame_seq(self, camera_id: str) -> int:
        with self._lock:
            view = self._views.get(camera_id)
            return 0 if view is None else view.seq

    def cached_jpeg(self, camera_id: str) -> tuple[int, bytes] | None:
        """The newest frame's JPEG if it is already encoded, else None; never blocks on encoding.

        A stream reads the shared JPEG here on the event loop and goes to a worker thread
        (:meth:`jpeg`) only to encode, so N viewers cost one thread hop per frame, not N.
        """
        with self._lock:
            view = self._views.get(camera_id)
            if view is None or view.jpeg is None or view.jpeg[0] != view.seq:
                return None
            return view.jpeg

    def jpeg(self, camera_id: str) -> tuple[int, bytes] | None:
        """(frame seq, JPEG with overlays) of the newest frame, or None before the first one."""
        with self._lock:
            view = self._views.get(camera_id)
            if view is None or view.result is None:
                return None
            if view.jpeg is not None and view.jpeg[0] == view.seq:
                return view.jpeg
        with view.encoding:
            with self._lock:
                if view.jpeg is not None and view.jpeg[0] == view.seq:
                    return view.jpeg  # encoded by the viewer we waited for
                result, seq, labels = view.result, view.seq, dict(self._labels)
            s = self.settings
            data = frame_jpeg(
                result.frame.image, result.observations, labels, s.stream_max_width, s.stream_jpeg_quality
            )
            with self._lock:
                if view.seq == seq:
                    view.jpeg = (seq, data)
        return seq, data

    def card_json(self, card_id: str) -> dict[str, object] | None:
        card = self.cards.get(card_id)
        if card is None:
            return None
        records = [r for r in map(self.crops.get, card.crop_ids) if r is not None]
        return card_out(card, records).model_dump(mode="json")
