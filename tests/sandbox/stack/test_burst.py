"""A burst of 30 uploads against Rekognition's concurrent-job limit (set to 5): start_moderation queues what does
not fit, finished jobs hand their slot on, every video is moderated, nothing is dead-lettered, and Rekognition
never has more than 5 jobs at once."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from cli.videos import list_videos
from functions.common.models import VideoStatus
from sandbox.clips import Scene, write_clip
from sandbox.rekognition.classifier import CLEAN, WEAPONS, Finding, PaletteClassifier
from sandbox.rekognition.service import RekognitionSettings
from sandbox.stack.local_stack import SandboxSettings
from tests.sandbox.stack.pipeline import announced_stack

UPLOADS = 30
JOB_LIMIT = 5
SECONDS_PER_FRAME = 0.05  # jobs last long enough to overlap


class SlowPalette(PaletteClassifier):
    """The palette classifier at a model's pace, so jobs pile up against the limit."""

    name = "slow-palette"

    def classify(self, frame: np.ndarray) -> list[Finding]:
        time.sleep(SECONDS_PER_FRAME)
        return super().classify(frame)


def test_thirty_uploads_all_finish_under_a_limit_of_five_concurrent_jobs(tmp_path: Path) -> None:
    # Given a local stack whose Rekognition allows 5 concurrent jobs
    clip = write_clip(tmp_path / "clip.mp4", [Scene(1, CLEAN), Scene(1, WEAPONS)])
    files = []
    for n in range(UPLOADS):
        files.append(tmp_path / f"burst-{n:02d}.mp4")
        shutil.copyfile(clip, files[-1])
    settings = SandboxSettings(
        work_dir=tmp_path / "stack",
        classifier=SlowPalette(),
        rekognition=RekognitionSettings(max_concurrent_jobs=JOB_LIMIT),
        check_responses=True,
    )
    with announced_stack(tmp_path, settings) as sandbox:
        # When 30 videos are uploaded at once through the CLI
        result = sandbox.modlake("upload", *map(str, files), "--prefix", "burst/")
        assert result.exit_code == 0, result.output
        # Then every one of them is moderated
        deadline = time.monotonic() + 240
        while True:
            statuses = [r.status for r in list_videos(sandbox.target, limit=100)]
            if statuses.count(VideoStatus.SUCCEEDED) == UPLOADS or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert statuses.count(VideoStatus.SUCCEEDED) == UPLOADS, statuses
        # And the limit was reached but never exceeded, one job per video
        stats = sandbox.stack.rekognition.stats
        assert stats.max_in_progress_seen == JOB_LIMIT
        assert stats.jobs_started == UPLOADS
        # And nothing went to a dead-letter queue
        depths = sandbox.stack.queue_depths()
        dead_letters = {name: depth for name, depth in depths.items() if "dead-letter" in name}
        assert len(dead_letters) == 5 and not any(dead_letters.values()), dead_letters
