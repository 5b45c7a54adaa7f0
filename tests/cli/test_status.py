"""`modlake status`: the table of latest videos and one video in detail, read through the project's adapter."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from rich.console import Console

from cli.output import humanise_age
from cli.target import Target
from cli.videos import find_videos, list_videos, render_video_table
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.models import VideoSource, utc_now
from tests.cli.conftest import moderate, modlake, skip, start, table_rows, video_ref
from tests.helpers import detection


@pytest.fixture
def library(store: DynamoVideoStore) -> datetime:
    """Four videos in different states (one key uploaded twice); returns the moment they are relative to."""
    now = utc_now()
    moderate(
        store,
        video_ref("clips/beach.mp4", "v-old", now - timedelta(days=4)),
        [detection(1_000, "Swimwear or Underwear", confidence=62.5)],
        started=now - timedelta(days=4),
        completed=now - timedelta(days=4, minutes=-5),
    )
    moderate(
        store,
        video_ref("clips/beach.mp4", "v-new", now - timedelta(hours=2, minutes=10)),
        [detection(2_000, "Violence", confidence=97.25), detection(4_000, "Alcohol", confidence=70.0)],
        started=now - timedelta(hours=2, minutes=10),
        completed=now - timedelta(hours=2, minutes=5),
    )
    start(
        store,
        video_ref("live/[bold]stream.mov", "v1", now - timedelta(minutes=3, seconds=20)),
        now - timedelta(minutes=3, seconds=10),
    )
    skip(
        store,
        video_ref("notes/readme.mp4", "v1", now - timedelta(seconds=40)),
        "not an MP4 or MOV file",
        now - timedelta(seconds=30),
    )
    return now


def test_list_is_newest_state_change_first_and_limited(target: Target, library: datetime) -> None:
    # Given four video versions
    # When the latest three are listed
    records = list_videos(target, limit=3)
    # Then they come newest state change first, and the oldest is left out
    assert [(r.video.key, r.video.version_id) for r in records] == [
        ("notes/readme.mp4", "v1"),
        ("live/[bold]stream.mov", "v1"),
        ("clips/beach.mp4", "v-new"),
    ]
    assert len(list_videos(target)) == 4


def test_status_table_shows_state_flag_confidence_and_age(target: Target, library: datetime) -> None:
    # Given four video versions
    # When the status table is printed
    result = modlake(target, "status")
    # Then each row shows key, version, state, flagged, max confidence and humanised age
    assert result.exit_code == 0, result.output
    rows = {(row[0], row[1]): row[2:] for row in table_rows(result.stdout)}
    assert rows[("clips/beach.mp4", "v-new")] == ["SUCCEEDED", "yes", "97.2", "2h"]
    assert rows[("clips/beach.mp4", "v-old")] == ["SUCCEEDED", "no", "62.5", "3d"]
    assert rows[("live/[bold]stream.mov", "v1")] == ["IN_PROGRESS", "–", "–", "3m"]
    assert rows[("notes/readme.mp4", "v1")] == ["SKIPPED", "–", "–", "30s"]
    # and the newest is on top
    assert result.stdout.index("notes/readme.mp4") < result.stdout.index("v-old")


def test_status_limit_option(target: Target, library: datetime) -> None:
    # When only one video is asked for
    result = modlake(target, "status", "--limit", "1")
    # Then only the newest is printed
    assert "notes/readme.mp4" in result.stdout
    assert "beach" not in result.stdout


def test_empty_table_says_how_to_start(target: Target) -> None:
    # Given no videos
    # When the status is printed
    result = modlake(target, "status")
    # Then it says how to add one
    assert result.stdout.strip() == "no videos yet: upload one with `modlake upload`"


def test_status_of_a_key_shows_every_version_newest_first(target: Target, library: datetime) -> None:
    # Given a key uploaded twice
    # When its status is asked for
    result = modlake(target, "status", "clips/beach.mp4")
    # Then both versions are shown in detail, newest first
    assert result.exit_code == 0, result.output
    out = result.stdout
    new, old = out.split("(older version 2)")
    assert "(newest of 2 versions)" in new
    for expected in (
        "s3://modlake-test-media/clips/beach.mp4",
        "v-new",
        "job-v-new",
        "SUCCEEDED for 2h",
        "yes",
        "97.2",
        "2 (1 flagging)",
        "Alcohol, Violence",
        "first flagged at    00:02",
        "h264 in QuickTime / MOV, 1280×720, 29.97 fps",
        "1:05:00",
        "1.2 MiB",
        "7.0",
    ):
        assert expected in new, expected
    assert "v-old" in old and "62.5" in old and "Swimwear or Underwear" in old
    assert "upload (its S3 event)" in new


def test_status_of_a_backfilled_video_says_it_came_from_the_backfill(target: Target, store: DynamoVideoStore) -> None:
    # Given a stored video that modlake backfill queued
    now = utc_now()
    store.mark_queued(replace(video_ref("archive/old.mp4", "v1", now), source=VideoSource.BACKFILL), 0, "waiting", now)
    # When its status is asked for / Then its source is named
    result = modlake(target, "status", "archive/old.mp4")
    assert result.exit_code == 0, result.output
    assert "backfill (modlake backfill)" in result.stdout and "QUEUED" in result.stdout


def test_status_of_a_skipped_video_shows_the_reason(target: Target, library: datetime) -> None:
    # When a skipped video's status is asked for
    result = modlake(target, "status", "notes/readme.mp4")
    # Then the reason is there
    assert "not an MP4 or MOV file" in result.stdout
    assert "SKIPPED" in result.stdout


def test_a_video_id_finds_its_video(target: Target, library: datetime, store: DynamoVideoStore) -> None:
    # Given the id of one version
    (newest, _) = find_videos(target, "clips/beach.mp4")
    # When it is used as KEY
    found = find_videos(target, newest.video_id)
    # Then that version is found
    assert [r.video.version_id for r in found] == ["v-new"]


def test_keys_are_printed_as_is_not_as_markup(target: Target, library: datetime) -> None:
    # Given a key containing a rich markup tag
    console = Console(record=True, width=200)
    # When the table is rendered
    render_video_table(list_videos(target), console, now=library)
    # Then the tag is printed literally
    assert "live/[bold]stream.mov" in console.export_text()


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(seconds=-5), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=3, seconds=59), "3m"),
        (timedelta(minutes=59, seconds=59), "59m"),
        (timedelta(hours=2), "2h"),
        (timedelta(hours=23, minutes=59), "23h"),
        (timedelta(days=4, hours=23), "4d"),
    ],
)
def test_ages_are_humanised(age: timedelta, text: str) -> None:
    # When an age is humanised
    # Then it reads in its largest whole unit
    assert humanise_age(age) == text
