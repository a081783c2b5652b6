"""The configuration tree: one YAML file validated by pydantic.

``extra="forbid"`` everywhere so a typo in a key is an error, not a silently
ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CameraConfig(_Strict):
    """One camera. ``source`` is a USB index, an rtsp/http(s) URL, a video file,
    an image folder, or a glob of images (``frames/c1s1_*.jpg``)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    source: int | str
    name: str | None = None
    enabled: bool = True
    reconnect_backoff_s: float = Field(default=1.0, gt=0)
    reconnect_backoff_max_s: float = Field(default=30.0, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0)
    loop: bool = False


class DetectorConfig(_Strict):
    weights: str = "yolov8n_int8"
    confidence: float = Field(default=0.35, ge=0.0, le=1.0)
    iou: float = Field(default=0.5, ge=0.0, le=1.0)
    imgsz: int = Field(default=640, ge=32, le=4096)
    min_box_height_px: float = Field(default=40.0, ge=0)
    min_box_width_px: float = Field(default=12.0, ge=0)
    device: str = "cpu"


class TrackerConfig(_Strict):
    kind: Literal["bytetrack", "botsort"] = "bytetrack"
    frame_rate: int = Field(default=25, ge=1, le=240)
    track_high_thresh: float = Field(default=0.4, ge=0.0, le=1.0)
    track_low_thresh: float = Field(default=0.1, ge=0.0, le=1.0)
    new_track_thresh: float = Field(default=0.45, ge=0.0, le=1.0)
    track_buffer: int = Field(default=30, ge=1)
    match_thresh: float = Field(default=0.8, ge=0.0, le=1.0)


class ReidConfig(_Strict):
    model: str = "osnet_x0_25_msmt17"
    weights: str | None = None
    backend: Literal["auto", "onnxruntime", "torch", "openvino"] = "auto"
    batch_size: int = Field(default=32, ge=1, le=512)
    threads: int | None = Field(default=None, ge=1)
    min_crop_height_px: float = Field(default=80.0, ge=0)
    min_crop_width_px: float = Field(default=28.0, ge=0)
    min_aspect: float = Field(default=1.2, ge=0)
    max_embeddings_per_sighting: int = Field(default=16, ge=1)
    embed_interval_frames: int = Field(default=1, ge=1)
    # A good crop less similar than this to its track's prototype means the tracker
    # swapped people: the sighting is split instead of blending two people.
    switch_similarity: float = Field(default=0.5, ge=-1.0, le=1.0)


class MatcherConfig(_Strict):
    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    margin: float = Field(default=0.05, ge=0.0, le=2.0)
    uncertain_band: float = Field(default=0.05, ge=0.0, le=1.0)


class OutputConfig(_Strict):
    dir: Path = Path("reidcam-out")
    save_crops: bool = True
    jpeg_quality: int = Field(default=90, ge=10, le=100)


class WeightsConfig(_Strict):
    dir: Path | None = None
    allow_download: bool = False


class AppConfig(_Strict):
    cameras: list[CameraConfig] = Field(default_factory=list)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    reid: ReidConfig = Field(default_factory=ReidConfig)
    matcher: MatcherConfig = Field(default_factory=MatcherConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    weights: WeightsConfig = Field(default_factory=WeightsConfig)

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cams: list[CameraConfig]) -> list[CameraConfig]:
        seen: set[str] = set()
        for cam in cams:
            if cam.id in seen:
                raise ValueError(f"duplicate camera id {cam.id!r}")
            seen.add(cam.id)
        return cams
