"""Request and response models of the HTTP API (they make the OpenAPI page at /docs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from reidcam.capture.urls import STREAM_SCHEMES, redact_url, url_scheme
from reidcam.config import CameraConfig
from reidcam.web.cards import Card
from reidcam.web.crop_index import CropRecord
from reidcam.web.matches import CameraSeen, MatchEntry


class Error(BaseModel):
    detail: str


class CropOut(BaseModel):
    crop_id: str
    url: str
    camera_id: str | None
    card_id: str | None
    folder: str = Field(description="query_images, match_detections, detections or query")
    frame_index: int | None
    frame_name: str | None = Field(description="file name for image folders, frameNNNNNN for videos")
    xyxy: list[float] | None = Field(description="box in original frame pixels")
    captured_at: float
    quality_ok: bool
    similarity: float | None = Field(description="similarity to the best query when saved, if any")


class CardOut(BaseModel):
    card_id: str
    camera_id: str
    track_id: int | None
    first_seen_at: float
    last_seen_at: float
    observations: int
    matched: bool
    best_similarity: float | None
    crops: list[CropOut]


class GalleryPage(BaseModel):
    total: int
    offset: int
    limit: int
    cards: list[CardOut]
    left_out: dict[str, int] = Field(
        default_factory=dict,
        description="cards dropped past the gallery's cap since the server started, by reason, in the "
        "order they go: untracked single frame, no good crop, short track, oldest, oldest queried",
    )


class MatchOut(BaseModel):
    match_id: str
    card_id: str
    camera_id: str
    track_id: int | None
    query_id: str
    label: str
    similarity: float = Field(description="best similarity of this sighting")
    last_similarity: float
    first_seen_at: float
    last_seen_at: float
    hits: int
    frame_name: str | None
    xyxy: list[float]
    thumbnail_url: str | None
    verdict: str = Field(description="match, or uncertain: a close call for a person to judge")
    reason: str = Field(description="why, from the matcher: similarity against threshold and runner-up")
    threshold: float
    threshold_why: str = Field(
        default="", description="why this threshold applied on the camera (self-calibration, default, user)"
    )
    query_image_url: str | None = Field(description="the query image that scored best (evidence)")
    runner_up_id: str | None
    runner_up_label: str | None
    runner_up_similarity: float | None
    runner_up_image_url: str | None


class MatchesPage(BaseModel):
    total: int
    offset: int
    limit: int
    matches: list[MatchOut]


class CameraSeenOut(BaseModel):
    query_id: str
    label: str
    similarity: float
    at: float


class CameraOut(BaseModel):
    camera_id: str
    name: str
    description: str
    state: str = Field(description="stopped, starting, live, stalled, reconnecting, ended, failed")
    fps: float
    frames_read: int
    frames_processed: int
    errors: int
    reconnects: int
    last_frame_age_s: float | None
    last_error: str | None
    last_match: CameraSeenOut | None
    stream_url: str
    snapshot_url: str
    worker: str | None = Field(default=None, description="distributed mode: the worker running it")


MAX_SOURCE_CHARS = 4096


def camera_source(value: object) -> object:
    """A camera source as the API takes it: a USB index, or text naming a file, folder or URL.

    Refused with a message that says what to give (422): true/false, a negative or fractional
    number, empty or overlong text, and a URL of a scheme no camera reader opens (redacted).
    2.0 is the USB index 2 (an integer to JSON Schema).
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("source must be a USB index (0, 1, ...) or text (a URL, file or folder)")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a USB index is 0 or more")
        return value
    text = value.strip()
    if not text:
        raise ValueError("empty source: give a USB index, a URL, a video file or an image folder")
    if len(value) > MAX_SOURCE_CHARS:
        raise ValueError(f"source longer than {MAX_SOURCE_CHARS} characters")
    scheme = url_scheme(text)
    if scheme is not None and scheme not in STREAM_SCHEMES:
        kinds = ", ".join(f"{k}://" for k in STREAM_SCHEMES)
        raise ValueError(f"source {redact_url(text)} has the unsupported scheme {scheme!r}; use {kinds}")
    return text


