"""The movie header reader: real PyAV clips (moov first and last, MP4 and MOV) and synthesized edge cases."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from functions.common.containers import MovieHeader, NotAMovie, read_movie_header

FPS = 10
CHUNK = 64 * 1024  # the reader's first read: 64 KiB at offset 0
FTYP = b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom"


class RecordingFile:
    """A RangeReader over bytes that records each read and fails the test on a read past the object's end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length > 0 and offset + length <= len(self.data), f"read({offset}, {length}) past end"
        self.calls.append((offset, length))
        return self.data[offset : offset + length]


class SparseFile:
    """A RangeReader over a huge object that is zeros except for a few pieces, so no test allocates gigabytes."""

    def __init__(self, size: int, pieces: dict[int, bytes]) -> None:
        self.size = size
        self.pieces = pieces
        self.calls: list[tuple[int, int]] = []

    def __call__(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length > 0 and offset + length <= self.size, f"read({offset}, {length}) past end"
        self.calls.append((offset, length))
        out = bytearray(length)
        for start, piece in self.pieces.items():
            low, high = max(start, offset), min(start + len(piece), offset + length)
            if low < high:
                out[low - offset : high - offset] = piece[low - start : high - start]
        return bytes(out)


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(version: int, timescale: int, duration: int) -> bytes:
    """An mvhd box with the fields the reader uses and the rest (rate, volume, matrix, next track) zeroed."""
    if version == 0:
        fields = struct.pack(">B3xIIII", 0, 1, 2, timescale, duration)
    else:
        fields = struct.pack(">B3xQQIQ", 1, 1, 2, timescale, duration)
    return box(b"mvhd", fields + bytes(80))


def mehd(version: int, units: int) -> bytes:
    return box(b"mehd", struct.pack(">B3xI" if version == 0 else ">B3xQ", version, units))


def read_bytes(data: bytes) -> MovieHeader:
    return read_movie_header(RecordingFile(data), len(data))


def write_clip(path: Path, container_format: str, *, seconds: int, movflags: str = "") -> bytes:
    """A 96x96 H.264 clip of noise (so it outgrows the first 64 KiB read) and its bytes; moov last unless movflags."""
    options = {"movflags": movflags} if movflags else {}
    rng = np.random.default_rng(3)
    with av.open(str(path), "w", format=container_format, options=options) as container:
        stream = container.add_stream("h264", rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width = stream.height = 96
        stream.pix_fmt = "yuv420p"
        for _ in range(seconds * FPS):
            image = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path.read_bytes()


def pyav_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return float(container.duration / av.time_base)


def moov_offset(data: bytes) -> int:
    """Where the moov box starts (found by its type, independently of the reader)."""
    assert data.count(b"moov") == 1
    return data.index(b"moov") - 4


@pytest.mark.parametrize(
    ("container_format", "seconds"),
    [("mp4", 2), ("mp4", 3), ("mov", 2), ("mov", 4)],
)
def test_moov_first_needs_one_read(tmp_path: Path, container_format: str, seconds: int) -> None:
    # Given a faststart clip (moov before mdat) bigger than one read
    path = tmp_path / f"clip.{container_format}"
    data = write_clip(path, container_format, seconds=seconds, movflags="faststart")
    assert len(data) > CHUNK and moov_offset(data) < data.index(b"mdat")
    reader = RecordingFile(data)
    # When its movie header is read
    header = read_movie_header(reader, len(data))
    # Then the duration is the clip's, as PyAV reports it within a frame, from the first 64 KiB alone
    assert header.seconds == seconds
    assert abs(header.seconds - pyav_seconds(path)) <= 1 / FPS
    assert (header.timescale, header.duration_units) == (1000, seconds * 1000)
    assert header.reads == 1 and reader.calls == [(0, CHUNK)]


@pytest.mark.parametrize(
    ("container_format", "seconds"),
    [("mp4", 2), ("mp4", 3), ("mov", 2), ("mov", 4)],
)
def test_moov_at_the_end_needs_two_reads_and_skips_mdat(tmp_path: Path, container_format: str, seconds: int) -> None:
    # Given a clip as ffmpeg writes it by default: moov after an mdat bigger than one read
    path = tmp_path / f"clip.{container_format}"
    data = write_clip(path, container_format, seconds=seconds)
    moov = moov_offset(data)
    assert moov > data.index(b"mdat") + CHUNK
    reader = RecordingFile(data)
    # When its movie header is read
    header = read_movie_header(reader, len(data))
    # Then the duration matches PyAV's, read from the start and from moov onwards, never from mdat's payload
    assert header.seconds == seconds
    assert abs(header.seconds - pyav_seconds(path)) <= 1 / FPS
    assert header.duration_units == seconds * 1000
    assert header.reads == 2 and reader.calls == [(0, CHUNK), (moov, len(data) - moov)]


def test_a_fragmented_clip_without_mehd_has_an_unknown_duration(tmp_path: Path) -> None:
    # Given a fragmented MP4 as ffmpeg writes it for streaming: an empty moov with mvex, duration 0, no mehd
    data = write_clip(tmp_path / "clip.mp4", "mp4", seconds=2, movflags="frag_keyframe+empty_moov")
    assert b"mvex" in data and b"mehd" not in data
    # When its movie header is read
    header = read_bytes(data)
    # Then the header says nothing about the duration
    assert (header.seconds, header.duration_units, header.timescale) == (None, 0, 1000)


@pytest.mark.parametrize(
    ("cut", "box_name"),
    [
        pytest.param(lambda moov: moov - 1000, "'mdat'", id="inside-mdat"),
        pytest.param(lambda moov: moov + 60, "'moov'", id="inside-mvhd"),
        pytest.param(lambda moov: moov + 500, "'moov'", id="inside-moov"),
    ],
)
def test_a_clip_cut_short_is_truncated(tmp_path: Path, cut: Callable[[int], int], box_name: str) -> None:
    # Given a moov-at-the-end clip whose upload stopped before or inside its moov box
    data = write_clip(tmp_path / "clip.mp4", "mp4", seconds=2)
    partial = data[: cut(moov_offset(data))]
    # When its movie header is read
    with pytest.raises(NotAMovie, match="^truncated file: ") as error:
        read_bytes(partial)
    # Then the reason names the box that claims more bytes than the object has
    assert f"box {box_name} at offset " in str(error.value)


def test_a_clip_cut_exactly_before_moov_has_no_moov(tmp_path: Path) -> None:
    # Given a moov-at-the-end clip cut where its moov box starts, so every box left is whole
    data = write_clip(tmp_path / "clip.mp4", "mp4", seconds=2)
    partial = data[: moov_offset(data)]
    # When its movie header is read
    # Then the reason is the missing moov
    with pytest.raises(NotAMovie, match="^no moov box"):
        read_bytes(partial)


def test_an_object_shorter_than_its_listed_size_is_truncated() -> None:
    # Given a listing that says 2 MB while the reads return only the first kilobyte
    data = FTYP + box(b"mdat", bytes(1000))
    # When the movie header is read
    # Then the short read is reported as truncation, not as a missing moov
    with pytest.raises(NotAMovie, match="^truncated file: only 1028 bytes at offset 0 of a 2000000-byte object$"):
        read_movie_header(lambda offset, length: data[offset : offset + length], 2_000_000)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00@\x00\x00\x00@\x08\x06\x00\x00\x00", id="png"),
        pytest.param(b"This is a text file renamed to .mp4\n" * 4, id="text"),
        pytest.param(b"\x00\x00\x00", id="three-bytes"),
    ],
)
def test_a_non_video_has_no_iso_bmff_box_header(data: bytes) -> None:
    # Given bytes that do not start with an ISO-BMFF box
    reader = RecordingFile(data)
    # When the movie header is read
    with pytest.raises(NotAMovie) as error:
        read_movie_header(reader, len(data))
    # Then the reason is start_moderation's, after a single read
    assert str(error.value) == "not an MP4 or MOV file (no ISO-BMFF box header)"
    assert len(reader.calls) == 1


