"""Query photo uploads: size-limited while reading, header checked before decoding.

A request body is counted as it arrives and refused past the limit, so a huge
upload never fills memory or disk. The image header is read with Pillow first
(dimensions only, no pixels) so a small file that claims gigapixels is refused
before anything is decoded.
"""

from __future__ import annotations

import importlib
import io
import struct
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import numpy as np
from fastapi import HTTPException, Request, status
from numpy.typing import NDArray
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from reidcam.core.errors import ImageError
from reidcam.detect.base import Detector
from reidcam.reid.crops import extract_crops
from reidcam.reid.query import MAX_QUERY_PIXELS, decode_image

TOO_LARGE = 413  # named HTTP_413_CONTENT_TOO_LARGE or ..._REQUEST_ENTITY_TOO_LARGE depending on the version
MULTIPART_SLACK = 64 * 1024
#: A person box covering at least this share of the photo means the photo already is a crop.
CROP_AREA_SHARE = 0.5


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    fields: dict[str, str]


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(TOO_LARGE, f"upload too large: at most {max_bytes // (1024 * 1024)} MB")


async def _limited(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > max_bytes:
            raise _too_large(max_bytes - MULTIPART_SLACK)
        yield chunk


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The uploaded image bytes, from multipart/form-data (field ``file``) or a raw image body.

    Raises:
        HTTPException: 413 over ``max_bytes``, 415 not an image upload, 400 a malformed form.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + MULTIPART_SLACK:
        raise _too_large(max_bytes)
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        upload = await _read_form(request, max_bytes)
    elif ctype.startswith("image/") or ctype.startswith("application/octet-stream"):
        data = b"".join([c async for c in _limited(request, max_bytes + MULTIPART_SLACK)])
        upload = Upload(data, "upload", dict(request.query_params))
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the photo as multipart/form-data (field 'file') or as an image/* body",
        )
    if len(upload.data) > max_bytes:
        raise _too_large(max_bytes)
    if not upload.data:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the uploaded file is empty")
    return upload


async def _read_form(request: Request, max_bytes: int) -> Upload:
    parser = MultiPartParser(
        request.headers, _limited(request, max_bytes + MULTIPART_SLACK), max_files=1, max_fields=8
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"malformed upload: {exc.message}") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "no file in the upload (form field 'file')")
        if file.content_type and not file.content_type.startswith(("image/", "application/octet-stream")):
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"{file.filename or 'the file'} is {file.content_type}, not a JPEG, PNG, BMP or WebP image",
            )
        data = await file.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return Upload(data, file.filename or "upload", fields)
    finally:
        await form.close()


_MAGIC = (
    (b"\xff\xd8\xff", "JpegImagePlugin", "JpegImageFile"),
    (b"\x89PNG\r\n\x1a\n", "PngImagePlugin", "PngImageFile"),
    (b"BM", "BmpImagePlugin", "BmpImageFile"),
    (b"RIFF", "WebPImagePlugin", "WebPImageFile"),
)
_NOT_AN_IMAGE = "not a readable image (JPEG, PNG, BMP or WebP)"


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of an accepted format, or None.

    Calls the format's Pillow class directly rather than ``Image.open``: only the
    accepted formats are ever parsed, and Ultralytics' patch of ``Image.open``
    (which tries to pip-install a HEIF plugin for unknown files) is never hit.
    """
    for magic, module, cls in _MAGIC:
        if not data.startswith(magic) or (magic == b"RIFF" and data[8:12] != b"WEBP"):
            continue
        try:
            plugin = importlib.import_module(f"PIL.{module}")
            with getattr(plugin, cls)(io.BytesIO(data)) as img:
                return int(img.size[0]), int(img.size[1])
        except (ImportError, SyntaxError, OSError, ValueError, IndexError, TypeError, struct.error):
            return None
    return None


def check_header(data: bytes) -> tuple[int, int]:
    """Width and height from the image header, without decoding the pixels.

    Raises:
        HTTPException: 415 not an image in an accepted format, 413 too many pixels.
    """
    size = _header_size(data)
    if size is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, _NOT_AN_IMAGE)
    w, h = size
    if w * h > MAX_QUERY_PIXELS:
        raise HTTPException(
            TOO_LARGE, f"image is {w}x{h} pixels; at most {MAX_QUERY_PIXELS // 1_000_000} megapixels"
        )
    return w, h


def decode_upload(data: bytes) -> NDArray[np.uint8]:
    """Check the header, then decode to BGR uint8. Raises HTTPException (4xx) on a bad image."""
    check_header(data)
    try:
        return decode_image(data, what="the uploaded file")
    except ImageError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


@dataclass(frozen=True)
class PersonPick:
    image: NDArray[np.uint8]
    used: str
    box: list[float] | None
    message: str


def pick_person(image: NDArray[np.uint8], detector: Detector) -> PersonPick:
    """The person to search for in a photo: the largest detected person, or the whole photo.

    A photo that is already a crop (the largest person fills most of it), or one
    with no person found, is used whole.
    """
    dets = detector.detect([image])[0]
    h, w = image.shape[:2]
    if len(dets) == 0:
        return PersonPick(image, "whole_image", None, "no person detected; the whole photo is the query")
    areas = (dets.xyxy[:, 2] - dets.xyxy[:, 0]) * (dets.xyxy[:, 3] - dets.xyxy[:, 1])
    best = int(np.argmax(areas))
    box = [round(float(v), 1) for v in dets.xyxy[best]]
    if areas[best] >= CROP_AREA_SHARE * w * h:
        return PersonPick(image, "whole_image", box, "the photo shows one person; used as it is")
    crop = extract_crops(image, dets.xyxy[best : best + 1])[0]
    if crop is None:
        return PersonPick(
            image, "whole_image", None, "the person box was empty; the whole photo is the query"
        )
    msg = f"{len(dets)} person(s) detected; the largest (box {box}) is the query"
    return PersonPick(crop, "largest_person_box", box, msg)
