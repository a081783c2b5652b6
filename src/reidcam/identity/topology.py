"""Camera topology: which moves between cameras are physically impossible.

A link ``c1 -> c2`` with ``min_transit_s`` says a person needs at least that long to walk from
one view to the other (links are two-way). The shortest path over the links gives the least
time between any two linked cameras. A person seen on camera A cannot be the same person as one
seen on camera B less than that time before or after: such a sighting never joins that identity.

Only the minimum can make a move impossible: a slower move is always possible (a person stops,
or leaves the covered area and comes back). ``max_transit_s`` is checked to be at least the
minimum and shown in the explanation. Cameras that take no part in any link are unconstrained,
and two cameras of the topology with no path between them only refuse a person seen on both at
once. No topology: no constraint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    """A declared two-way walk between two cameras (seconds)."""

    a: str
    b: str
    min_transit_s: float
    max_transit_s: float | None = None

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise ValueError(f"camera {self.a!r} cannot be its own neighbour")
        if self.min_transit_s < 0:
            raise ValueError("min_transit_s must be >= 0")
        if self.max_transit_s is not None and self.max_transit_s < self.min_transit_s:
            raise ValueError("max_transit_s must be >= min_transit_s")


@dataclass(frozen=True)
class Topology:
    """Least transit time between every two cameras of the topology (shortest paths, seconds).

    Build it with :meth:`from_links`. ``least_s[(a, b)]`` is ``math.inf`` when no path joins them.
    """

    cameras: frozenset[str]
    least_s: Mapping[tuple[str, str], float]
    links: tuple[Link, ...] = ()

    @classmethod
    def from_links(cls, links: Iterable[Link]) -> Topology:
        """All-pairs shortest paths over the links' minimum transit times (Floyd-Warshall)."""
        links = tuple(links)
        cams = sorted({c for link in links for c in (link.a, link.b)})
        d = {(a, b): (0.0 if a == b else math.inf) for a in cams for b in cams}
        for link in links:
            w = min(d[(link.a, link.b)], link.min_transit_s)
            d[(link.a, link.b)] = d[(link.b, link.a)] = w
        for k in cams:
            for a in cams:
                for b in cams:
                    if d[(a, k)] + d[(k, b)] < d[(a, b)]:
                        d[(a, b)] = d[(a, k)] + d[(k, b)]
        return cls(frozenset(cams), d, links)

    def least_transit_s(self, a: str, b: str) -> float | None:
        """Least seconds from camera ``a`` to ``b``; None when the topology says nothing about them."""
        if a == b or a not in self.cameras or b not in self.cameras:
            return None
        return self.least_s[(a, b)]

    def horizon_s(self) -> float:
        """The longest finite least transit: no constraint reaches further apart in time."""
        finite = [v for v in self.least_s.values() if math.isfinite(v)]
        return max(finite, default=0.0)

    def impossible(self, a: str, b: str, gap_s: float) -> str | None:
        """Why a person seen on ``a`` cannot be seen on ``b`` ``gap_s`` later; None if they can.

        ``gap_s``: seconds between the end of the earlier sighting and the start of the later
        one; negative when the two sightings overlap in time.
        """
        least = self.least_transit_s(a, b)
        if least is None:
            return None
        if math.isinf(least):
            if gap_s < 0:
                return f"seen on {a} and {b} at once, and no link joins them"
            return None
        if least > 0 and gap_s < least:
            return f"{a} -> {b} in {max(gap_s, 0.0):.1f} s, a walk takes at least {least:.1f} s"
        return None


def sighting_gap_s(first_a: float, last_a: float, first_b: float, last_b: float) -> float:
    """Seconds between two sightings (either order); negative when they overlap in time."""
    return max(first_b - last_a, first_a - last_b)


def topology_from_config(cameras: Iterable[object]) -> Topology | None:
    """The topology of ``cameras[].neighbours`` (CameraConfig objects); None when none is declared."""
    links = [
        Link(cam.id, n.camera, n.min_transit_s, n.max_transit_s)  # type: ignore[attr-defined]
        for cam in cameras
        for n in getattr(cam, "neighbours", ())
    ]
    return Topology.from_links(links) if links else None
