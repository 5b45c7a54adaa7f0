"""Generated clips, probing, frame sampling and analyze(): what the local Rekognition sees in a video file."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from sandbox.clips import Scene, write_benchmark_clip, write_clip
from sandbox.rekognition.classifier import (
    ALCOHOL,
    BLOOD_AND_WEAPONS,
    CLEAN,
    DEFAULT_PALETTE,
    LOW_CONFIDENCE,
    NUDITY,
    SMOKING_AND_DRINKING,
    SWIMWEAR,
    WEAPONS,
    Finding,
    ModerationLabel,
    PaletteClassifier,
    expand,
)
from sandbox.rekognition.video import (
    Analysis,
    FrameLabels,
    UnsupportedVideo,
    VideoProbe,
    analyze,
    probe,
    sample_frames,
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def grey_mp4(clips: Path) -> Path:
    """3 s of grey, 320x240 at 10 fps, H.264 in MP4: the plain case."""
    return write_clip(clips / "grey.mp4", [Scene(3.0, CLEAN)])


def mdat_payload(data: bytes) -> tuple[int, int]:
    """Start and end of the top-level `mdat` box's payload (the encoded frames) in an MP4 file."""
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"mdat":
            return offset + 8, offset + size
        offset += size
    raise AssertionError("no mdat box")


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


# --- write_clip ---------------------------------------------------------------------------------------


def test_write_clip_puts_each_scene_on_its_frames(clips: Path) -> None:
    # Given two scenes of 0.5 s at 10 fps
    path = write_clip(clips / "two.mp4", [Scene(0.5, NUDITY), Scene(0.5, WEAPONS)], width=160, height=120)

    # When every frame is decoded
    frames = decoded_frames(path)

    # Then frames 0-4 show the first colour and 5-9 the second (within H.264's rounding)
    assert len(frames) == 10
    assert all(frame.shape == (120, 160, 3) and frame.dtype == np.uint8 for frame in frames)
    means = [frame.reshape(-1, 3).mean(axis=0) for frame in frames]
    for index, mean in enumerate(means):
        expected = NUDITY if index < 5 else WEAPONS
        assert np.abs(mean - expected).max() < 4, (index, mean)


def test_textured_clip_moves_but_keeps_its_mean_colour(clips: Path) -> None:
    # Given a textured clip of one colour
    path = write_clip(clips / "textured.mp4", [Scene(0.5, ALCOHOL)], width=160, height=120, textured=True)

    # When decoded
    frames = decoded_frames(path)

    # Then every frame has detail (not flat), consecutive frames differ (the detail moves),
    # and each frame's mean stays close to the scene colour
    assert len(frames) == 5
    for frame in frames:
        assert frame.reshape(-1, 3).std(axis=0).min() > 3
        assert np.abs(frame.reshape(-1, 3).mean(axis=0) - ALCOHOL).max() < 6
    difference = np.abs(frames[0].astype(np.int16) - frames[1].astype(np.int16)).mean()
    assert difference > 2


