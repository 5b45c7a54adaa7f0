"""End to end through the `modlake` CLI on the local stack (deterministic palette classifier): clean and flagged
clips, a job that fails, an object that is not a video, a duplicate upload and a key with spaces and unicode,
checked in DynamoDB, the Parquet lake, Athena and the digest; then every AWS call the functions made is held
against their IAM policies in the synthesized template."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from botocore.credentials import Credentials
from typer.testing import Result

from cli.target import LOCAL_ACCESS_KEY
from cli.videos import find_videos, list_videos
from functions.common.adapters.clients import LOCAL_SECRET_KEY
from functions.common.models import VideoRecord, VideoStatus
from sandbox.clips import Scene, write_clip
from sandbox.rekognition.classifier import CLEAN, NUDITY, WEAPONS
from sandbox.stack.local_stack import SandboxSettings
from tests.sandbox.endpoint_clients import signed_call
from tests.sandbox.stack.pipeline import (
    AnnouncedStack,
    GrantLedger,
    announced_stack,
    calls_by_principal,
    denied_calls,
    json_output,
)

PREFIX = "uploads/été 2026/"  # a space and non-ASCII letters in every key
FLAGGED, CLEAN_CLIP, BROKEN = f"{PREFIX}flagged reel.mp4", f"{PREFIX}clean.mp4", f"{PREFIX}broken.mp4"
NOT_A_VIDEO, IGNORED = f"{PREFIX}notes.mp4", f"{PREFIX}readme.txt"
DIGEST_SENDER, DIGEST_RECIPIENT = "digest@mail.example.com", "safety-team@example.com"
ALERT_RECIPIENT = "on-call@example.com"
SUBSCRIBERS = ("digest-subscriber", "alerts-subscriber")  # the tests' own queues on the topics


@dataclass
class Run:
    sandbox: AnnouncedStack
    uploads: list[Result]
    digest: Result
    digest_topic_queue: str
    alerts_topic_queue: str
    today: str
    review: dict[str, Any] = field(default_factory=dict)  # the review API's answers and CLI results, by step

    def videos(self) -> dict[str, list[VideoRecord]]:
        return run_videos(self.sandbox)


def run_videos(sandbox: AnnouncedStack) -> dict[str, list[VideoRecord]]:
    """The stack's videos by key, as `modlake status` reads them."""
    by_key: dict[str, list[VideoRecord]] = defaultdict(list)
    for record in list_videos(sandbox.target, limit=100):
        by_key[record.video.key].append(record)
    return by_key


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, grant_ledger: GrantLedger) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("pipeline")
    clips = work / "clips"
    clips.mkdir()
    write_clip(clips / "flagged reel.mp4", [Scene(1, CLEAN), Scene(1, NUDITY), Scene(1, WEAPONS)])
    write_clip(clips / "clean.mp4", [Scene(2, CLEAN)])
    write_clip(clips / "broken.mp4", [Scene(1, CLEAN)], codec="mpeg4")  # an MP4 Rekognition cannot decode
    today = datetime.now(UTC).date().isoformat()
    # The digest also goes out as HTML through SES (so its SES permission is exercised too), and alerts are on
    settings = SandboxSettings(
        work_dir=work / "stack",
        check_responses=True,
        record_calls=True,
        context={
            "digest_emails": [DIGEST_RECIPIENT],
            "digest_sender": DIGEST_SENDER,
            "alert_emails": [ALERT_RECIPIENT],
            "alert_threshold": 90,
        },
    )
    with announced_stack(work, settings) as sandbox:
        digest_queue = sandbox.subscribe_queue(sandbox.stack.outputs["DigestTopicArn"], "digest-subscriber")
        alerts_queue = sandbox.subscribe_queue(sandbox.stack.outputs["AlertsTopicArn"], "alerts-subscriber")
        # Given uploads through the CLI: three clips, then the flagged one again (a second version)
        uploads = [
            sandbox.modlake(
                "upload", *(str(clips / n) for n in ("flagged reel.mp4", "clean.mp4", "broken.mp4")), "--prefix", PREFIX
            ),
            sandbox.modlake("upload", str(clips / "flagged reel.mp4"), "--prefix", PREFIX),
        ]
        # And objects another uploader wrote: an .mp4 that is text, and a .txt the rules ignore
        s3 = sandbox.stack.client("s3")
        bucket = sandbox.stack.outputs["MediaBucketName"]
        s3.put_object(Bucket=bucket, Key=NOT_A_VIDEO, Body=b"meeting notes, not a video")
        s3.put_object(Bucket=bucket, Key=IGNORED, Body=b"read me")
        # When the pipeline has finished
        assert sandbox.stack.settle(timeout=150), sandbox.stack.queue_depths()
        # And the review API read through its function URL by the operator, signed as an application signs it
        api, operator = sandbox.stack.outputs["ReviewApiUrl"], Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
        query = urlencode({"bucket": sandbox.stack.outputs["MediaBucketName"], "key": FLAGGED}, quote_via=quote)
        review = {
            "queue": signed_call(api + "review-queue", operator),
            "video": signed_call(f"{api}videos?{query}", operator),
        }
        # And verdicts: the newest flagged version confirmed through the CLI, the older one overturned through the
        # signed API by an application (and its request replayed), an unsigned verdict refused
        _newer, older = find_videos(sandbox.target, FLAGGED)  # newest upload first, as `modlake review` picks
        verdicts = api + f"videos/{older.video.video_id}/verdicts"
        overturn = json.dumps({"verdict": "overturned", "note": "a painting", "request_id": "app-req-0001"}).encode()
        review |= {
            "cli": sandbox.modlake("review", FLAGGED, "--confirm", "--note", "nudity, as flagged"),
            "post": signed_call(verdicts, operator, method="POST", body=overturn),
            "replay": signed_call(verdicts, operator, method="POST", body=overturn),
            "unsigned": signed_call(verdicts, None, method="POST", body=overturn),
            "queue_after": sandbox.modlake("review"),
        }
        # And today's digest is sent, its review line counting those verdicts
        digest = sandbox.modlake("digest", "--date", today)
        yield Run(sandbox, uploads, digest, digest_queue, alerts_queue, today, review)
        grant_ledger.record("pipeline", sandbox.stack)  # after this module's tests, whose CLI calls count too


