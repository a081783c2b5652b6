"""Request and response models of the identity memory's routes (people, sightings, search)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from reidcam.identity import Assignment, IdentityInfo, SearchHit, SightingInfo

#: Ids as the memory makes them (``storage.tables.new_id``): a prefix and 20 hex digits.
IDENTITY_ID = r"^idn_[0-9a-f]{20}$"
SIGHTING_ID = r"^sig_[0-9a-f]{20}$"


class IdentityOut(BaseModel):
    identity_id: str
    name: str | None
    notes: str
    confirmed: bool = Field(description="named, enrolled or confirmed by a user: kept forever")
    created_at: float
    updated_at: float
    last_seen_at: float | None
    n_sightings: int
    n_embeddings: int
    camera_ids: list[str]
    thumbnail_url: str | None


class IdentitiesPage(BaseModel):
    offset: int
    limit: int
    named_only: bool
    identities: list[IdentityOut]


class IdentityPatchIn(BaseModel):
    """Only the fields sent change; ``"name": null`` (or "") clears the name."""

    name: str | None = Field(default=None, max_length=64)
    notes: str | None = Field(default=None, max_length=2000)


class IdentityDeleted(BaseModel):
    identity_id: str
    deleted: Literal[True] = True
    files_removed: int


class MergeIn(BaseModel):
    other_id: str = Field(pattern=IDENTITY_ID, description="folded into the identity of the URL")


class AssignIn(BaseModel):
    identity_id: str = Field(pattern=IDENTITY_ID)


class SightingOut(BaseModel):
    sighting_id: str
    identity_id: str | None
    camera_id: str
    track_id: int
    first_seen_at: float
    last_seen_at: float
    similarity: float | None = Field(description="to its identity when placed; None if it founded it")
    verdict: str | None
    feedback: str | None
    crop_box: list[float] | None
    thumbnail_url: str | None


class TimelineOut(BaseModel):
    identity_id: str
    sightings: list[SightingOut]


class AssignmentOut(BaseModel):
    sighting_id: str
    identity_id: str
    created_identity: bool
    verdict: str
    similarity: float | None
    reason: str


class SearchHitOut(BaseModel):
    similarity: float
    identity_name: str | None
    sighting: SightingOut


class SearchOut(BaseModel):
    used: str = Field(description="whole_image or largest_person_box")
    box: list[float] | None
    message: str
    exact: bool = Field(
        default=True,
        description="every sighting the filters allow was compared; false: an index answered "
        "(a large memory) and may have missed some (message says how to narrow the search)",
    )
    hits: list[SearchHitOut]


def crop_url(sighting_id: str, crop_path: str | None) -> str | None:
    return None if crop_path is None else f"/api/sightings/{sighting_id}/crop.jpg"


def identity_out(i: IdentityInfo) -> IdentityOut:
    return IdentityOut(
        identity_id=i.id,
        name=i.name,
        notes=i.notes,
        confirmed=i.confirmed,
        created_at=i.created_at,
        updated_at=i.updated_at,
        last_seen_at=i.last_seen_at,
        n_sightings=i.n_sightings,
        n_embeddings=i.n_embeddings,
        camera_ids=list(i.camera_ids),
        thumbnail_url=None if i.thumbnail is None else f"/api/identities/{i.id}/thumbnail.jpg",
    )


def sighting_out(s: SightingInfo) -> SightingOut:
    return SightingOut(
        sighting_id=s.id,
        identity_id=s.identity_id,
        camera_id=s.camera_id,
        track_id=s.track_id,
        first_seen_at=s.first_seen_at,
        last_seen_at=s.last_seen_at,
        similarity=s.similarity,
        verdict=s.verdict,
        feedback=s.feedback,
        crop_box=None if s.crop_box is None else list(s.crop_box),
        thumbnail_url=crop_url(s.id, s.crop_path),
    )


def assignment_out(a: Assignment) -> AssignmentOut:
    return AssignmentOut(
        sighting_id=a.sighting_id,
        identity_id=a.identity_id,
        created_identity=a.created_identity,
        verdict=a.verdict,
        similarity=a.similarity,
        reason=a.reason,
    )


def hit_out(h: SearchHit) -> SearchHitOut:
    return SearchHitOut(
        similarity=h.similarity, identity_name=h.identity_name, sighting=sighting_out(h.sighting)
    )
