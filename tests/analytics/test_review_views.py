"""The reviewers' views (v_verdicts, v_review_queue, v_precision) and the threshold_sweep named query, exact on a
copy of the sample lake with known verdicts written in the moderation_verdicts layout.

The verdicts are written here with the table's one schema (glue.VERDICTS) and the lake's own Parquet encoding; the
expected answers are computed in Python from the same facts, never with SQL.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.common.lake import parquet_bytes, table_from_rows
from glue import VERDICTS
from queries import named_queries
from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import SampleLake, SampleVerdict
from tests.analytics.conftest import END_DAY
from tests.analytics.helpers import flagged

REVIEWERS = ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/reviewers/bob")
FIRST_DAY, SECOND_DAY = END_DAY + timedelta(days=1), END_DAY + timedelta(days=2)
THRESHOLDS = list(range(50, 100, 5))


Verdict = SampleVerdict  # the sample lake's verdict: its row is what the review API writes


def plan_verdicts(lake: SampleLake) -> list[Verdict]:
    """24 reviewed videos over two days, every fourth overturned, one with a named category, and one video that is
    confirmed on the first day and overturned on the second (its latest verdict counts)."""
    videos = flagged(list(lake.videos))[:24]
    assert len(videos) == 24
    verdicts = []
    for index, video in enumerate(videos):
        day = FIRST_DAY if index < 16 else SECOND_DAY
        at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(minutes=index)
        verdict = "overturned" if index % 4 == 3 else "confirmed"
        category = "Violence" if index == 5 else None
        # two videos sit exactly on a threshold: a sweep must keep a video whose confidence equals it
        confidence = {2: 90.0, 7: 85.0}.get(index)
        note = f"{verdict} by a test"
        verdicts.append(Verdict(video, verdict, REVIEWERS[index % 2], at, category, note, confidence))
    changed_mind = verdicts[0]
    later = datetime(SECOND_DAY.year, SECOND_DAY.month, SECOND_DAY.day, 17, tzinfo=UTC)
    verdicts.append(Verdict(changed_mind.video, "overturned", REVIEWERS[1], later))
    return verdicts


@dataclass(frozen=True)
class ReviewedLake:
    engine: LakeQueryEngine
    lake: SampleLake
    verdicts: list[Verdict]

    def latest(self) -> list[Verdict]:
        newest: dict[str, Verdict] = {}
        for verdict in sorted(self.verdicts, key=lambda v: v.recorded_at):
            newest[verdict.video.video_id] = verdict
        return list(newest.values())


@pytest.fixture(scope="module")
def reviewed(sample_lake: SampleLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewedLake]:
    """The sample lake, copied, with the verdicts' Parquet objects at moderation_verdicts/dt=<day>/<id>.parquet."""
    root = tmp_path_factory.mktemp("reviewed-lake")
    # the sample's own verdicts stay behind: these tests know every verdict of their lake
    shutil.copytree(sample_lake.root, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(VERDICTS.name))
    verdicts = plan_verdicts(sample_lake)
    for verdict in verdicts:
        day = verdict.recorded_at.date().isoformat()
        path = Path(root, "moderation_verdicts", f"dt={day}", f"{verdict.verdict_id}.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(parquet_bytes(table_from_rows(VERDICTS, [verdict.row()])))
    with LakeQueryEngine(root) as engine:
        yield ReviewedLake(engine, sample_lake, verdicts)


def test_v_verdicts_has_every_verdict_with_its_video_and_category(reviewed: ReviewedLake) -> None:
    # When the view is read for the first day
    rows = reviewed.engine.execute("SELECT * FROM v_verdicts WHERE dt = ? ORDER BY recorded_at", [f"'{FIRST_DAY}'"])
    # Then it has that day's verdicts, each with its video, the category it judges and who gave it
    expected = sorted((v for v in reviewed.verdicts if v.recorded_at.date() == FIRST_DAY), key=lambda v: v.recorded_at)
    assert [r["verdict_id"] for r in rows.dicts()] == [v.verdict_id for v in expected]
    for row, verdict in zip(rows.dicts(), expected, strict=True):
        assert row["video_uri"] == verdict.video.s3_uri and row["source"] == str(verdict.video.source)
        assert (row["verdict"], row["reviewer"]) == (verdict.verdict, verdict.reviewer)
        assert (row["category"], row["reviewer_category"]) == (verdict.judged_category, verdict.category)
        assert row["recorded_date"] == FIRST_DAY and row["max_confidence"] == verdict.max_confidence
    # And only that partition of the verdicts was read
    assert {Path(f).parent.name for f in rows.files_read} == {f"dt={FIRST_DAY}"}


def test_v_review_queue_holds_the_flagged_videos_nobody_reviewed_yet(reviewed: ReviewedLake) -> None:
    # Given the lake's flagged videos, 24 of them reviewed
    reviewed_ids = {v.video.video_id for v in reviewed.verdicts}
    waiting = [v for v in flagged(list(reviewed.lake.videos)) if v.video_id not in reviewed_ids]
    assert waiting
    # When the queue is read, oldest first
    rows = reviewed.engine.execute("SELECT * FROM v_review_queue ORDER BY processed_at, video_id").dicts()
    # Then it is exactly the unreviewed flagged videos, with what flagged them
    assert sorted(r["video_id"] for r in rows) == sorted(v.video_id for v in waiting)
    by_id = {v.video_id: v for v in waiting}
    for row in rows:
        video = by_id[row["video_id"]]
        assert row["flagged_categories"] == ", ".join(video.flagged_categories)
        assert row["max_confidence"] == video.max_confidence and row["dt"] == video.dt
    assert [r["processed_at"] for r in rows] == sorted(r["processed_at"] for r in rows)


def test_v_precision_counts_each_video_once_by_its_latest_verdict(reviewed: ReviewedLake) -> None:
    # Given the latest verdict of each reviewed video (the video confirmed then overturned counts as overturned)
    expected: Counter[tuple[str, str, int, str, str]] = Counter()
    for verdict in reviewed.latest():
        band = min(int(verdict.max_confidence // 10) * 10, 90)
        key = (verdict.judged_category, str(verdict.video.source), band, verdict.recorded_at.date().isoformat())
        expected[(*key, verdict.verdict)] += 1
    assert sum(expected.values()) == 24
    # When the view is read
    rows = reviewed.engine.execute("SELECT * FROM v_precision").dicts()
    # Then each row counts its category, band and day exactly, and its rate is overturned / reviewed
    found: Counter[tuple[str, str, int, str, str]] = Counter()
    for row in rows:
        key = (row["top_category"], row["source"], row["confidence_from"], row["dt"])
        assert row["confidence_to"] == row["confidence_from"] + 10
        assert row["reviewed"] == row["confirmed"] + row["overturned"]
        assert row["overturn_rate"] == pytest.approx(row["overturned"] / row["reviewed"])
        found[(*key, "confirmed")] += row["confirmed"]
        found[(*key, "overturned")] += row["overturned"]
    assert +found == expected
    # And the named category counts under Violence
    assert any(row["top_category"] == "Violence" for row in rows)


def test_the_threshold_sweep_says_what_each_threshold_keeps_and_still_flags(reviewed: ReviewedLake) -> None:
    # Given the latest verdicts recorded on the two days
    (sweep,) = [query for query in named_queries() if query.name == "threshold_sweep"]
    latest = reviewed.latest()
    # When the sweep runs over both days
    rows = reviewed.engine.execute(sweep.sql, [f"'{FIRST_DAY}'", f"'{SECOND_DAY}'"]).dicts()
    # Then per category and threshold it counts the confirmed and overturned videos a threshold would still flag
    categories = sorted({v.judged_category for v in latest})
    assert [(r["category"], r["threshold"]) for r in rows] == [(c, t) for c in categories for t in THRESHOLDS]
    for row in rows:
        mine = [v for v in latest if v.judged_category == row["category"]]
        kept = [v for v in mine if v.max_confidence >= row["threshold"]]
        assert row["confirmed"] == sum(v.verdict == "confirmed" for v in mine)
        assert row["overturned"] == sum(v.verdict == "overturned" for v in mine)
        assert row["confirmed_still_flagged"] == sum(v.verdict == "confirmed" for v in kept)
        assert row["overturned_still_flagged"] == sum(v.verdict == "overturned" for v in kept)


def test_the_threshold_sweep_reads_only_the_verdicts_of_its_days(reviewed: ReviewedLake) -> None:
    (sweep,) = [query for query in named_queries() if query.name == "threshold_sweep"]
    # When it runs over the first day only, the video that was overturned on the second day counts as confirmed
    result = reviewed.engine.execute(sweep.sql, [f"'{FIRST_DAY}'", f"'{FIRST_DAY}'"])
    assert {Path(f).parent.name for f in result.files_read} == {f"dt={FIRST_DAY}"}
    first_day = [v for v in reviewed.verdicts if v.recorded_at.date() == FIRST_DAY]
    at_50 = [r for r in result.dicts() if r["threshold"] == 50]
    assert sum(r["confirmed"] + r["overturned"] for r in at_50) == len(first_day)
    assert sum(r["confirmed"] for r in at_50) == sum(v.verdict == "confirmed" for v in first_day)
