"""Matching sightings against the query gallery."""

from reidcam.match.gallery import Gallery, QueryIdentity
from reidcam.match.matcher import Matcher, MatcherSettings
from reidcam.match.similarity import cosine_distance, cosine_similarity

__all__ = [
    "Gallery",
    "Matcher",
    "MatcherSettings",
    "QueryIdentity",
    "cosine_distance",
    "cosine_similarity",
]
