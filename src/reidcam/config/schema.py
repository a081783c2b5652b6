"""The configuration tree: one YAML file validated by pydantic.

``extra="forbid"`` everywhere so a typo in a key is an error, not a silently
ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NeighbourConfig(_Strict):
    """A camera a person can walk to from this one (and back: links are two-way), and how long
    the walk takes. ``min_transit_s`` 0 means the views overlap (seen on both at once)."""

    camera: str = Field(min_length=1, max_length=64)
    min_transit_s: float = Field(default=0.0, ge=0.0)
    max_transit_s: float | None = Field(default=None, gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> NeighbourConfig:
        if self.max_transit_s is not None and self.max_transit_s < self.min_transit_s:
            raise ValueError(
                f"max_transit_s {self.max_transit_s} is below min_transit_s {self.min_transit_s}"
            )
        return self


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
    # Long side of the detector input for this camera (px, rounded up to 32 per side by
    # backends that can); None = detector.imgsz. Small people in a wide view need more.
    detector_imgsz: int | None = Field(default=None, ge=32, le=4096)
    # Image folders only: true when the images are stills far apart in time (each detection is
    # then its own one-frame sighting, no tracking), false for frames of a video, auto to tell
    # from the frame numbers in the names and the file times (``reidcam.capture.stills``).
    stills: bool | Literal["auto"] = "auto"
    # Optional topology for the identity memory: a sighting never joins an identity last seen
    # on a camera from which this one cannot be reached in the time between (see identity.topology).
    neighbours: list[NeighbourConfig] = Field(default_factory=list)


class DetectorConfig(_Strict):
    """``backend``: 'ultralytics' (.pt/.onnx/.tflite/OpenVINO dirs through Ultralytics), or a bare
    'onnxruntime'/'openvino'/'torch' (onnx2torch) session for YOLOX ONNX exports; 'auto' picks a
    bare ONNX Runtime session for ``*yolox*.onnx`` (torch on a GPU when ONNX Runtime has no CUDA)
    and Ultralytics for everything else. ``device``: Ultralytics' own device string, used only
    when ``performance.device`` is 'cpu'; otherwise the resolved performance.device wins."""

    weights: str = "yolox_nano"
    backend: Literal["auto", "ultralytics", "onnxruntime", "openvino", "torch"] = "auto"
    # Intra-op threads per detector call, and calls run at once (frames of different cameras
    # in parallel); None = from performance.threads / the core count.
    threads: int | None = Field(default=None, ge=1)
    workers: int | None = Field(default=None, ge=1, le=64)
    confidence: float = Field(default=0.35, ge=0.0, le=1.0)
    # Keep detections that are not people (cones, racks, wheels) out of ReID, matches and the
    # memory: a pose model must find a body (>= person_check_min_keypoints of 17 keypoints) in
    # a new track's box. 'auto': on when its weights are found, else off with a warning.
    person_check: Literal["auto", "pose", "off"] = "auto"
    person_check_weights: str = "yolo11n-pose"
    person_check_min_keypoints: int = Field(default=7, ge=1, le=17)
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
    # Chosen by measurement (docs/accuracy.md, "The default ReID model"): it separates people
    # better than OSNet x0_25 on every labelled set here and embeds faster on OpenVINO.
    model: str = "person-reidentification-retail-0288"
    weights: str | None = None
    backend: Literal["auto", "onnxruntime", "torch", "openvino"] = "auto"
    batch_size: int = Field(default=32, ge=1, le=512)
    threads: int | None = Field(default=None, ge=1)
    min_crop_height_px: float = Field(default=80.0, ge=0)
    min_crop_width_px: float = Field(default=28.0, ge=0)
    min_aspect: float = Field(default=1.2, ge=0)
    max_embeddings_per_sighting: int = Field(default=16, ge=1)
    # ReID is the costly stage: a tracked person is embedded when new, when its box changed
    # (performance.reembed_height_change), and then every this many frames.
    embed_interval_frames: int = Field(default=10, ge=1)
    # A good crop less similar than this to its track's prototype means the tracker
    # swapped people: the sighting is split instead of blending two people.
    switch_similarity: float = Field(default=0.5, ge=-1.0, le=1.0)
    # Embed each crop and its mirror image and average them (test-time augmentation): more
    # robust vectors at twice the ReID cost. Measured in docs/accuracy.md.
    flip_tta: bool = False


class PerformanceConfig(_Strict):
    """How the one inference worker shares the CPU between cameras.

    ``pipelined``: detection of the next batch runs on its own thread while the current one
    is tracked, embedded and matched. ``threads``: intra-op threads of the detector and of
    the embedder; None = half the cores each when pipelined (they run at the same time),
    all cores when not (they take turns). ``opencv_threads``: OpenCV's own
    pool, 1 because each camera already decodes on its own thread. ``capture_queue_frames``:
    frames a file camera decodes ahead (live cameras keep only the newest one).
    ``max_crops_per_step``: ReID budget per step, new tracks first. ``reembed_height_change``:
    a track whose box height changed by this fraction since its last embedding is embedded
    again before its ``reid.embed_interval_frames`` are up.
    """

    pipelined: bool = True
    threads: int | None = Field(default=None, ge=1)
    opencv_threads: int = Field(default=1, ge=0)
    capture_queue_frames: int = Field(default=2, ge=1, le=64)
    max_crops_per_step: int = Field(default=32, ge=1, le=1024)
    reembed_height_change: float = Field(default=0.25, gt=0.0)
    # The web server's threads run this much "nicer" (Linux nice) than detection, so viewers
    # never slow the cameras down; 0 = the same priority.
    web_nice: int = Field(default=10, ge=0, le=19)
    # Where the detector and the embedder run: auto (a CUDA GPU when the installed runtimes
    # offer one, else the CPU), cpu, cuda or cuda:N. An explicit cuda without one is an error.
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    # fp16 weights and activations, GPU only; auto = fp32 until fp16 is measured on a GPU
    # (docs/performance.md, GPU).
    precision: Literal["auto", "fp32", "fp16"] = "auto"


class MatcherConfig(_Strict):
    """``calibration``: a ``calibration.json`` (or its folder) written by ``reidcam calibrate`` for
    the configured ReID model. Its threshold and uncertain band become the defaults (an explicit
    ``threshold`` / ``uncertain_band`` here still wins) and the web UI shows its false-match rate
    next to the threshold slider. It must name the same model as ``reid``."""

    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    margin: float = Field(default=0.05, ge=0.0, le=2.0)
    # Best scores this far below the threshold are "uncertain" (a case for a human), not "no".
    # None = from the calibration, else 0.05.
    uncertain_band: float | None = Field(default=None, ge=0.0, le=1.0)
    calibration: Path | None = None
    # A sighting decided on fewer good crops (big enough, whole, unoccluded) than this is at
    # most "uncertain", never a "match": one view of a person can look like anybody.
    min_good_crops: int = Field(default=1, ge=1, le=64)
    # Self-calibration (reidcam.match.autocal): per camera, the threshold in use is at least the
    # one keeping the label-free estimate of its false-match rate at ``target_fmr``; ``threshold``
    # can only make it stricter. False: ``threshold`` alone, on every camera. A camera whose
    # true-match rate at ``target_fmr`` is below ``min_tmr`` says "uncertain", never "match".
    # A camera needs ``min_negative_pairs`` different-people and ``min_positive_pairs``
    # same-person pairs before its estimate counts; until then the model's default applies.
    self_calibrate: bool = True
    target_fmr: float = Field(default=0.01, gt=0.0, lt=1.0)
    min_tmr: float = Field(default=0.5, ge=0.0, le=1.0)
    min_negative_pairs: int = Field(default=300, ge=1)
    min_positive_pairs: int = Field(default=30, ge=1)
    autocal_save_interval_s: float = Field(default=60.0, gt=0)


class OutputConfig(_Strict):
    dir: Path = Path("reidcam-out")
    save_crops: bool = True
    jpeg_quality: int = Field(default=90, ge=10, le=100)


class WeightsConfig(_Strict):
    dir: Path | None = None
    allow_download: bool = False


class StorageConfig(_Strict):
    """The identity memory's database (see ``reidcam.identity``).

    ``url``: a SQLAlchemy URL; None = the SQLite file ``reidcam.db`` in the data directory.
    PostgreSQL (``postgresql://user:${PGPASSWORD}@host/db``) needs the ``postgres`` extra and
    the pgvector extension on the server. ``retention_days``: sightings of identities nobody
    confirmed (named, enrolled, confirmed a sighting) are deleted, crops included, once older;
    None keeps everything. ``identity_threshold``: cosine similarity from which a sighting
    joins a known identity (with most of its kept views, see ``identity``); None = from
    ``identity.target_fmr`` (see ``IdentityConfig``).
    """

    url: str | None = None
    retention_days: float | None = Field(default=30.0, gt=0)
    purge_interval_s: float = Field(default=3600.0, gt=0)
    max_embeddings_per_identity: int = Field(default=32, ge=1, le=1000)
    identity_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    identity_margin: float = Field(default=0.05, ge=0.0, le=2.0)


class IdentityConfig(_Strict):
    """How strict the identity memory is when a sighting joins a known person.

    A sighting joins an identity only if it is at least the join threshold similar to more than
    ``quorum`` of the identity's kept embeddings (a majority by default), never through one
    similar member. The join threshold is ``storage.identity_threshold`` when set (the user's
    explicit word), else the one the ReID model's calibration (``matcher.calibration``) gives for
    ``target_fmr``, else the model's match threshold plus ``uncalibrated_extra``.

    ``collect_track_crops``: ``reidcam serve`` keeps a few good crops of every track under
    ``training/tracks/`` in the data directory, what ``reidcam finetune --from-memory`` learns
    from. Off by default: they are more pictures of people; deleting a sighting or an identity,
    and retention, remove them with their sighting.
    """

    target_fmr: float = Field(default=0.001, gt=0.0, lt=1.0)
    uncalibrated_extra: float = Field(default=0.1, ge=0.0, le=1.0)
    quorum: float = Field(default=0.5, ge=0.0, lt=1.0)
    collect_track_crops: bool = False


class WebConfig(_Strict):
    """``reidcam serve``. ``token``: the access token, required off loopback; write it as a
    reference to the environment (``token: ${REIDCAM_TOKEN}``), not as the secret itself.
    ``--token-file`` wins over it, and it over ``$REIDCAM_TOKEN`` alone. Never printed."""

    token: SecretStr | None = None


class BrokerTlsConfig(_Strict):
    """TLS to the broker. ``ca_file`` verifies the server (None = the system's CAs);
    ``cert_file`` and ``key_file`` together are this client's certificate (mutual TLS)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> BrokerTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(
                "tls.cert_file and tls.key_file go together (the client certificate and its key)"
            )
        return self


_BROKER_SCHEMES = ("nats", "tls")


class BrokerConfig(_Strict):
    """The NATS JetStream broker of the distributed mode (``reidcam.broker``); None ``url`` = the
    single-machine product, which needs no broker.

    Credentials: ``user`` + ``password``, or ``token``, or ``creds_file`` (a NATS ``.creds`` file),
    each written as ``${ENV}`` references, never the secret itself. Credentials inside ``url``
    (``nats://user:pass@host``, ``nats://token@host``) are moved into these fields, so the URL
    that logs and the status show never holds them. Secrets are ``SecretStr``: never printed.
    ``connect_attempts`` (2 at least) bounds the first connection (one clear error after them); once
    connected the client reconnects forever, ``reconnect_wait_s`` apart. ``lease_ttl_s``: a
    camera whose owner stopped renewing goes to another worker within it.
    ``buffer_max_sightings``: closed sightings kept while the broker is away, oldest dropped past it.
    """

    url: str | None = None
    name: str = Field(default="reidcam", min_length=1, max_length=128)
    user: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    token: SecretStr | None = None
    creds_file: Path | None = None
    tls: BrokerTlsConfig | None = None
    connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    connect_attempts: int = Field(default=3, ge=2, le=100)
    reconnect_wait_s: float = Field(default=2.0, gt=0, le=60)
    request_timeout_s: float = Field(default=5.0, gt=0, le=120)
    lease_ttl_s: float = Field(default=10.0, ge=1.0, le=3600.0)
    buffer_max_sightings: int = Field(default=10_000, ge=1, le=10_000_000)

    @model_validator(mode="before")
    @classmethod
    def _credentials_out_of_url(cls, data: object) -> object:
        """Move ``user:pass@`` / ``token@`` from the URL into the secret fields."""
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        url, user, password, token = split_broker_url(data["url"])
        if user is None and token is None:
            return data
        if any(data.get(k) is not None for k in ("user", "password", "token", "creds_file")):
            raise ValueError(
                "broker credentials are both in broker.url and in broker.user/password/token/creds_file:"
                " keep one (preferably the fields, as ${ENV} references)"
            )
        return {**data, "url": url, "user": user, "password": password, "token": token}

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parsed = urlsplit(url)
        if parsed.scheme not in _BROKER_SCHEMES or not parsed.hostname:
            raise ValueError(
                f"broker.url {url!r} is not a NATS URL: expected nats://HOST:PORT or tls://HOST:PORT"
            )
        try:
            parsed.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"broker.url {url!r} has an invalid port") from exc
        return url

    @model_validator(mode="after")
    def _one_kind_of_credentials(self) -> BrokerConfig:
        if (self.user is None) != (self.password is None):
            raise ValueError("broker.user and broker.password go together")
        kinds = [
            k
            for k, v in (("user/password", self.user), ("token", self.token), ("creds_file", self.creds_file))
            if v is not None
        ]
        if len(kinds) > 1:
            raise ValueError(
                f"broker credentials: choose one of user/password, token, creds_file (got {', '.join(kinds)})"
            )
        if self.url is None and (kinds or self.tls is not None):
            raise ValueError("broker credentials or TLS are set but broker.url is not")
        return self

    @property
    def enabled(self) -> bool:
        """True when a broker is configured (the distributed mode)."""
        return self.url is not None

    @property
    def auth_kind(self) -> str:
        """'user/password', 'token', 'creds file' or 'none': what the status may say about secrets."""
        if self.user is not None:
            return "user/password"
        if self.token is not None:
            return "token"
        return "creds file" if self.creds_file is not None else "none"

    def describe(self) -> dict[str, object]:
        """A secret-free summary for logs, the status and the page (the URL holds no credentials:
        ``_credentials_out_of_url`` moved them into the secret fields)."""
        return {
            "url": self.url,
            "name": self.name,
            "auth": self.auth_kind,
            "user": self.user,
            "tls": self.tls is not None or (self.url or "").startswith("tls://"),
        }


