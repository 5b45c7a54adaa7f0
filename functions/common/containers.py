"""Recognising MP4 and MOV files by their first bytes: start_moderation skips anything else before paying for a
job, and `modlake upload` refuses it before uploading. The movie header (moov/mvhd) gives the duration from a few
ranged reads, without downloading the video. Plain Python, so the CLI imports it without the Lambda's layers."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# ISO base media (MP4) and QuickTime (MOV) files start with one of these top-level boxes.
CONTAINER_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
SNIFF_BYTES = 12

RangeReader = Callable[[int, int], bytes]
"""read(offset, length) -> up to `length` bytes at offset; fewer only at the object's end, b"" past it."""

_CHUNK_BYTES = 64 * 1024  # one read holds ftyp + moov of a faststart file, or all of a short clip's moov
_MAX_READS = 16  # a pathological file (many top-level boxes far apart) must not cost thousands of GETs
_BOX_HEADER = struct.Struct(">I4s")
_LARGESIZE = struct.Struct(">Q")
# (timescale, duration) after version/flags and the creation and modification times, by mvhd version
_MVHD_FIELDS = {0: struct.Struct(">4xIIII"), 1: struct.Struct(">4xQQIQ")}
# fragment_duration after version/flags, by mehd version
_MEHD_FIELDS = {0: struct.Struct(">4xI"), 1: struct.Struct(">4xQ")}
_UNKNOWN = {0: 0xFFFFFFFF, 1: 0xFFFFFFFFFFFFFFFF}  # a duration of all 1s (32 or 64 bits, by version) means unknown


def looks_like_mp4_or_mov(head: bytes) -> bool:
    """True when the bytes start like an ISO-BMFF/QuickTime file (box size + known box type)."""
    return len(head) >= 8 and head[4:8] in CONTAINER_BOXES


class NotAMovie(ValueError):
    """The bytes are not a readable MP4/MOV movie header; str(error) is the reason, written for an operator."""


@dataclass(frozen=True)
class MovieHeader:
    """What the movie header (moov/mvhd) says: duration in seconds (None when the header leaves it unknown, e.g. a fragmented file without mehd), timescale, the mvhd duration in timescale units, and how many reads it took."""  # noqa: E501

    seconds: float | None
    timescale: int
    duration_units: int
    reads: int


def read_movie_header(read: RangeReader, size: int) -> MovieHeader:
    """Find moov/mvhd by walking top-level boxes with ranged reads (moov may sit after mdat, at the end of the file)."""
    if size <= 0:
        raise NotAMovie("the file is empty (0 bytes), not an MP4 or MOV file")
    chunks = _Chunks(read, size)
    if not looks_like_mp4_or_mov(chunks.get(0, SNIFF_BYTES)):
        raise NotAMovie("not an MP4 or MOV file (no ISO-BMFF box header)")
    moov = next((box for box in _boxes(chunks, 0, size, None) if box.kind == b"moov"), None)
    if moov is None:
        raise NotAMovie("no moov box (movie header) in the file: an unfinished recording, or not a movie")
    movie: tuple[int, int, bool] | None = None  # mvhd's timescale, duration, and whether it is known
    mvex: _Box | None = None
    for child in _boxes(chunks, moov.body, moov.end, moov):
        if child.kind == b"mvhd" and movie is None:
            movie = _mvhd(chunks, child)
            if movie[2] and movie[1]:
                break  # a known duration: fragments (mvex) cannot change it, so read no further
        elif child.kind == b"mvex":
            mvex = child
    if movie is None:
        raise NotAMovie("the moov box has no mvhd (movie header box)")
    timescale, units, known = movie
    seconds = units / timescale if known and (units or mvex is None) else None
    if seconds is None and mvex is not None:
        fragments = _fragment_duration(chunks, mvex)
        seconds = None if fragments is None else fragments / timescale
    return MovieHeader(seconds=seconds, timescale=timescale, duration_units=units, reads=chunks.reads)


@dataclass(frozen=True)
class _Box:
    kind: bytes
    offset: int
    header: int  # bytes before the payload: 8, or 16 with a largesize
    size: int  # the whole box, header included

    @property
    def body(self) -> int:
        return self.offset + self.header

    @property
    def end(self) -> int:
        return self.offset + self.size