SOURCE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "minLength": 1, "maxLength": MAX_SOURCE_CHARS, "pattern": r"\S"},
    ],
    "description": "USB index, rtsp/rtsps/rtmp/rtmps/http(s) URL, video file, image folder or glob",
}


class CameraIn(BaseModel):
    """A camera to add (``POST /api/cameras``): the fields of a ``cameras[]`` entry of the config."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="camera id")
    source: Annotated[int | str, BeforeValidator(camera_source), WithJsonSchema(SOURCE_SCHEMA)]
    name: str | None = Field(default=None, max_length=100, description="shown on the page (default: id)")
    loop: bool = False
    stills: bool | Literal["auto"] = "auto"
    detector_imgsz: int | None = Field(default=None, ge=32, le=4096, strict=False)
    reconnect_backoff_s: float = Field(default=1.0, gt=0, le=3600)
    reconnect_backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    read_timeout_s: float = Field(default=10.0, gt=0, le=3600)

    def to_config(self) -> CameraConfig:
        return CameraConfig.model_validate(self.model_dump(exclude_unset=True))


class StorageOut(BaseModel):
    """Health of the data directory: crop files of the live view and of the identity memory."""

    failing: bool = Field(description="the latest crop write failed (disk full, read-only folder)")
    write_errors: int = Field(description="crop files that could not be written since the start")
    last_error: str | None
    last_error_at: float | None
    sightings_failed: int = Field(description="closed sightings the identity database could not store")


class ClusterOut(BaseModel):
    """The distributed mode at a glance: this server's broker link and every live process."""

    broker: dict[str, Any] = Field(description="this server's connection and live-feed counters")
    workers: dict[str, dict[str, Any]] = Field(description="worker name -> its last health report")
    memory: dict[str, dict[str, Any]] = Field(description="memory service name -> its last health report")
    summary: str = Field(default="", description="one line: workers, cameras run, the active memory service")
    problems: list[str] = Field(default_factory=list, description="what needs a look, each a sentence")


class StatusOut(BaseModel):
    running: bool
    stopping: bool = Field(
        default=False, description="Stop was asked: the last frames and sightings are being written"
    )
    error: str | None
    threshold: float
    threshold_version: int = Field(default=0, description="counts threshold changes (see ThresholdOut)")
    cameras: list[CameraOut]
    queries: int
    gallery_cards: int
    matches: int
    crop_write_errors: int
    storage: StorageOut
    device: str = Field(description="where detection and ReID run: 'cpu' or e.g. 'cuda:0 fp16'")


class RunnerOut(BaseModel):
    running: bool
    stopping: bool = Field(
        default=False, description="Stop was asked: the last frames and sightings are being written"
    )
    error: str | None


class ThresholdIn(BaseModel):
    # strict: a JSON number only; lax mode turned `true` into 1.0 (found by the schema fuzz test)
    threshold: float = Field(ge=0.0, le=1.0, strict=True, description="cosine similarity for 'same person'")


class ThresholdOut(BaseModel):
    threshold: float
    version: int = Field(default=0, description="counts threshold changes: a page ignores older values")
    default: float
    min: float = 0.0
    max: float = 1.0
    uncertain_band: float = Field(description="best scores this far below the threshold are 'uncertain'")
    fmr: float | None = Field(default=None, description="false-match rate at this threshold (calibration)")
    tpr: float | None = Field(default=None, description="true-match rate at this threshold (calibration)")


class QuerySelectIn(BaseModel):
    crop_ids: list[str] = Field(min_length=1, max_length=16)
    label: str | None = Field(default=None, max_length=64)
    replace: bool = Field(
        default=True, strict=True, description="replace the current query (else add a person)"
    )


