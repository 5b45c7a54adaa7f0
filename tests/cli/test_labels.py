"""`modlake labels`: the timeline from DynamoDB label chunks, Athena when that copy is incomplete, and its format."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli.errors import CliError
from cli.labels import LabelRow, labels_query, per_second, video_labels
from cli.target import Target
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.display import video_time
from functions.common.table_design import LABELS_PER_ITEM
from queries import SqlFile
from tests.cli.conftest import moderate, modlake, start, table_rows, video_ref
from tests.helpers import detection

STARTED = datetime(2026, 11, 19, 23, 50, tzinfo=UTC)
COMPLETED = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)  # the labels' dt partition is the UTC day of this


class RecordingRunner:
    """Stands in for Athena: answers with canned rows and keeps what it was asked."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.requests: list[tuple[SqlFile, list[str]]] = []

    def run_all(self, requests: Sequence[tuple[SqlFile, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        self.requests += [(query, list(parameters)) for query, parameters in requests]
        return [self.rows for _ in requests]


class NoAthena:
    """Fails the test if the CLI goes to Athena."""

    def run_all(self, requests: Sequence[tuple[SqlFile, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        raise AssertionError("Athena queried although DynamoDB holds every label")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "00:00"),
        (5_999, "00:05"),
        (65_000, "01:05"),
        (3_599_999, "59:59"),
        (3_600_000, "1:00:00"),
        (3_725_000, "1:02:05"),
    ],
)
def test_video_times(ms: int, text: str) -> None:
    # When a detection time is formatted
    # Then it is mm:ss, or h:mm:ss from the first hour on
    assert video_time(ms) == text


def test_timeline_from_dynamodb_in_time_order(target: Target, store: DynamoVideoStore) -> None:
    # Given a collected video with detections across the first hour
    clip = video_ref("clips/long take.mov", "v1", STARTED)
    moderate(
        store,
        clip,
        [
            detection(5_000, "Violence", confidence=91.26),
            detection(65_000, "Graphic Violence", "Violence", 2, confidence=84.0),
            detection(3_725_000, "Drinking", "Alcohol", 2, confidence=55.55),
        ],
        started=STARTED,
        completed=COMPLETED,
    )
    # When its labels are shown
    result = modlake(target, "labels", "clips/long take.mov")
    # Then every detection is a row: time, label, parent, category, confidence, flag
    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [
        ["00:05", "Violence", "–", "Violence", "91.3", "●"],
        ["01:05", "Graphic Violence", "Violence", "Violence", "84.0", "●"],
        ["1:02:05", "Drinking", "Alcohol", "Alcohol", "55.5", ""],
    ]
    assert "3 detections, read from dynamodb" in result.stdout


def test_every_chunk_is_read(target: Target, store: DynamoVideoStore) -> None:
    # Given a video with more detections than one DynamoDB label item holds
    count = LABELS_PER_ITEM * 2 + 5
    clip = video_ref("clips/busy.mp4", "v1", STARTED)
    moderate(
        store,
        clip,
        [detection(i * 100, "Violence", confidence=90.0) for i in range(count)],
        started=STARTED,
        completed=COMPLETED,
    )
    # When its labels are read
    timeline = video_labels(target, "clips/busy.mp4", runner=NoAthena())
    # Then all of them come from DynamoDB, in time order
    assert timeline.source == "dynamodb"
    assert [row.timestamp_ms for row in timeline.rows] == [i * 100 for i in range(count)]


def test_incomplete_dynamodb_copy_falls_back_to_athena(target: Target, store: DynamoVideoStore) -> None:
    # Given a video whose summary counts 3 detections but DynamoDB holds only 1
    clip = video_ref("clips/partial.mp4", "v1", STARTED)
    record = moderate(
        store,
        clip,
        [detection(1_000, "Violence"), detection(2_000, "Violence"), detection(3_000, "Violence")],
        started=STARTED,
        completed=COMPLETED,
        store_labels=1,
    )
    lake_rows = [
        {
            "timestamp_ms": ts,
            "label_name": "Violence",
            "parent_name": "",
            "top_category": "Violence",
            "confidence": 90.0,
            "flagged": True,
        }
        for ts in (1_000, 2_000, 3_000)
    ]
    runner = RecordingRunner(lake_rows)
    # When its labels are read
    timeline = video_labels(target, "clips/partial.mp4", runner=runner)
    # Then the lake answers, from the video's dt partition and id only
    assert timeline.source == "athena"
    assert [row.time for row in timeline.rows] == ["00:01", "00:02", "00:03"]
    ((query, parameters),) = runner.requests
    assert query == labels_query()
    assert query.parameters == ("day", "video_id")
    assert parameters == ["'2026-11-20'", f"'{record.video_id}'"]
    assert "FROM moderation_labels" in query.sql and "ORDER BY timestamp_ms" in query.sql


def test_a_video_still_running_has_no_labels_yet(target: Target, store: DynamoVideoStore) -> None:
    # Given a video whose job is running
    start(store, video_ref("clips/now.mp4", "v1", STARTED), STARTED)
    # When its labels are asked for
    result = modlake(target, "labels", "clips/now.mp4")
    # Then the output says why there are none, without asking Athena
    assert result.exit_code == 0, result.output
    assert "no labels (IN_PROGRESS: no results collected yet)" in result.stdout
    assert video_labels(target, "clips/now.mp4", runner=NoAthena()).source == "none"


def test_newest_version_by_default_and_a_chosen_one(target: Target, store: DynamoVideoStore) -> None:
    # Given a key uploaded twice, each version with one detection
    for version, offset, name in (("v1", 0, "Alcohol"), ("v2", 1, "Gambling")):
        when = STARTED + timedelta(hours=offset)
        moderate(
            store,
            video_ref("clips/twice.mp4", version, when),
            [detection(1_000, name)],
            started=when,
            completed=when + timedelta(minutes=5),
        )
    # When the labels are read without and with --version
    newest = video_labels(target, "clips/twice.mp4", runner=NoAthena())
    chosen = modlake(target, "labels", "clips/twice.mp4", "--version", "v1")
    # Then the newest upload is the default, and --version picks the other
    assert [row.label for row in newest.rows] == ["Gambling"]
    assert newest.other_versions == 1
    assert table_rows(chosen.stdout)[0][1] == "Alcohol"
    assert "1 older version: `modlake status clips/twice.mp4` lists them" in chosen.stdout
    with pytest.raises(CliError, match="has no version 'v9' \\(known: v2, v1\\)"):
        video_labels(target, "clips/twice.mp4", "v9")


def test_the_timeline_shows_one_row_per_label_per_second_with_the_highest_confidence() -> None:
    # Given frames sampled every 500 ms: the same label twice within second 3, and another label in it
    rows = [
        LabelRow(3000, "Weapons", "Violence", "Violence", 88.0, True),
        LabelRow(3500, "Weapons", "Violence", "Violence", 91.0, True),
        LabelRow(3500, "Violence", "", "Violence", 91.0, True),
        LabelRow(4000, "Weapons", "Violence", "Violence", 90.0, True),
    ]
    # When they are collapsed for display
    shown = per_second(rows)
    # Then second 3 shows each label once at its best confidence, and second 4 keeps its own row
    assert [(row.time, row.label, row.confidence) for row in shown] == [
        ("00:03", "Weapons", 91.0),
        ("00:03", "Violence", 91.0),
        ("00:04", "Weapons", 90.0),
    ]
