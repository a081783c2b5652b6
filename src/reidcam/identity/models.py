"""What the identity memory hands out: settings and frozen result records (no database types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reidcam.identity.topology import Topology

DAY_S = 86_400.0


@dataclass(frozen=True)
class IdentitySettings:
    """How sightings become global identities.

    Attributes:
        threshold: cosine similarity from which a sighting joins an identity (the quorum's).
        quorum: a sighting joins only if it is ``threshold`` similar to more than this fraction
            of the identity's kept embeddings (0.5: a strict majority; 0: any one member, the
            old nearest-member rule that chain-merges A~B~C).
        margin: the lead over the runner-up identity a join needs to also enrich the identity
            (a closer call still joins, flagged 'uncertain', so one person is not split in two).
        max_embeddings_per_identity: automatic embeddings kept per identity and model; the most
            redundant one is evicted first. A user's (enrolled, confirmed) are never evicted.
        redundant_similarity: a new embedding this close to one the identity has adds nothing.
        retention_max_age_s: sightings of unconfirmed identities older than this are purged;
            None keeps everything.
        jpeg_quality: of the crop files.
        topology: which camera a person can walk to from which and how fast; None: no constraint.
    """

    threshold: float = 0.65
    quorum: float = 0.5
    margin: float = 0.05
    max_embeddings_per_identity: int = 32
    redundant_similarity: float = 0.97
    retention_max_age_s: float | None = 30 * DAY_S
    jpeg_quality: int = 90
    topology: Topology | None = None

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be within [-1, 1]")
        if not 0.0 <= self.quorum < 1.0:
            raise ValueError("quorum must be within [0, 1)")
        if self.max_embeddings_per_identity < 1:
            raise ValueError("max_embeddings_per_identity must be >= 1")


@dataclass(frozen=True)
class Assignment:
    """The outcome of one sighting: which identity it belongs to and why.

    ``verdict`` is 'match' (joined and enriched the identity), 'uncertain' (joined, runner-up
    too close to learn from it), 'new' (founded ``identity_id``) or 'manual' (a user's move).
    ``similarity`` is to ``identity_id``, None when the sighting founded it.
    """

    sighting_id: str
    identity_id: str
    created_identity: bool
    verdict: str
    similarity: float | None
    runner_up_id: str | None
    runner_up_similarity: float | None
    reason: str
    camera_id: str
    first_seen_at: float
    last_seen_at: float
    crop_path: str | None


@dataclass(frozen=True)
class Recorded:
    """A published sighting's outcome (:meth:`IdentityMemory.record_published`).

    ``duplicate``: its source id was stored before, so nothing was written and ``assignment``
    is where that earlier copy stands now.
    """

    assignment: Assignment
    duplicate: bool


@dataclass(frozen=True)
class IdentityInfo:
    """One person as the UI lists them; ``thumbnail`` is a crop path relative to the data dir."""

    id: str
    name: str | None
    notes: str
    created_at: float
    updated_at: float
    last_seen_at: float | None
    confirmed: bool
    n_sightings: int
    n_embeddings: int
    camera_ids: tuple[str, ...]
    thumbnail: str | None


@dataclass(frozen=True)
class SightingInfo:
    """One stored sighting (without its prototype vector)."""

    id: str
    camera_id: str
    track_id: int
    part: int
    identity_id: str | None
    first_seen_at: float
    last_seen_at: float
    n_embeddings: int
    model_id: str
    crop_path: str | None
    crop_box: tuple[float, float, float, float] | None
    crop_frame: str | None
    similarity: float | None = None
    verdict: str | None = None
    feedback: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """A past sighting found by photo: ``similarity`` of its prototype to the probe."""

    sighting: SightingInfo
    similarity: float
    identity_name: str | None


@dataclass(frozen=True)
class SearchResult:
    """Sightings found by a search, best first; ``exact``: every sighting the filters allow was
    compared, else an index answered (fast, and it may miss some of the true best)."""

    hits: list[SearchHit]
    exact: bool
    repeats: int = 0  # hits left out as the same view seen again (a looping file camera)


@dataclass(frozen=True)
class DecisionInfo:
    """One row of a sighting's decision history, oldest first."""

    identity_id: str
    verdict: str
    similarity: float | None
    runner_up_id: str | None
    runner_up_similarity: float | None
    threshold: float
    reason: str
    decided_at: float
    feedback: str | None
    n_members: int | None = None
    n_agree: int | None = None


@dataclass(frozen=True)
class PurgeReport:
    """What a retention pass removed."""

    sightings: int = 0
    identities: int = 0
    files: int = 0
    cutoff_at: float | None = None
    file_errors: list[str] = field(default_factory=list)
