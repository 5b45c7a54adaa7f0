"""One smoke run of the whole pipeline with the real model (NudeNet's ONNX detector from its wheel)."""

from __future__ import annotations

from pathlib import Path

from cli.videos import list_videos
from functions.common.models import VideoStatus
from sandbox.clips import Scene, write_clip
from sandbox.rekognition.classifier import CLEAN, NUDITY
from sandbox.stack.local_stack import SandboxSettings
from tests.sandbox.stack.pipeline import announced_stack


def test_a_clip_is_moderated_end_to_end_by_nudenet(tmp_path: Path) -> None:
    # Given the local stack with the real classifier, and a textured clip (the model sees shapes, not colours)
    clip = write_clip(tmp_path / "street.mp4", [Scene(1, CLEAN), Scene(1, NUDITY)], textured=True)
    settings = SandboxSettings(work_dir=tmp_path / "stack", classifier="nudenet", check_responses=True)
    with announced_stack(tmp_path, settings) as sandbox:
        # When it is uploaded through the CLI and the pipeline settles
        result = sandbox.modlake("upload", str(clip))
        assert result.exit_code == 0, result.output
        assert sandbox.stack.settle(timeout=150), sandbox.stack.queue_depths()
        # Then the model's job succeeded with the stream's real metadata, and the results were stored
        (record,) = list_videos(sandbox.target)
        assert record.status is VideoStatus.SUCCEEDED, record.status_reason
        assert record.summary is not None and record.metadata is not None
        assert record.metadata.codec == "h264" and record.model_version == "7.0"
        assert sandbox.table_rows("moderation_videos/")[0]["status"] == "SUCCEEDED"
        # Synthetic frames hold no people: the model finds nothing, so nothing is flagged
        assert not record.summary.flagged
