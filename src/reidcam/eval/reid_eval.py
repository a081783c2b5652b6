"""Evaluate a ReID embedder on a Market-layout folder: embed with a progress bar, rank, score."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from reidcam.eval.dataset import DatasetError, Item, MarketSet, labels, read_images
from reidcam.eval.reid_metrics import JUNK_PID, RankResult, evaluate_rank
from reidcam.reid.backends.base import Embedder

log = logging.getLogger(__name__)

EMBED_CHUNK = 64  # images read and embedded per step: bounds memory, drives the progress bar


def embed_items(
    embedder: Embedder, items: Sequence[Item], desc: str = "embedding", progress: bool = True
) -> NDArray[np.float32]:
    """(N, dim) L2-normalised vectors of the images of ``items``, read and embedded in chunks.

    The progress bar goes to stderr and only shows on a terminal (``disable=None``) when
    ``progress`` is True.
    """
    out = np.zeros((len(items), embedder.dim), np.float32)
    bar = tqdm(total=len(items), desc=desc, unit="img", file=sys.stderr, disable=None if progress else True)
    try:
        for start in range(0, len(items), EMBED_CHUNK):
            chunk = items[start : start + EMBED_CHUNK]
            out[start : start + len(chunk)] = embedder.embed(read_images(chunk)).vectors
            bar.update(len(chunk))
    finally:
        bar.close()
    return out


def cosine_distmat(q: NDArray[np.float32], g: NDArray[np.float32]) -> NDArray[np.float32]:
    """Cosine distance (1 - similarity, lower is better) between unit vectors: (Nq, Ng) float32."""
    return np.asarray(1.0 - np.clip(q @ g.T, -1.0, 1.0), dtype=np.float32)


@dataclass(frozen=True)
class ReidReport:
    """The scores of one model on one folder, and what they were computed on."""

    model_id: str
    data: str
    num_query: int
    num_gallery: int
    num_identities: int
    result: RankResult

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "data": self.data,
            "num_query": self.num_query,
            "num_gallery": self.num_gallery,
            "num_query_identities": self.num_identities,
            **self.result.summary(),
            "cmc": [round(float(v), 6) for v in self.result.cmc],
        }


def evaluate_embedder(
    embedder: Embedder, data: MarketSet, max_rank: int = 50, progress: bool = True
) -> ReidReport:
    """Embed ``query/`` and ``bounding_box_test/`` of ``data`` and score them (Market protocol).

    Junk queries (pid -1) are left out; junk gallery images are removed from every ranking.

    Raises:
        DatasetError: no query or no gallery images; ValueError: no query has a valid match.
    """
    query = [i for i in data.query if i.pid != JUNK_PID]
    gallery = data.gallery
    if not query or not gallery:
        raise DatasetError(f"{data.root} needs images in both query/ and bounding_box_test/ to evaluate ReID")
    q = embed_items(embedder, query, "query", progress)
    g = embed_items(embedder, gallery, "gallery", progress)
    return score_vectors(embedder.model_id, str(data.root), q, g, query, gallery, max_rank)


def score_vectors(
    model_id: str,
    data: str,
    q: NDArray[np.float32],
    g: NDArray[np.float32],
    query: Sequence[Item],
    gallery: Sequence[Item],
    max_rank: int = 50,
) -> ReidReport:
    """Rank gallery vectors for each query vector by cosine distance and score them."""
    q_pids, q_cams = labels(list(query))
    g_pids, g_cams = labels(list(gallery))
    result = evaluate_rank(cosine_distmat(q, g), q_pids, g_pids, q_cams, g_cams, max_rank=max_rank)
    report = ReidReport(model_id, data, len(query), len(gallery), len(set(q_pids.tolist())), result)
    log.info("%s on %s: %s", model_id, data, result.summary())
    return report