class _Chunks:
    """Ranged reads of _CHUNK_BYTES, at most _MAX_READS, never past the end; headers in the last chunk cost none."""

    def __init__(self, read: RangeReader, size: int) -> None:
        self.read = read
        self.size = size
        self.reads = 0
        self.start = 0
        self.data = b""

    def get(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset`, fewer only at the object's end."""
        length = max(0, min(length, self.size - offset))
        cached = offset - self.start
        if cached >= 0 and cached + length <= len(self.data):
            return self.data[cached : cached + length]
        if self.reads >= _MAX_READS:
            raise NotAMovie(f"gave up after {_MAX_READS} reads without finding the movie header (too many boxes)")
        wanted = min(max(length, _CHUNK_BYTES), self.size - offset)
        self.reads += 1
        data = self.read(offset, wanted)[:wanted]
        if len(data) < wanted:  # the object ends before its listed size
            raise NotAMovie(f"truncated file: only {len(data)} bytes at offset {offset} of a {self.size}-byte object")
        self.start, self.data = offset, data
        return data[:length]


def _boxes(chunks: _Chunks, start: int, end: int, parent: _Box | None) -> Iterator[_Box]:
    """The boxes from `start` to `end` (the object's, or a parent's payload), reading their headers only."""
    offset = start
    while offset < end:
        box = _box_at(chunks, offset, end, parent)
        yield box
        offset = box.end


def _box_at(chunks: _Chunks, offset: int, end: int, parent: _Box | None) -> _Box:
    """The box whose header is at `offset`, checked against the end of its parent (or of the object)."""
    where = f"at offset {offset}" + (f" in {_name(parent.kind)}" if parent else "")
    truncated = "truncated movie header" if parent else "truncated file"
    if offset + 8 > end:
        raise NotAMovie(f"{truncated}: the box header {where} is cut short")
    size, kind = _BOX_HEADER.unpack(chunks.get(offset, 8))
    header = 8
    if size == 1:  # a 64-bit largesize follows the type
        if offset + 16 > end:
            raise NotAMovie(f"{truncated}: the 64-bit size of box {_name(kind)} {where} is cut short")
        (size,) = _LARGESIZE.unpack(chunks.get(offset + 8, 8))
        header = 16
    elif size == 0:  # the box extends to the end of the file (or of its parent)
        size = end - offset
    if size < header:
        raise NotAMovie(f"corrupt box {_name(kind)} {where}: size {size} is smaller than its {header}-byte header")
    if offset + size > end:
        raise NotAMovie(f"{truncated}: box {_name(kind)} {where} claims {size} bytes but only {end - offset} remain")
    return _Box(kind, offset, header, size)


def _mvhd(chunks: _Chunks, mvhd: _Box) -> tuple[int, int, bool]:
    """(timescale, duration, whether the duration is known) of a version 0 or 1 mvhd."""
    payload = chunks.get(mvhd.body, min(mvhd.size - mvhd.header, _MVHD_FIELDS[1].size))
    version = payload[0] if payload else -1
    fields = _MVHD_FIELDS.get(version)
    if fields is None:
        raise NotAMovie(f"corrupt mvhd at offset {mvhd.offset}: unknown version {version}")
    if len(payload) < fields.size:
        raise NotAMovie(
            f"truncated movie header: mvhd version {version} at offset {mvhd.offset} needs {fields.size} bytes, "
            f"it has {len(payload)}"
        )
    *_, timescale, units = fields.unpack_from(payload)
    if timescale == 0:
        raise NotAMovie("the mvhd timescale is 0, so the duration cannot be converted to seconds")
    return int(timescale), int(units), units != _UNKNOWN[version]


def _fragment_duration(chunks: _Chunks, mvex: _Box) -> int | None:
    """mvex/mehd's fragment_duration, in the movie timescale; None when there is no mehd or it says unknown."""
    mehd = next((box for box in _boxes(chunks, mvex.body, mvex.end, mvex) if box.kind == b"mehd"), None)
    if mehd is None:
        return None
    payload = chunks.get(mehd.body, min(mehd.size - mehd.header, _MEHD_FIELDS[1].size))
    version = payload[0] if payload else -1
    fields = _MEHD_FIELDS.get(version)
    if fields is None or len(payload) < fields.size:
        raise NotAMovie(f"corrupt mehd at offset {mehd.offset}: version {version} with {len(payload)} bytes")
    (units,) = fields.unpack_from(payload)
    return None if units == _UNKNOWN[version] else int(units)


def _name(kind: bytes) -> str:
    """A box type for a message: its four characters when printable ASCII, else hex."""
    text = kind.decode("latin-1")
    return f"'{text}'" if text.isascii() and text.isprintable() else f"0x{kind.hex()}"