def test_write_benchmark_clip_is_textured_h264(clips: Path) -> None:
    # Given a small benchmark-style clip
    path = write_benchmark_clip(clips / "bench.mp4", seconds=1, width=320, height=240, fps=10)

    # When probed and decoded
    video = probe(path)
    frames = decoded_frames(path)

    # Then it is H.264 of the asked length and size, with texture
    assert (video.codec, video.duration_ms, video.frame_width, video.frame_height) == ("h264", 1000, 320, 240)
    assert len(frames) == 10
    assert frames[0].reshape(-1, 3).std(axis=0).min() > 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 321}, "even width"),
        ({"scenes": []}, "at least one scene"),
        ({"scenes": [Scene(0.0, CLEAN)]}, "longer than 0"),
        ({"codec": "aac"}, "not a video encoder"),
    ],
)
def test_write_clip_rejects_what_it_cannot_encode(clips: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_clip(clips / "bad.mp4", **kwargs)  # type: ignore[arg-type]


# --- probe ------------------------------------------------------------------------------------------


def test_probe_reads_h264_mp4_metadata_as_rekognition_reports_it(grey_mp4: Path) -> None:
    # When the plain clip is probed
    video = probe(grey_mp4)

    # Then the header gives Rekognition's VideoMetadata
    assert video == VideoProbe(
        codec="h264",
        format="QuickTime / MOV",
        duration_ms=3000,
        frame_rate=10.0,
        frame_width=320,
        frame_height=240,
        color_range="LIMITED",
    )
    assert video.video_metadata() == {
        "Codec": "h264",
        "DurationMillis": 3000,
        "Format": "QuickTime / MOV",
        "FrameRate": 10.0,
        "FrameHeight": 240,
        "FrameWidth": 320,
        "ColorRange": "LIMITED",
    }


def test_probe_reads_mov_full_range_and_odd_sizes(clips: Path) -> None:
    # Given H.264 in a .mov, tagged full range, 25 fps, 1.2 s, 176x144
    path = write_clip(clips / "full.mov", [Scene(1.2, SWIMWEAR)], width=176, height=144, fps=25, full_range=True)

    # When probed
    video = probe(path)

    # Then
    assert video == VideoProbe("h264", "QuickTime / MOV", 1200, 25.0, 176, 144, "FULL")


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("mpeg4.mp4", "mpeg4"),  # MP4 container, but not H.264
        ("vp9.webm", "vp9"),  # neither
        ("h264.mkv", "h264"),  # H.264, but in Matroska
    ],
)
def test_probe_rejects_what_rekognition_rejects(clips: Path, name: str, codec: str) -> None:
    # Given a clip that decodes fine but is not H.264 in MP4/MOV
    path = write_clip(clips / name, [Scene(0.5, CLEAN)], codec=codec)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == codec  # the file is what the test says

    # When probed, then it is unsupported, with AWS's status message
    with pytest.raises(UnsupportedVideo) as raised:
        probe(path)
    assert raised.value.STATUS_MESSAGE == "Unsupported codec/format."


def test_probe_rejects_text_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)

    with pytest.raises(UnsupportedVideo):
        probe(path)


def test_probe_rejects_a_truncated_mp4(grey_mp4: Path, tmp_path: Path) -> None:
    # Given the first half of an MP4 whose index (moov) is at the end
    data = grey_mp4.read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(UnsupportedVideo):
        probe(path)


def test_probe_lets_a_missing_file_say_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "gone.mp4")


# --- sample_frames ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames_per_second", "timestamps"),
    [
        (2.0, [0, 500, 1000, 1500, 2000, 2500]),
        (1.0, [0, 1000, 2000]),
        # Sample times 0, 333.3, 666.7 ms, …: the first 10 fps frame at or after each
        (3.0, [0, 400, 700, 1000, 1400, 1700, 2000, 2400, 2700]),
        (0.4, [0, 2500]),
        # Faster than the video: every frame once
        (25.0, list(range(0, 3000, 100))),
    ],
)
def test_sample_frames_at_the_chosen_rate(grey_mp4: Path, frames_per_second: float, timestamps: list[int]) -> None:
    samples = list(sample_frames(grey_mp4, frames_per_second))

    assert [timestamp for timestamp, _ in samples] == timestamps
    for _, frame in samples:
        assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
        assert np.abs(frame.reshape(-1, 3).mean(axis=0) - CLEAN).max() < 4


def test_sample_frames_timestamps_follow_the_frames_pts(clips: Path) -> None:
    # Given 30 fps, where frames fall at 33.3 ms steps
    path = write_clip(clips / "thirty.mp4", [Scene(1.0, CLEAN)], width=64, height=48, fps=30)

    # When sampled 4 times a second (0, 250, 500, 750 ms)
    timestamps = [timestamp for timestamp, _ in sample_frames(path, 4.0)]

    # Then each sample is the first frame at or after that time, at the frame's own time, in ms
    assert timestamps == [0, 267, 500, 767]


