"""Recognising MP4 and MOV files by their first bytes: start_moderation skips anything else before paying for a
job, and `modlake upload` refuses it before uploading. Plain Python, so the CLI imports it without the Lambda's
layers."""

from __future__ import annotations

# ISO base media (MP4) and QuickTime (MOV) files start with one of these top-level boxes.
CONTAINER_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
SNIFF_BYTES = 12


def looks_like_mp4_or_mov(head: bytes) -> bool:
    """True when the bytes start like an ISO-BMFF/QuickTime file (box size + known box type)."""
    return len(head) >= 8 and head[4:8] in CONTAINER_BOXES
