"""Decode a stored video the way Rekognition Video accepts it, sample frames, and label them with a classifier.

Rekognition Video takes H.264 in an MP4 or MOV (QuickTime) container and fails the job with
StatusMessage "Unsupported codec/format." otherwise; `probe` applies the same rule from the container
header alone. `sample_frames` decodes with PyAV and converts to RGB only the frames it samples, since
the conversion costs more than decoding. `analyze` ties probe, sampling, classification and the
taxonomy together; filtering by MinConfidence is the service's job, not this module's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange

from sandbox.rekognition.classifier import Finding, FrameClassifier, ModerationLabel, expand

SUPPORTED_CODEC = "h264"
SUPPORTED_CONTAINERS = frozenset({"mov", "mp4"})
"""FFmpeg demuxer names Rekognition accepts; FFmpeg's mov demuxer ("mov,mp4,m4a,3gp,3g2,mj2") reads both."""

CLASSIFY_AHEAD = 4
"""Decoded frames allowed to wait for the classifier: enough to keep it busy, few enough to bound memory."""


class UnsupportedVideo(Exception):
    """The file is not H.264 video in an MP4/MOV container, or cannot be decoded: the job fails as on AWS."""

    STATUS_MESSAGE = "Unsupported codec/format."
    """The StatusMessage AWS gives a job whose video it cannot read."""


@dataclass(frozen=True)
class VideoProbe:
    """What the container header says about the video stream, i.e. what Rekognition reports as VideoMetadata."""

    codec: str
    format: str
    duration_ms: int
    frame_rate: float
    frame_width: int
    frame_height: int
    color_range: str

    def video_metadata(self) -> dict[str, Any]:
        """Rekognition's VideoMetadata structure for this video (as in GetContentModeration)."""
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms,
            "Format": self.format,
            "FrameRate": self.frame_rate,
            "FrameHeight": self.frame_height,
            "FrameWidth": self.frame_width,
            "ColorRange": self.color_range,
        }


@dataclass(frozen=True)
class FrameLabels:
    """The moderation labels (with ancestors) found in the frame shown at `timestamp_ms`."""

    timestamp_ms: int
    labels: tuple[ModerationLabel, ...]


@dataclass(frozen=True)
class Analysis:
    """A video's probe and its labelled frames (only frames with at least one label), plus how many were sampled."""

    probe: VideoProbe
    frames: tuple[FrameLabels, ...]
    frames_sampled: int


def probe(path: Path) -> VideoProbe:
    """Read the container header (no decoding) and reject what Rekognition rejects with UnsupportedVideo.

    A missing or unreadable file raises the OSError it is (that is not the video's fault).
    """
    try:
        with av.open(str(path)) as container:
            demuxers = set(container.format.name.split(","))
            if not container.streams.video:
                raise UnsupportedVideo(f"{path.name}: no video stream")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec != SUPPORTED_CODEC or not demuxers & SUPPORTED_CONTAINERS:
                raise UnsupportedVideo(
                    f"{path.name}: {codec} in {container.format.long_name}; Rekognition needs H.264 in MP4/MOV"
                )
            if stream.duration is not None and stream.time_base is not None:
                duration_ms = round(stream.duration * stream.time_base * 1000)
            elif container.duration is not None:
                duration_ms = round(container.duration / 1000)  # container duration is in microseconds
            else:
                raise UnsupportedVideo(f"{path.name}: no duration in the header")
            rate = stream.average_rate or stream.guessed_rate
            width, height = stream.codec_context.width, stream.codec_context.height
            if not rate or not width or not height:
                raise UnsupportedVideo(f"{path.name}: no frame rate or frame size in the header")
            full_range = stream.codec_context.color_range == ColorRange.JPEG or (
                stream.codec_context.format is not None and stream.codec_context.format.name.startswith("yuvj")
            )
            return VideoProbe(
                codec=codec,
                format=container.format.long_name,
                duration_ms=duration_ms,
                frame_rate=float(rate),
                frame_width=width,
                frame_height=height,
                color_range="FULL" if full_range else "LIMITED",
            )
    except OSError:
        raise
    except av.FFmpegError as error:
        raise UnsupportedVideo(f"{path.name}: {error}") from error


def sample_frames(path: Path, frames_per_second: float) -> Generator[tuple[int, np.ndarray], None, None]:
    """Yield (timestamp in ms, RGB uint8 frame) for the first decoded frame at or after each sample time.

    Sample times are 0, 1/fps, 2/fps, … seconds from the stream's start; a timestamp is the chosen
    frame's own presentation time (pts), so it falls on the video's frame grid. Only sampled frames are
    converted to arrays. A decoding error anywhere raises UnsupportedVideo.
    """
    if not frames_per_second > 0:
        raise ValueError(f"frames_per_second must be positive, got {frames_per_second}")
    rate = Fraction(frames_per_second).limit_denominator(1_000_000)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnsupportedVideo(f"{path.name}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads: decoding, not conversion, is most of the wall time
            time_base = stream.time_base or Fraction(1, 1)
            start = stream.start_time or 0
            last_sample = -1
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                seconds = (frame.pts - start) * time_base
                sample = math.floor(seconds * rate)
                if seconds < 0 or sample <= last_sample:
                    continue
                last_sample = sample
                yield round(seconds * 1000), frame.to_ndarray(format="rgb24")
    except OSError:
        raise
    except av.FFmpegError as error:
        raise UnsupportedVideo(f"{path.name}: {error}") from error


def analyze(path: Path, classifier: FrameClassifier, frames_per_second: float = 2.0) -> Analysis:
    """Probe the video, classify the sampled frames and expand each frame's findings into Rekognition labels.

    One worker thread classifies while this thread decodes the next frames (at most CLASSIFY_AHEAD
    frames wait), so decoding and inference overlap instead of taking turns.
    """
    video = probe(path)
    labelled: list[FrameLabels] = []
    sampled = 0
    pending: deque[tuple[int, Future[list[Finding]]]] = deque()

    def settle_oldest() -> None:
        timestamp_ms, findings = pending.popleft()
        labels = expand(findings.result())
        if labels:
            labelled.append(FrameLabels(timestamp_ms, labels))

    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify") as pool,
        closing(sample_frames(path, frames_per_second)) as frames,
    ):
        for timestamp_ms, frame in frames:
            sampled += 1
            pending.append((timestamp_ms, pool.submit(classifier.classify, frame)))
            if len(pending) > CLASSIFY_AHEAD:
                settle_oldest()
        while pending:
            settle_oldest()
    if sampled == 0:
        raise UnsupportedVideo(f"{path.name}: no frame could be decoded")
    return Analysis(probe=video, frames=tuple(labelled), frames_sampled=sampled)
