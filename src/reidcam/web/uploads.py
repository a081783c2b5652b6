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
from reidcam.core.jpeg import SOS, segments
from reidcam.reid.enroll import MAX_QUERY_PIXELS, decode_image

TOO_LARGE = 413  # named HTTP_413_CONTENT_TOO_LARGE or ..._REQUEST_ENTITY_TOO_LARGE depending on the version
MULTIPART_SLACK = 64 * 1024


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    fields: dict[str, str]


def _too_large(max_bytes: int) -> HTTPException:
    mb = max_bytes / (1024 * 1024)
    limit = f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB" if mb >= 1 else f"{max_bytes // 1024} kB"
    return HTTPException(TOO_LARGE, f"upload too large: at most {limit}")


async def _limited(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > max_bytes:
            raise _too_large(max_bytes - MULTIPART_SLACK)
        yield chunk


def upload_openapi(fields: dict[str, dict[str, object]]) -> dict[str, object]:
    """The OpenAPI request body of a route that reads its photo with :func:`read_upload`: a
    multipart form with ``file`` and the route's own ``fields``, or a raw JPEG body."""
    photo = {"type": "string", "format": "binary", "description": "JPEG/PNG/BMP/WebP"}
    form = {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {"file": photo, **fields},
    }
    content = {
        "multipart/form-data": {"schema": form},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    }
    return {"requestBody": {"required": True, "content": content}}


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


def _format_of(data: bytes) -> tuple[str, str] | None:
    """(Pillow module, class) of the accepted format whose signature ``data`` starts with, or None."""
    for magic, module, cls in _MAGIC:
        if data.startswith(magic) and (magic != b"RIFF" or data[8:12] == b"WEBP"):
            return module, cls
    return None


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of an accepted format; None if the header is unreadable.

    Calls the format's Pillow class directly rather than ``Image.open``: only the
    accepted formats are ever parsed, and Ultralytics' patch of ``Image.open``
    (which tries to pip-install a HEIF plugin for unknown files) is never hit.
    """
    fmt = _format_of(data)
    if fmt is None:
        return None
    try:
        plugin = importlib.import_module(f"PIL.{fmt[0]}")
        with getattr(plugin, fmt[1])(io.BytesIO(data)) as img:
            return int(img.size[0]), int(img.size[1])
    except (ImportError, SyntaxError, OSError, ValueError, IndexError, TypeError, struct.error):
        return None


def check_header(data: bytes) -> tuple[int, int]:
    """Width and height from the image header, without decoding the pixels.

    Raises:
        HTTPException: 415 not an image in an accepted format, 400 its header is cut off or
            corrupt, 413 too many pixels.
    """
    if _format_of(data) is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, _NOT_AN_IMAGE)
    size = _header_size(data)
    if size is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{_NOT_AN_IMAGE}: its header is truncated or corrupt"
        )
    w, h = size
    if w * h > MAX_QUERY_PIXELS:
        raise HTTPException(
            TOO_LARGE, f"image is {w}x{h} pixels; at most {MAX_QUERY_PIXELS // 1_000_000} megapixels"
        )
    return w, h


_EOI = b"\xff\xd9"


def _jpeg_scan_start(data: bytes) -> int | None:
    """Offset just past the first SOS segment header (``core.jpeg.segments``); None if malformed."""
    for marker, _, end in segments(data):
        if marker == SOS:
            return end if end <= len(data) else None
    return None


def jpeg_is_complete(data: bytes) -> bool:
    """True if a JPEG has its end-of-image marker after the first scan.

    Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so FFD9 there
    is the real end. A cut-off upload lacks it; older OpenCV decodes such a file "successfully",
    filling the missing part with grey, and that grey would become the query person. Data after
    the EOI (phones append videos to "motion photos") is fine.
    """
    start = _jpeg_scan_start(data)
    return start is not None and data.find(_EOI, start) >= 0


def decode_upload(data: bytes) -> NDArray[np.uint8]:
    """Check the header, then decode to BGR uint8. Raises HTTPException (4xx) on a bad image.

    The header check comes first, so OpenCV is never handed a file that claims more pixels
    than allowed (a decompression bomb); a cut-off JPEG is refused before decoding too.
    """
    check_header(data)
    if data.startswith(b"\xff\xd8\xff") and not jpeg_is_complete(data):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "the uploaded JPEG is truncated (no end-of-image marker); upload it again",
        )
    try:
        return decode_image(data, what="the uploaded file")
    except ImageError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