def test_sample_frames_rejects_a_nonpositive_rate(grey_mp4: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        next(sample_frames(grey_mp4, 0))


def test_undecodable_frames_are_unsupported(grey_mp4: Path, tmp_path: Path) -> None:
    # Given an MP4 with an intact header whose encoded frames are overwritten with garbage
    data = bytearray(grey_mp4.read_bytes())
    start, end = mdat_payload(bytes(data))
    data[start:end] = b"\xff" * (end - start)
    path = tmp_path / "garbled.mp4"
    path.write_bytes(bytes(data))
    assert probe(path).codec == "h264"  # the header alone still looks fine

    # When the frames are decoded, then the video is unsupported (as analyze reports it)
    with pytest.raises(UnsupportedVideo):
        list(sample_frames(path, 2.0))
    with pytest.raises(UnsupportedVideo):
        analyze(path, PaletteClassifier())


# --- analyze ----------------------------------------------------------------------------------------

PALETTE_SCENES = (CLEAN, NUDITY, SWIMWEAR, WEAPONS, ALCOHOL, LOW_CONFIDENCE, BLOOD_AND_WEAPONS, SMOKING_AND_DRINKING)


@pytest.fixture(scope="module")
def palette_analysis(clips: Path) -> Analysis:
    """Each palette colour for 1 s, textured like footage, analysed at 2 frames per second."""
    path = write_clip(clips / "palette.mp4", [Scene(1.0, color) for color in PALETTE_SCENES], textured=True)
    return analyze(path, PaletteClassifier(), frames_per_second=2.0)


def test_analyze_samples_and_probes(palette_analysis: Analysis) -> None:
    assert palette_analysis.frames_sampled == 16
    assert palette_analysis.probe.duration_ms == 8000
    assert palette_analysis.probe.codec == "h264"


def test_analyze_labels_each_scene_at_its_timestamps(palette_analysis: Analysis) -> None:
    # Then the clean first second has no frames, and every later half second carries its scene's labels
    by_timestamp = {frame.timestamp_ms: frame.labels for frame in palette_analysis.frames}
    assert sorted(by_timestamp) == list(range(1000, 8000, 500))
    for second, color in enumerate(PALETTE_SCENES[1:], start=1):
        expected = expand(DEFAULT_PALETTE[color])
        assert by_timestamp[second * 1000] == expected, color
        assert by_timestamp[second * 1000 + 500] == expected, color


def test_analyze_reports_nudity_with_its_ancestors(palette_analysis: Analysis) -> None:
    nudity = next(frame for frame in palette_analysis.frames if frame.timestamp_ms == 1000)

    assert nudity == FrameLabels(
        1000,
        (
            ModerationLabel("Explicit", "", 1, 97.0),
            ModerationLabel("Explicit Nudity", "Explicit", 2, 97.0),
            ModerationLabel("Exposed Female Nipple", "Explicit Nudity", 3, 97.0),
        ),
    )


def test_analyze_keeps_low_confidence_labels_for_the_service_to_filter(palette_analysis: Analysis) -> None:
    low = next(frame for frame in palette_analysis.frames if frame.timestamp_ms == 5000)

    assert [(label.name, label.confidence) for label in low.labels] == [
        ("Explicit", 42.0),
        ("Explicit Nudity", 42.0),
        ("Exposed Male Genitalia", 42.0),
    ]


class FailingClassifier:
    """Raises on the third frame: a classifier's error must reach the caller, not vanish in a worker thread."""

    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, frame: np.ndarray) -> list[Finding]:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("model crashed")
        return []


def test_analyze_raises_a_classifier_error(grey_mp4: Path) -> None:
    with pytest.raises(RuntimeError, match="model crashed"):
        analyze(grey_mp4, FailingClassifier())


def test_analyze_rejects_unsupported_before_decoding(clips: Path) -> None:
    classifier = FailingClassifier()
    path = write_clip(clips / "reject.mp4", [Scene(0.5, CLEAN)], codec="mpeg4")

    with pytest.raises(UnsupportedVideo):
        analyze(path, classifier)
    assert classifier.calls == 0