def test_an_empty_file_costs_no_read() -> None:
    # Given an empty object
    reader = RecordingFile(b"")
    # When its movie header is read
    with pytest.raises(NotAMovie, match="empty") as error:
        read_movie_header(reader, 0)
    # Then it is reported as empty without a GET
    assert "0 bytes" in str(error.value) and reader.calls == []


def test_a_64_bit_largesize_mdat_is_skipped_to_the_moov_after_it() -> None:
    # Given a 5 GiB file whose mdat has a 64-bit largesize and whose moov sits after it
    moov = box(b"moov", mvhd(0, 600, 600 * 1800))
    mdat_size = 5 * 2**30
    mdat_header = struct.pack(">I4sQ", 1, b"mdat", mdat_size)
    moov_at = len(FTYP) + mdat_size
    reader = SparseFile(moov_at + len(moov), {0: FTYP + mdat_header, moov_at: moov})
    # When its movie header is read
    header = read_movie_header(reader, reader.size)
    # Then the duration is found with two reads, none inside the mdat payload
    assert header == MovieHeader(seconds=1800.0, timescale=600, duration_units=600 * 1800, reads=2)
    assert reader.calls == [(0, CHUNK), (moov_at, len(moov))]


def test_a_box_header_inside_the_last_chunk_costs_no_read() -> None:
    # Given a moov after a 100 KB mdat, followed by free space, with mvhd after the track and user data
    moov = box(b"moov", box(b"trak", bytes(300)) + box(b"udta", bytes(40)) + mvhd(0, 1000, 12_345))
    data = FTYP + box(b"mdat", bytes(100_000)) + box(b"free", bytes(16)) + moov
    # When its movie header is read
    header = read_bytes(data)
    # Then free, moov and all moov's children come out of the second read
    assert (header.seconds, header.reads) == (12.345, 2)