class QueryOut(BaseModel):
    query_id: str
    label: str
    source: Literal["crops", "upload", "memory", "shared"]
    created_at: float
    images: list[CropOut]


class QueriesOut(BaseModel):
    queries: list[QueryOut]


class UploadOut(BaseModel):
    query: QueryOut
    used: Literal["largest_person_box", "whole_image"]
    box: list[float] | None
    message: str


def crop_out(r: CropRecord) -> CropOut:
    return CropOut(
        crop_id=r.crop_id,
        url=f"/api/crops/{r.crop_id}.jpg",
        camera_id=r.camera_id,
        card_id=r.card_id,
        folder=r.folder,
        frame_index=r.frame_index,
        frame_name=r.frame_name,
        xyxy=None if r.xyxy is None else list(r.xyxy),
        captured_at=r.captured_at,
        quality_ok=r.quality_ok,
        similarity=r.similarity,
    )


def card_out(c: Card, crops: list[CropRecord]) -> CardOut:
    return CardOut(
        card_id=c.card_id,
        camera_id=c.camera_id,
        track_id=c.track_id,
        first_seen_at=c.first_seen_at,
        last_seen_at=c.last_seen_at,
        observations=c.observations,
        matched=c.matched,
        best_similarity=c.best_similarity,
        crops=[crop_out(r) for r in crops],
    )


def _crop_url(crop_id: str | None) -> str | None:
    return None if crop_id is None else f"/api/crops/{crop_id}.jpg"


def match_out(e: MatchEntry) -> MatchOut:
    return MatchOut(
        match_id=e.match_id,
        card_id=e.card_id,
        camera_id=e.camera_id,
        track_id=e.track_id,
        query_id=e.query_id,
        label=e.label,
        similarity=e.best_similarity,
        last_similarity=e.last_similarity,
        first_seen_at=e.first_seen_at,
        last_seen_at=e.last_seen_at,
        hits=e.hits,
        frame_name=e.frame_name,
        xyxy=list(e.xyxy),
        thumbnail_url=_crop_url(e.thumbnail_crop_id),
        verdict=e.verdict,
        reason=e.reason,
        threshold=e.threshold,
        threshold_why=e.threshold_why,
        query_image_url=_crop_url(e.view_crop_id),
        runner_up_id=e.runner_up_id,
        runner_up_label=e.runner_up_label,
        runner_up_similarity=e.runner_up_similarity,
        runner_up_image_url=_crop_url(e.runner_up_view_crop_id),
    )


def seen_out(s: CameraSeen | None) -> CameraSeenOut | None:
    return (
        None
        if s is None
        else CameraSeenOut(query_id=s.query_id, label=s.label, similarity=s.similarity, at=s.at)
    )


class RatesOut(BaseModel):
    """What the calibration pairs say about one threshold."""

    threshold: float
    fmr: float = Field(description="fraction of different-people pairs at or above the threshold")
    tpr: float = Field(description="fraction of same-person pairs at or above the threshold")


class HistogramOut(BaseModel):
    edges: list[float] = Field(description="bin edges of cosine similarity, -1 to 1")
    same: list[int] = Field(description="same-person pairs per bin")
    different: list[int] = Field(description="different-people pairs per bin")


class CalibrationOut(BaseModel):
    """The threshold calibration of the running ReID model (``reidcam calibrate``), if any."""

    calibrated: bool
    model_id: str | None = None
    threshold: float | None = Field(default=None, description="calibrated threshold (match when >=)")
    target_fmr: float | None = None
    fmr: float | None = None
    tpr: float | None = None
    uncertain_below: float | None = None
    holdout: dict[str, float] | None = None
    num_same: int = 0
    num_different: int = 0
    num_images: int = 0
    num_identities: int = 0
    data: str = ""
    created_at: float | None = None
    current: RatesOut | None = Field(default=None, description="rates at the threshold in use now")
    curve: list[RatesOut] = Field(default_factory=list, description="rates on a 0.01 grid of thresholds")
    histogram: HistogramOut | None = None
