"""What the end-to-end run under faults (tests/sandbox/stack/test_faults.py) found, pinned at the logic layer with
the in-memory fakes, so each bug is caught in milliseconds and not only when the seed and the threads line up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from functions.common.messages import RetryStart
from functions.common.models import VideoStatus
from functions.send_digest.logic import DigestOutcome, DigestRequest, send_digest
from functions.start_moderation.logic import StartOutcome, StartRun
from tests.digest_fakes import RecordingMailer, RecordingNotifier, digest_deps
from tests.fakes import FakeMedia, FakeModeration
from tests.helpers import NOW, video
from tests.unit.test_start_logic import start_world


def test_every_kicked_video_of_a_refused_batch_gives_its_claim_back() -> None:
    # Given two waiting videos, each claimed by a kick for a slot that another start took first
    media, rekognition = FakeMedia(), FakeModeration(max_jobs=0)
    world = start_world(media, rekognition)
    clips = [media.add(video(f"v{i}.mp4")) for i in range(2)]
    for clip in clips:
        StartRun(world).start(clip)
        assert world.store.claim_waiting(clip.video_id, NOW, 60)
    calls = rekognition.start_calls
    # When both kicks arrive in one batch: the first is refused, the second is not even tried
    run = StartRun(world)
    outcomes = [run.handle(RetryStart(clip, attempt=1, kicked=True)) for clip in clips]
    assert outcomes == [StartOutcome.QUEUED, StartOutcome.QUEUED] and rekognition.start_calls == calls + 1
    # Then both are claimable again at once (the untried one kept its claim, so fill passes skipped it for a minute)
    for clip in clips:
        record = world.store.get(clip.video_id)
        assert record is not None and record.status is VideoStatus.QUEUED and record.claimed_at is None


@dataclass
class FlakyMailer(RecordingMailer):
    """SES that refuses the first `failures` sends, as a run under faults may see after its last retry."""

    failures: int = 1

    def send(self, subject: str, html: str, text: str) -> str:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("TooManyRequestsException after the client's last attempt")
        return super().send(subject, html, text)


def test_a_run_retried_after_ses_failed_does_not_publish_the_sns_email_again() -> None:
    # Given SES failing once, after the run published the text digest to SNS
    notifier, mailer = RecordingNotifier(), FlakyMailer()
    deps = digest_deps(datetime(2026, 11, 21, 8, 0, tzinfo=UTC), notifier=notifier, mailer=mailer)
    with pytest.raises(RuntimeError):
        send_digest(DigestRequest(), deps)
    assert len(notifier.sent) == 1
    # When Lambda retries the run
    result = send_digest(DigestRequest(), deps)
    # Then the HTML email is sent, and SNS subscribers got one email, not one per run
    assert result.outcome is DigestOutcome.SENT
    assert len(notifier.sent) == 1 and len(mailer.sent) == 1
    assert result.details["sns_message_id"] == "sns-1"
    # And a forced resend still sends on both channels
    forced = send_digest(DigestRequest(day=date(2026, 11, 20), force=True), deps)
    assert forced.outcome is DigestOutcome.SENT and len(notifier.sent) == 2 and len(mailer.sent) == 2