@pytest.mark.parametrize(
    ("version", "timescale", "units", "seconds"),
    [
        (1, 90_000, 675_000, 7.5),
        (1, 90_000, 90_000 * 50_000, 50_000.0),  # more units than 32 bits hold
        (0, 48_000, 48_000 * 3, 3.0),
    ],
)
def test_mvhd_versions_0_and_1(version: int, timescale: int, units: int, seconds: float) -> None:
    # Given a faststart file whose mvhd has this version
    data = FTYP + box(b"moov", mvhd(version, timescale, units)) + box(b"mdat", bytes(64))
    # When its movie header is read
    header = read_bytes(data)
    # Then its timescale and duration are read at the version's offsets
    assert header == MovieHeader(seconds=seconds, timescale=timescale, duration_units=units, reads=1)


@pytest.mark.parametrize(
    ("mvhd_units", "mvex", "seconds"),
    [
        pytest.param(0, box(b"mvex", box(b"trex", bytes(24)) + mehd(0, 25_000)), 25.0, id="mehd-v0"),
        pytest.param(0, box(b"mvex", mehd(1, 2**33)), 2**33 / 1000, id="mehd-v1"),
        pytest.param(0xFFFFFFFF, box(b"mvex", mehd(0, 4_000)), 4.0, id="unknown-mvhd-mehd"),
        pytest.param(0, box(b"mvex", box(b"trex", bytes(24))), None, id="no-mehd"),
        pytest.param(0, box(b"mvex", mehd(0, 0xFFFFFFFF)), None, id="unknown-mehd"),
        pytest.param(0xFFFFFFFF, b"", None, id="unknown-no-mvex"),
        pytest.param(0, b"", 0.0, id="empty-movie"),
    ],
)
def test_fragmented_durations_come_from_mehd(mvhd_units: int, mvex: bytes, seconds: float | None) -> None:
    # Given a moov whose mvhd duration is 0 or unknown, with or without mvex/mehd after the track
    moov = box(b"moov", mvhd(0, 1000, mvhd_units) + box(b"trak", bytes(200)) + mvex)
    data = FTYP + moov + box(b"moof", bytes(32)) + box(b"mdat", bytes(64))
    # When its movie header is read
    header = read_bytes(data)
    # Then seconds come from mehd in the movie timescale, or are unknown; the units stay mvhd's
    assert (header.seconds, header.duration_units) == (seconds, mvhd_units)


