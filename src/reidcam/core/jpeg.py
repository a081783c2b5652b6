"""Walking a JPEG's marker segments without decoding it (pure bytes, no image library).

Both an upload's completeness check and a broker crop's size check need it; walking the
segments (rather than searching for a marker's bytes) skips APP segments, whose EXIF thumbnail
is a whole JPEG of its own.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

SOS = 0xDA
#: Markers without a length field: TEM, RST0-7, SOI.
_BARE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
#: 0xC0-0xCF markers that are not a start of frame: DHT, JPG, DAC.
_NOT_SOF = frozenset({0xC4, 0xC8, 0xCC})


def segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of each segment after the SOI, up to and including the first
    SOS (``start``: its 0xFF; ``end``: just past its header, which may lie past the data when it
    is cut off). Stops at the first byte that is not a marker."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _BARE:
            i += 2
            continue
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        yield marker, i, end
        if marker == SOS:
            return
        i = end


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header; None when it has none before its scan."""
    if not data.startswith(b"\xff\xd8"):
        return None
    for marker, start, _ in segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in _NOT_SOF:
            if start + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[start + 5 : start + 9])
            return int(width), int(height)
    return None
