"""Settings every process shares, in the KV bucket ``reidcam-settings``, with a watch.

The web writes them (the threshold slider, the query people), workers watch them and apply a
change to their next frame. Keys and values (JSON):

- ``threshold``: the match threshold, a cosine similarity in [-1, 1];
- ``queries``: the live query people, a list of ``{"name", "model_id", "dim", "vectors"}`` with
  ``vectors`` the base64 of (N, dim) float32 little-endian embeddings, and optionally
  ``label`` and ``images`` (base64 JPEGs of the query pictures, for the other web servers' pages).

Two web servers may change the query people at once: ``replace_queries`` writes only over the
revision the writer read (compare-and-set), and ``merge_queries`` folds one writer's change into
the set the other wrote, so neither loses the person the other added.

A watch delivers every key's current value first, then each change. On a new connection (the
broker restarted) the watch is made again, so a change missed while the broker was away still
arrives: callbacks must treat a repeated value as a no-op.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.broker.connection import BrokerClient
from reidcam.broker.errors import BrokerError, SettingChangedError
from reidcam.broker.kv import BucketWatch, deleted, open_bucket

log = logging.getLogger(__name__)

SETTINGS_BUCKET = "reidcam-settings"
THRESHOLD = "threshold"
QUERIES = "queries"
#: The largest query set shared with its pictures (NATS' default message limit is 1 MiB).
QUERIES_MAX_BYTES = 512 * 1024


@dataclass(frozen=True, eq=False)
class QueryPerson:
    """One live query person: ``vectors`` (N, D) float32 embeddings of ReID model ``model_id``."""

    name: str
    model_id: str
    vectors: NDArray[np.float32]
    label: str = ""  # what the pages call the person; "" in messages older than labels
    # small JPEGs of the query images, for the pages of other web servers (workers ignore them)
    images: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if not self.name or not self.model_id:
            raise ValueError("a query person needs a name and a model_id")
        if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0 or not np.isfinite(v).all():
            raise ValueError(f"query {self.name!r}: vectors must be a finite (N, D) array with N, D > 0")
        object.__setattr__(self, "vectors", v)

    def to_json(self) -> dict[str, object]:
        raw = self.vectors.astype("<f4", copy=False).tobytes()
        out: dict[str, object] = {
            "name": self.name,
            "model_id": self.model_id,
            "dim": int(self.vectors.shape[1]),
            "vectors": base64.b64encode(raw).decode(),
        }
        if self.label:
            out["label"] = self.label
        if self.images:
            out["images"] = [base64.b64encode(jpeg).decode() for jpeg in self.images]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> QueryPerson:
        raw = base64.b64decode(d["vectors"], validate=True)
        dim = int(d["dim"])
        if dim <= 0 or len(raw) % (4 * dim):
            raise ValueError(
                f"query {d.get('name')!r}: {len(raw)} bytes is not a whole number of {dim}-d vectors"
            )
        vectors = np.frombuffer(raw, "<f4").reshape(-1, dim)
        images = tuple(base64.b64decode(x, validate=True) for x in d.get("images") or ())
        return cls(str(d["name"]), str(d["model_id"]), vectors, str(d.get("label") or ""), images)


def decode_setting(key: str, value: bytes) -> object:
    """A stored setting's value. Raises BrokerError on a value of the wrong shape."""
    try:
        data = json.loads(value)
        if key == THRESHOLD:
            return _threshold(data)
        if key == QUERIES:
            return tuple(QueryPerson.from_json(q) for q in data)
    except (ValueError, TypeError, KeyError) as exc:
        raise BrokerError(f"shared setting {key!r} is not valid: {exc}") from exc
    raise BrokerError(f"unknown shared setting {key!r} (known: {THRESHOLD}, {QUERIES})")


def unusable(person: QueryPerson, model_id: str) -> str | None:
    """Why a shared query person cannot be matched by a process of ReID model ``model_id``
    (None: it can): embeddings of another model are never compared, a zero vector has no
    direction. Every process that takes the shared set (workers, web servers) asks this."""
    if person.model_id != model_id:
        return (
            f"query {person.name!r} was embedded by ReID model {person.model_id!r}, this process "
            f"runs {model_id!r}: not used (embeddings of different models are never compared)"
        )
    if not np.all(np.linalg.norm(person.vectors, axis=1) > 0):
        return f"query {person.name!r} has a zero vector: not used"
    return None


def merge_queries(
    base: dict[str, QueryPerson], ours: dict[str, QueryPerson], theirs: dict[str, QueryPerson]
) -> dict[str, QueryPerson]:
    """A three-way merge of query people by name: ``base`` is the shared set this writer last
    knew, ``ours`` its set now, ``theirs`` the shared set now. What this writer added, changed or
    removed since ``base`` wins; everything else is as ``theirs`` has it (another writer's
    additions and removals stay)."""
    out: dict[str, QueryPerson] = {}
    for name, person in theirs.items():
        if name in base and name not in ours:
            continue  # removed here
        out[name] = person
    for name, person in ours.items():
        if name not in base or not same_person(base[name], person):
            out[name] = person  # added or changed here; unchanged: as theirs has it (or gone)
    return out