def test_reads_are_capped() -> None:
    # Given 40 free boxes, each bigger than a read, before the moov
    free = 100_000
    pieces = {0: FTYP}
    for index in range(40):
        pieces[len(FTYP) + index * free] = struct.pack(">I4s", free, b"free")
    moov_at = len(FTYP) + 40 * free
    pieces[moov_at] = box(b"moov", mvhd(0, 1000, 1000))
    reader = SparseFile(moov_at + len(pieces[moov_at]), pieces)
    # When the movie header is read
    with pytest.raises(NotAMovie, match="^gave up after 16 reads without finding the movie header"):
        read_movie_header(reader, reader.size)
    # Then it stopped at 16 GETs
    assert len(reader.calls) == 16


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(FTYP + box(b"mdat", bytes(64)), "^no moov box", id="no-moov"),
        pytest.param(FTYP + box(b"moov", box(b"trak", bytes(64))), "^the moov box has no mvhd", id="no-mvhd"),
        pytest.param(FTYP + box(b"moov", mvhd(0, 0, 1000)), "^the mvhd timescale is 0", id="timescale-0"),
        pytest.param(
            FTYP + struct.pack(">I4s", 4, b"free") + bytes(64),
            "^corrupt box 'free' at offset 20: size 4 is smaller than its 8-byte header$",
            id="box-smaller-than-header",
        ),
        pytest.param(
            FTYP + struct.pack(">I4sQ", 1, b"mdat", 12) + bytes(64),
            "^corrupt box 'mdat' at offset 20: size 12 is smaller than its 16-byte header$",
            id="largesize-smaller-than-header",
        ),
        pytest.param(
            FTYP + box(b"moov", box(b"mvhd", bytes([0]) + bytes(10))),
            "^truncated movie header: mvhd version 0 at offset 28 needs 20 bytes, it has 11$",
            id="mvhd-cut-short",
        ),
        pytest.param(
            FTYP + box(b"moov", struct.pack(">I4s", 500, b"trak")),
            "^truncated movie header: box 'trak' at offset 28 in 'moov' claims 500 bytes but only 8 remain$",
            id="child-past-moov",
        ),
        pytest.param(
            FTYP + struct.pack(">I4s", 73, b"mdat") + bytes(64),
            "^truncated file: box 'mdat' at offset 20 claims 73 bytes but only 72 remain$",
            id="one-byte-short",
        ),
        pytest.param(FTYP + b"\x00\x00\x00", "^truncated file: the box header at offset 20 is cut short$", id="stub"),
    ],
)
def test_each_unreadable_header_has_its_own_reason(data: bytes, reason: str) -> None:
    # Given a file that starts like an MP4 but whose movie header cannot be read
    # When its movie header is read
    # Then the reason says what is wrong
    with pytest.raises(NotAMovie, match=reason):
        read_bytes(data)


def test_a_box_to_the_end_of_the_file_ends_the_walk() -> None:
    # Given a moov whose size is 0 ("to the end of the file") after an mdat
    moov = mvhd(0, 1000, 2_500)
    data = FTYP + box(b"mdat", bytes(70_000)) + struct.pack(">I4s", 0, b"moov") + moov
    # When its movie header is read
    header = read_bytes(data)
    # Then moov spans the rest of the file and its mvhd is read
    assert (header.seconds, header.reads) == (2.5, 2)
