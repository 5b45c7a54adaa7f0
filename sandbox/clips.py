"""Synthetic video clips for tests, the demo and the benchmark, encoded offline with PyAV (its wheel ships libx264).

A clip is a run of scenes, each a stretch of frames of one solid colour, so a test can say which labels
the palette classifier must report at which timestamps. `textured=True` lays moving detail over the
colour so the encoder and decoder do the work real footage costs, while each frame's mean colour
stays close to its scene's colour.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange

from sandbox.rekognition.classifier import ALCOHOL, CLEAN, NUDITY, SWIMWEAR, WEAPONS

TEXTURE_AMPLITUDE = 20
"""How far (per channel, 0–255) the texture moves a pixel off its scene colour; keeps means within a palette's reach."""

TEXTURE_PIXELS_PER_FRAME = 4
"""How far the texture slides right each frame: motion the encoder must track, as in a panning shot."""

GRAIN_AMPLITUDE = 6
"""Per-frame sensor-like grain (±, 0–255) on textured clips: detail no motion vector predicts, as in real footage."""

_TEXTURE_BLOB_PIXELS = 8  # noise is drawn on a grid this coarse, then smoothed up: blobs, not snow
_GRAIN_PATTERNS = 7  # grain frames cycled through; more than the encoder's reference frames, so none repeats usefully


@dataclass(frozen=True)
class Scene:
    """A stretch of a clip showing one solid RGB colour for `seconds`."""

    seconds: float
    color: tuple[int, int, int]


def write_clip(
    path: Path,
    scenes: Sequence[Scene] = (Scene(2.0, (128, 128, 128)),),
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    codec: str = "h264",
    textured: bool = False,
    full_range: bool = False,
) -> Path:
    """Encode `scenes` into a yuv420p video at `path` (container from the suffix) so tests need no binary fixtures.

    `codec` is any encoder in the PyAV wheel ("h264", "mpeg4", "vp9", …): a non-H.264 clip is how a
    test makes a file Rekognition rejects. `full_range=True` tags the stream as full (JPEG) range.
    """
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs an even width and height, got {width}x{height}")
    if not scenes or any(scene.seconds <= 0 for scene in scenes):
        raise ValueError("a clip needs at least one scene, each longer than 0 seconds")
    color_range = ColorRange.JPEG if full_range else ColorRange.UNSPECIFIED
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        if not isinstance(stream, av.VideoStream):
            raise ValueError(f"{codec!r} is not a video encoder")
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if full_range:
            stream.codec_context.color_range = color_range
        for image in _scene_images(scenes, width, height, fps, textured):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_color_range=color_range)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# The demo's sample clips: scenes the deterministic palette classifier knows (sandbox/rekognition/classifier.py).
SAMPLE_CLIPS: dict[str, tuple[Scene, ...]] = {
    "beach-party.mp4": (Scene(2, CLEAN), Scene(2, SWIMWEAR), Scene(1, CLEAN), Scene(2, ALCOHOL), Scene(1, NUDITY)),
    "action-trailer.mp4": (Scene(3, CLEAN), Scene(2, WEAPONS), Scene(1, CLEAN)),
    "cooking-show.mp4": (Scene(4, CLEAN),),
}


def write_sample_clips(folder: Path) -> list[Path]:
    """Generate the demo's sample H.264 clips (nothing is downloaded); kept between runs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, scenes in SAMPLE_CLIPS.items():
        path = folder / name
        if not path.exists():
            write_clip(path, scenes)
        paths.append(path)
    return paths


def write_benchmark_clip(path: Path, seconds: int = 30, width: int = 1280, height: int = 720, fps: int = 30) -> Path:
    """A textured H.264 clip shaped like ordinary uploaded footage, for timing decode + classify."""
    palette = ((128, 128, 128), (96, 120, 150), (150, 110, 90), (110, 140, 100))
    scene_seconds = 5.0
    count = max(1, round(seconds / scene_seconds))
    scenes = [Scene(seconds / count, palette[i % len(palette)]) for i in range(count)]
    return write_clip(path, scenes, width=width, height=height, fps=fps, codec="h264", textured=True)


def _scene_images(scenes: Sequence[Scene], width: int, height: int, fps: int, textured: bool) -> Iterator[np.ndarray]:
    """Every frame of the clip as an RGB array; scene boundaries fall on the nearest frame to their time."""
    texture = _texture(width, height) if textured else None
    grains = _grains(width, height) if textured else []
    frame_index = 0
    elapsed = 0.0
    for scene in scenes:
        elapsed += scene.seconds
        last_frame = max(frame_index + 1, round(elapsed * fps))
        solid = np.empty((height, width, 3), dtype=np.int16)
        solid[:] = scene.color
        if texture is None:
            image = solid.astype(np.uint8)
            for _ in range(frame_index, last_frame):
                yield image
        else:
            # The texture is two copies side by side, so any window of `width` columns wraps around seamlessly.
            canvas = np.concatenate([solid, solid], axis=1) + texture[:, :, None]
            for index in range(frame_index, last_frame):
                offset = (index * TEXTURE_PIXELS_PER_FRAME) % width
                window = canvas[:, width - offset : 2 * width - offset] + grains[index % len(grains)]
                yield np.clip(window, 0, 255).astype(np.uint8)
        frame_index = last_frame


def _texture(width: int, height: int) -> np.ndarray:
    """Smooth zero-mean noise, tiled twice horizontally (height x 2·width), within ±TEXTURE_AMPLITUDE."""
    rng = np.random.default_rng(7)  # fixed seed: the same clip bytes every run
    coarse = rng.uniform(-1.0, 1.0, size=(height // _TEXTURE_BLOB_PIXELS + 1, width // _TEXTURE_BLOB_PIXELS + 1))
    smooth = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    centred = smooth - smooth.mean()
    scaled = centred * (TEXTURE_AMPLITUDE / max(float(np.abs(centred).max()), 1e-6))
    tile = np.rint(scaled).astype(np.int16)
    return np.concatenate([tile, tile], axis=1)


def _grains(width: int, height: int) -> list[np.ndarray]:
    """A few frames of zero-mean grain (height x width x 1, within ±GRAIN_AMPLITUDE), cycled over the clip."""
    rng = np.random.default_rng(11)
    return [
        rng.integers(-GRAIN_AMPLITUDE, GRAIN_AMPLITUDE + 1, size=(height, width, 1), dtype=np.int16)
        for _ in range(_GRAIN_PATTERNS)
    ]