def test_the_cli_uploaded_every_clip_under_the_unicode_prefix(run: Run) -> None:
    for result in run.uploads:
        assert result.exit_code == 0, result.output
    assert FLAGGED in run.uploads[0].stdout
    assert CLEAN_CLIP in run.uploads[0].stdout


def test_each_upload_reached_its_outcome_in_dynamodb(run: Run) -> None:
    videos = run.videos()
    # Then both versions of the flagged clip were moderated and flagged at the nudity scene's confidence
    assert [r.status for r in videos[FLAGGED]] == [VideoStatus.SUCCEEDED] * 2
    assert all(r.summary is not None and r.summary.flagged for r in videos[FLAGGED])
    assert {r.summary.max_confidence for r in videos[FLAGGED] if r.summary} == {97.0}
    # And the clean clip was moderated and not flagged
    (clean,) = videos[CLEAN_CLIP]
    assert clean.status is VideoStatus.SUCCEEDED and clean.summary is not None and not clean.summary.flagged
    # And the undecodable MP4 failed with Rekognition's reason, the text file was skipped before any job
    (broken,) = videos[BROKEN]
    assert broken.status is VideoStatus.FAILED and "Unsupported codec/format" in str(broken.status_reason)
    (notes,) = videos[NOT_A_VIDEO]
    assert notes.status is VideoStatus.SKIPPED and "not an MP4 or MOV" in str(notes.status_reason)
    # And the .txt never reached the pipeline
    assert IGNORED not in videos


def test_a_duplicate_upload_is_a_second_video_with_its_own_job(run: Run) -> None:
    first, second = run.videos()[FLAGGED]
    assert first.video.version_id != second.video.version_id
    assert first.job_id and second.job_id and first.job_id != second.job_id
    # Rekognition ran one job per moderated upload: two flagged versions, the clean clip and the broken one
    assert run.sandbox.stack.rekognition.stats.jobs_started == 4


def test_the_parquet_lake_has_a_row_per_video_and_per_detection(run: Run) -> None:
    videos = run.sandbox.table_rows("moderation_videos/")
    by_key = defaultdict(list)
    for row in videos:
        by_key[row["object_key"]].append(row)
    assert {k: len(v) for k, v in by_key.items()} == {FLAGGED: 2, CLEAN_CLIP: 1, BROKEN: 1, NOT_A_VIDEO: 1}
    assert {row["status"] for row in by_key[BROKEN]} == {"FAILED"}
    labels = run.sandbox.table_rows("moderation_labels/")
    flagged_ids = {row["video_id"] for row in by_key[FLAGGED]}
    assert {row["video_id"] for row in labels} == flagged_ids
    names = {row["label_name"] for row in labels}
    assert {"Exposed Female Nipple", "Weapons"} <= names


