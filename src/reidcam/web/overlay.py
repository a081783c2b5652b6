"""Draw what the pipeline concluded onto a camera frame, and encode it for the browser.

Colours (BGR): matched = red, thick, labelled with the query and similarity;
uncertain = amber with the similarity; everyone else = green with the track id.
Frames are shrunk to ``max_width`` first: the browser shows them small, and a
1080p JPEG per client per frame would cost more than the detection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.core.events import Observation
from reidcam.core.types import Verdict
from reidcam.storage.crop_store import encode_jpeg

RED, AMBER, GREEN = (40, 40, 230), (0, 190, 255), (90, 200, 90)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _style(obs: Observation, labels: Mapping[str, str]) -> tuple[tuple[int, int, int], int, str]:
    d = obs.decision
    track = "" if obs.track_id is None else f"#{obs.track_id}"
    if d is not None and d.verdict is Verdict.MATCH:
        return RED, 4, f"{labels.get(d.query_id or '', d.query_id or 'query')} {d.similarity:.2f}"
    if d is not None and d.verdict is Verdict.UNCERTAIN:
        return AMBER, 3, f"? {d.similarity:.2f} {track}".strip()
    return GREEN, 2, track


def _label(img: NDArray[np.uint8], text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    if not text:
        return
    scale = max(0.5, img.shape[1] / 1200.0)  # readable when the browser shows the frame small
    thick = 2 if scale >= 0.75 else 1
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    y = max(y, th + base + 2)
    cv2.rectangle(img, (x, y - th - base - 4), (x + tw + 6, y), colour, -1)
    cv2.putText(img, text, (x + 3, y - base - 1), FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)


def draw_overlays(
    image: NDArray[np.uint8],
    observations: Sequence[Observation],
    labels: Mapping[str, str],
    max_width: int = 960,
) -> NDArray[np.uint8]:
    """A resized copy of a BGR uint8 frame with every observation's box and label drawn."""
    h, w = image.shape[:2]
    scale = min(1.0, max_width / float(w))
    size = (round(w * scale), round(h * scale))
    out: NDArray[np.uint8] = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    # Matches last, so a red box is never hidden under a green one.
    ordered = sorted(observations, key=lambda o: o.matched)
    for obs in ordered:
        colour, thick, text = _style(obs, labels)
        x1, y1, x2, y2 = (round(float(v) * scale) for v in obs.xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        _label(out, text, x1, y1 - 1, colour)
    return out


def frame_jpeg(
    image: NDArray[np.uint8],
    observations: Sequence[Observation],
    labels: Mapping[str, str],
    max_width: int = 960,
    quality: int = 75,
) -> bytes:
    return encode_jpeg(draw_overlays(image, observations, labels, max_width), quality)


def placeholder_jpeg(text: str, size_wh: tuple[int, int] = (640, 360)) -> bytes:
    """A dark frame with a message, shown while a camera has no picture yet."""
    img = np.full((size_wh[1], size_wh[0], 3), 32, np.uint8)
    (tw, th), _ = cv2.getTextSize(text, FONT, 0.7, 1)
    cv2.putText(
        img,
        text,
        ((size_wh[0] - tw) // 2, (size_wh[1] + th) // 2),
        FONT,
        0.7,
        (200, 200, 200),
        1,
        cv2.LINE_AA,
    )
    return encode_jpeg(img, 70)