def split_broker_url(url: str) -> tuple[str, str | None, SecretStr | None, SecretStr | None]:
    """``(url without user info, user, password, token)`` of a NATS URL.

    ``nats://u:p@h`` carries a user and a password, ``nats://t@h`` a token (NATS' convention).
    Percent-escapes in them are decoded.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    bare = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    user, sep, password = userinfo.partition(":")
    if sep:
        return bare, unquote(user), SecretStr(unquote(password)), None
    return bare, None, None, SecretStr(unquote(user))


class AppConfig(_Strict):
    cameras: list[CameraConfig] = Field(default_factory=list)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    reid: ReidConfig = Field(default_factory=ReidConfig)
    matcher: MatcherConfig = Field(default_factory=MatcherConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    weights: WeightsConfig = Field(default_factory=WeightsConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cams: list[CameraConfig]) -> list[CameraConfig]:
        seen: set[str] = set()
        for cam in cams:
            if cam.id in seen:
                raise ValueError(f"duplicate camera id {cam.id!r}")
            seen.add(cam.id)
        return cams

    @model_validator(mode="after")
    def _known_neighbours(self) -> AppConfig:
        """Every ``cameras[].neighbours[].camera`` names another configured camera."""
        ids = [c.id for c in self.cameras]
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_camera",
                    "{why}: the configured cameras are {known}",
                    {"why": _neighbour_problem(cam.id, n.camera, ids), "known": ", ".join(ids)},
                ),
                loc=("cameras", i, "neighbours", j, "camera"),
                input=n.camera,
            )
            for i, cam in enumerate(self.cameras)
            for j, n in enumerate(cam.neighbours)
            if n.camera not in ids or n.camera == cam.id
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


def _neighbour_problem(camera: str, neighbour: str, ids: list[str]) -> str:
    if neighbour == camera:
        return f"camera {camera!r} lists itself as its neighbour"
    return f"camera {camera!r} lists an unknown neighbour {neighbour!r}"