def test_athena_answers_named_queries_over_the_lake_through_the_cli(run: Run) -> None:
    # When the CLI runs a named query with parameters
    rows = json_output(
        run.sandbox.modlake(
            "query",
            "failed_and_skipped_videos",
            "--param",
            f"day_from={run.today}",
            "--param",
            f"day_to={run.today}",
            "--format",
            "json",
        )
    )
    # Then Athena (DuckDB over the mirrored Parquet) returns the failed and the skipped video
    assert sorted(row["status"] for row in rows) == ["FAILED", "SKIPPED"]
    # And raw SQL works too
    (count,) = json_output(
        run.sandbox.modlake(
            "query",
            "SELECT count(*) AS n FROM moderation_videos WHERE dt = ? AND flagged",
            "--param",
            f"day={run.today}",
            "--format",
            "json",
        )
    )
    assert int(count["n"]) == 2


def test_status_and_labels_show_the_videos(run: Run) -> None:
    listing = run.sandbox.modlake("status")
    assert listing.exit_code == 0, listing.output
    assert "flagged reel.mp4" in listing.stdout and "FAILED" in listing.stdout and "SKIPPED" in listing.stdout
    detail = run.sandbox.modlake("status", FLAGGED)
    assert detail.exit_code == 0, detail.output
    assert detail.stdout.count("SUCCEEDED") >= 2  # both versions
    timeline = run.sandbox.modlake("labels", FLAGGED)
    assert timeline.exit_code == 0, timeline.output
    assert "00:01" in timeline.stdout and "Exposed Female Nipple" in timeline.stdout and "97.0" in timeline.stdout
    assert "00:02" in timeline.stdout and "Weapons" in timeline.stdout


def test_the_digest_was_sent_to_the_topic_by_ses_and_archived(run: Run) -> None:
    assert run.digest.exit_code == 0, run.digest.output
    assert "SENT" in run.digest.stdout and "ses_message_id" in run.digest.stdout
    (email,) = run.sandbox.messages(run.digest_topic_queue)
    assert "flagged%20reel.mp4" in email or "flagged reel.mp4" in email
    assert "1 failed, 1 skipped" in email
    assert "Review: nothing awaiting a verdict; 2 verdicts that day, 1 overturned (50%)." in email
    s3 = run.sandbox.stack.client("s3")
    archive = s3.list_objects_v2(
        Bucket=run.sandbox.stack.outputs["AnalyticsBucketName"], Prefix=f"digests/dt={run.today}/"
    )
    assert {item["Key"].rsplit("/", 1)[1] for item in archive["Contents"]} == {
        "digest.html",
        "digest.json",
        "digest.txt",
    }


def test_each_flagged_video_over_the_threshold_raised_one_alert_on_the_alerts_topic(run: Run) -> None:
    # Given two flagged versions of one clip (97 % at the nudity scene, over the threshold of 90) and a clean clip
    flagged = run.videos()[FLAGGED]
    # Then the alerts topic got one message per flagged version, none for the clean, failed or skipped videos
    alerts = run.sandbox.messages(run.alerts_topic_queue)
    assert len(alerts) == len(flagged) == 2
    bucket = run.sandbox.stack.outputs["MediaBucketName"]
    for record in flagged:
        (alert,) = [text for text in alerts if f"versionId={record.video.version_id}" in text]
        # And each is the readable text of the rule's input transformer: where, what, how sure, when, the link
        first_line = alert.splitlines()[0]
        assert first_line.startswith("modlake local: flagged video ")
        assert f"s3://{bucket}/{FLAGGED}" in first_line and "max confidence 97.0%" in first_line
        assert "at 00:01" in first_line  # the nudity scene starts one second in
        assert "Flagged categories: " in alert and "Explicit" in alert
        assert f"https://us-east-1.console.aws.amazon.com/s3/object/{bucket}?" in alert


def test_nothing_is_left_in_any_queue_or_dead_letter_queue(run: Run) -> None:
    depths = run.sandbox.stack.queue_depths()
    assert depths and all(depth == 0 for name, depth in depths.items() if name not in SUBSCRIBERS), depths