def same_person(a: QueryPerson, b: QueryPerson) -> bool:
    return (
        a.name == b.name
        and a.model_id == b.model_id
        and a.label == b.label
        and a.vectors.shape == b.vectors.shape
        and bool(np.array_equal(a.vectors, b.vectors))
    )


def _threshold(x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not -1 <= x <= 1:
        raise ValueError(f"the threshold must be a number in [-1, 1], got {x!r}")
    return float(x)


class SharedSettings:
    """Read, write and watch the shared settings (synchronous facade)."""

    def __init__(self, client: BrokerClient) -> None:
        self._client = client
        self._kv: Any = None

    def open(self) -> SharedSettings:
        self._kv = self._client.call(open_bucket(self._client, SETTINGS_BUCKET, None))
        return self

    def set_threshold(self, threshold: float) -> int:
        return self._put(THRESHOLD, _threshold(threshold))

    def set_queries(self, queries: list[QueryPerson]) -> int:
        return self._put(QUERIES, [q.to_json() for q in queries])

    def queries_at(self) -> tuple[tuple[QueryPerson, ...], int]:
        """The query people now and the revision to replace them over (0: never set)."""
        return self._client.call(self._queries_at())

    async def _queries_at(self) -> tuple[tuple[QueryPerson, ...], int]:
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self._kv.get(QUERIES)
        except (KeyNotFoundError, KeyDeletedError) as exc:
            marker = getattr(exc, "entry", None)  # deleted: the delete marker, to write over
            return (), int(marker.revision) if marker is not None else 0
        people = decode_setting(QUERIES, entry.value) if entry.value else ()
        return people, int(entry.revision)  # type: ignore[return-value]

    def replace_queries(self, queries: list[QueryPerson], revision: int) -> int:
        """Write the query people only if ``revision`` (from :meth:`queries_at`) is still the last.

        Raises:
            SettingChangedError: another writer changed them since: read, merge, try again.
        """
        return self._client.call(self._replace_queries(queries, revision))

    async def _replace_queries(self, queries: list[QueryPerson], revision: int) -> int:
        from nats.js.errors import KeyWrongLastSequenceError

        data = json.dumps([q.to_json() for q in queries]).encode()
        if len(data) > QUERIES_MAX_BYTES and any(q.images for q in queries):
            log.warning(
                "the query people's pictures make %d KiB, more than the %d KiB shared: shared "
                "without pictures (other web servers show their names only)",
                len(data) // 1024,
                QUERIES_MAX_BYTES // 1024,
            )
            data = json.dumps([replace(q, images=()).to_json() for q in queries]).encode()
        try:
            return int(await self._kv.update(QUERIES, data, last=revision))
        except KeyWrongLastSequenceError as exc:
            raise SettingChangedError(f"the shared query people changed since revision {revision}") from exc

    def _put(self, key: str, value: object) -> int:
        return int(self._client.call(self._kv.put(key, json.dumps(value).encode())))

    def get(self, key: str) -> object | None:
        """The current value of ``key``, or None when it was never set (or deleted)."""
        return self._client.call(self._get(key))

    async def _get(self, key: str) -> object | None:
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return decode_setting(key, entry.value) if entry.value else None

    def watch(self, on_change: Callable[[str, object | None], None]) -> SettingsWatch:
        """Call ``on_change(key, value)`` (on the broker loop; value None = deleted) now for
        every set key, then on each change. Stop it with ``.stop()``."""
        return self.watch_revisions(lambda key, value, revision: on_change(key, value))

    def watch_revisions(self, on_change: Callable[[str, object | None, int], None]) -> SettingsWatch:
        """As :meth:`watch`, with each value's KV revision: a writer that also watches (a web
        server) tells its own, already applied writes, and older values, from newer ones."""
        w = SettingsWatch(self._client, self._kv, on_change)
        self._client.call(w._start())
        return w


class SettingsWatch(BucketWatch):
    """A running watch of the settings bucket; remade on each new broker connection."""

    name = "reidcam-settings-watch"

    def __init__(
        self, client: BrokerClient, kv: Any, on_change: Callable[[str, object | None, int], None]
    ) -> None:
        super().__init__(client, kv)
        self._on_change = on_change
        self.errors = 0

    async def _follow(self, watcher: Any, generation: int) -> None:
        """Deliver updates until the connection is replaced (then the caller re-watches)."""
        async for entry in self._entries(watcher, generation):
            self._deliver(entry)

    def _deliver(self, entry: Any) -> None:
        try:
            value = None if deleted(entry) or not entry.value else decode_setting(entry.key, entry.value)
            self._on_change(entry.key, value, int(entry.revision or 0))
        except Exception as exc:  # a bad value or a failing callback must not end the watch
            self.errors += 1
            log.error("shared setting %r: %s", entry.key, exc)