def test_verdicts_through_the_cli_and_the_signed_api_are_in_dynamodb_and_parquet_once(run: Run) -> None:
    review, operator = run.review, "arn:aws:iam::123456789012:user/modlake-operator"
    # Then the CLI's confirmation and the application's overturn were recorded, the replay answered as already done
    cli = review["cli"]
    assert cli.exit_code == 0, cli.output
    assert f"confirmed: {FLAGGED}" in " ".join(cli.stdout.split()) and operator in cli.stdout
    (post_status, posted), (replay_status, replayed) = review["post"], review["replay"]
    assert post_status == 201 and replay_status == 200, (posted, replayed)
    assert replayed["verdict"] == posted["verdict"] and posted["verdict"]["reviewer"] == operator
    # And an unsigned verdict never reached the function
    assert review["unsigned"] == (403, {"Message": "Forbidden"})
    # And each version's summary has its latest verdict; nothing is left in the review queue
    by_version = {r.video.video_id: r for r in run.videos()[FLAGGED]}
    older = by_version[posted["verdict"]["video_id"]]
    (newer,) = [r for r in by_version.values() if r is not older]
    table = run.sandbox.stack.client("dynamodb")
    name = run.sandbox.stack.outputs["VideosTableName"]
    for record, verdict in ((older, "overturned"), (newer, "confirmed")):
        pk = {"S": f"VIDEO#{record.video.video_id}"}
        summary = table.get_item(TableName=name, Key={"pk": pk, "sk": {"S": "SUMMARY"}})["Item"]
        assert summary["latest_verdict"]["M"]["verdict"]["S"] == verdict
        assert "review_lane" not in summary
        history = table.query(
            TableName=name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :verdict)",
            ExpressionAttributeValues={":pk": pk, ":verdict": {"S": "VERDICT#"}},
        )["Items"]
        assert len(history) == 1  # the replayed request wrote nothing twice
    assert review["queue_after"].exit_code == 0 and "the review queue is empty" in review["queue_after"].stdout
    # And the lake has one moderation_verdicts row per verdict, each naming the verified reviewer
    rows = run.sandbox.table_rows("moderation_verdicts/")
    assert sorted((r["video_id"], r["verdict"]) for r in rows) == sorted(
        [(older.video.video_id, "overturned"), (newer.video.video_id, "confirmed")]
    )
    assert {r["reviewer"] for r in rows} == {operator} and {r["note"] for r in rows} == {
        "a painting",
        "nudity, as flagged",
    }


def test_the_review_api_answers_the_operator_through_its_function_url(run: Run) -> None:
    # Then the signed requests reached functions/review_api, which found the flagged clip (a unicode, spaced key)
    (queue_status, queue), (video_status, video) = run.review["queue"], run.review["video"]
    assert queue_status == 200 and FLAGGED in json.dumps(queue, ensure_ascii=False), queue
    assert video_status == 200 and FLAGGED in json.dumps(video, ensure_ascii=False), video


def test_every_aws_call_the_functions_made_is_allowed_by_their_iam_policy(run: Run) -> None:
    stack = run.sandbox.stack
    assert stack.deployment is not None
    # Given every call recorded while the pipeline ran, by principal (function, or the role Rekognition assumed)
    calls = calls_by_principal(stack)
    # Then each function made real calls (queue_backfill runs only in a backfill: test_backfill.py checks it; review_api
    # runs when the fixture reads the review API through its function URL)
    backfill = stack.deployment.function_named("queue_backfill").logical_id
    assert set(stack.deployment.functions) - {backfill} <= set(calls), "a function made no AWS call at all"
    # And its policy in the template allows every one of them
    denials = denied_calls(stack, calls)
    assert not denials, "\n".join(str(d) for d in denials)
    operations = {(c.caller, c.service, c.operation) for c in stack.calls()}
    digest = stack.deployment.function_named("send_digest").logical_id
    assert {(digest, "athena", "StartQueryExecution"), (digest, "glue", "GetTable")} <= operations
    assert (digest, "sesv2", "SendEmail") in operations
    # And the event source mappings polled and deleted as their functions, as Lambda does with the function's role
    start = stack.deployment.function_named("start_moderation").logical_id
    assert {(start, "sqs", "ReceiveMessage"), (start, "sqs", "DeleteMessageBatch")} <= operations


def test_the_cli_refuses_uploads_the_stack_would_not_moderate(run: Run, tmp_path: Path) -> None:
    # Given a text file, and a real MP4 whose suffix the local stack's rule does not match (it watches mp4, mov)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    wrong_suffix = tmp_path / "clip.m4v"
    write_clip(wrong_suffix, [Scene(1, CLEAN)])
    for path in (text, wrong_suffix):
        # When the CLI is asked to upload it
        result = run.sandbox.modlake("upload", str(path))
        # Then it refuses with one line and exit code 1, and nothing is uploaded
        assert result.exit_code == 1, result.output
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("modlake: ")
    keys = run.sandbox.stack.client("s3").list_objects_v2(Bucket=run.sandbox.stack.outputs["MediaBucketName"])
    assert not any(
        item["Key"].endswith(("notes.mp4", "clip.m4v")) and "été" not in item["Key"] for item in keys["Contents"]
    )
