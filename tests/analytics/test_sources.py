"""Uploads and backfill apart on the real SQL: a backfill changes nothing about the uploads' digest, and Parquet
written before the source column existed reads as uploads everywhere."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import queries
from functions.common.lake import parquet_bytes, read_parquet
from functions.send_digest.assemble import DigestScope, build_digest
from functions.send_digest.model import Digest
from functions.send_digest.render import render_html, render_text
from glue import LABELS, VERDICTS, VIDEOS
from sandbox.athena.engine import LakeQueryEngine
from sandbox.digest_preview import EngineQueries
from sandbox.sample_lake import SampleLake, write_sample_lake
from tests.analytics.conftest import END_DAY
from tests.analytics.helpers import backfilled, flagged, local_days, moderated, outcome_counts, run, uploads

SCOPE = DigestScope(stage="test", timezone="UTC", region="us-east-1")
GENERATED_AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def object_sources(root: Path, key: str) -> set[str | None]:
    """The source values of one lake object's rows (None for an object without the column)."""
    table = read_parquet((root / key).read_bytes())
    return set(table.column("source").to_pylist()) if "source" in table.column_names else {None}


def digest_of(lake_root: Path, day: date = END_DAY) -> Digest:
    """The digest of a UTC day, built by send_digest's assembly over the digest SQL on the local engine."""
    with LakeQueryEngine(lake_root) as engine:
        return build_digest(day, EngineQueries(engine), SCOPE, generated_at=GENERATED_AT)


@pytest.fixture(scope="module")
def without_backfill(sample_lake: SampleLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the sample lake without the backfill's objects: the lake as it was before the backfill ran."""
    root = tmp_path_factory.mktemp("no-backfill")
    removed = 0
    for key in sample_lake.keys:
        sources = object_sources(sample_lake.root, key)
        if sources == {"backfill"}:
            removed += 1
            continue
        assert "backfill" not in sources  # one job, one video: an object holds one source
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample_lake.root / key, root / key)
    assert removed > len(backfilled(list(sample_lake.videos)))  # each video's row, and the labels of most
    yield root


def test_a_backfill_leaves_the_uploads_part_of_the_digest_unchanged(
    sample_lake: SampleLake, without_backfill: Path
) -> None:
    # Given the backfill's day, with the backfill and without it
    window = local_days(END_DAY, END_DAY, "UTC")
    videos = sample_lake.videos_between(window.start, window.end)
    assert len(backfilled(videos)) >= 10 * len(uploads(videos))
    # When the digest is built over each lake
    with_it, before_it = digest_of(sample_lake.root), digest_of(without_backfill)
    # Then the uploads' totals, categories, trend and top videos are exactly those of the lake without it
    assert with_it.totals == before_it.totals
    assert (with_it.totals.videos, with_it.totals.flagged) == (len(uploads(videos)), len(flagged(uploads(videos))))
    assert with_it.categories == before_it.categories and with_it.trend == before_it.trend
    assert [v for v in with_it.top_flagged if not v.backfill] == list(before_it.top_flagged)
    # And the backfill is counted on its own, by outcome
    backfill = backfilled(videos)
    assert outcome_counts(backfill) == {
        "videos": with_it.backfill.videos,
        "moderated": with_it.backfill.moderated,
        "flagged": with_it.backfill.flagged,
        "failed": with_it.backfill.failed,
        "skipped": with_it.backfill.skipped,
    }
    assert with_it.backfill.moderated_duration_ms == sum(v.duration_ms or 0 for v in moderated(backfill))
    assert sum(d.moderated for d in with_it.backfill_trend) == len(moderated(backfill))
    # And the list holds the uploads and five tagged backfill videos, the uploads' rendering unchanged
    assert sum(v.backfill for v in with_it.top_flagged) == 5 and before_it.top_flagged
    ranked = [line for line in render_text(with_it).splitlines() if re.match(r"  \d+\. ", line)]
    assert [line.endswith("  [backfill]") for line in ranked] == [v.backfill for v in with_it.top_flagged]
    # And without the backfill, nothing in the digest mentions it
    assert not before_it.has_backfill
    assert "backfill" not in render_text(before_it).lower() and "backfill" not in render_html(before_it).lower()


def test_a_day_without_backfill_renders_no_backfill_lines(sample_lake: SampleLake) -> None:
    # Given the day before the backfill: uploads only, in the day and in its seven-day trend
    day = END_DAY - timedelta(days=1)
    window = local_days(day - timedelta(days=6), day, "UTC")
    assert sample_lake.videos_between(window.start, window.end) and not backfilled(
        sample_lake.videos_between(window.start, window.end)
    )
    # When its digest is built and rendered
    digest = digest_of(sample_lake.root, day)
    text, html = render_text(digest), render_html(digest)
    # Then it has uploads and no backfill line, tag, row or column anywhere
    assert digest.totals.flagged and not digest.has_backfill
    assert "backfill" not in text.lower() and "backfill" not in html.lower()
    assert "Uploads" not in text and text.splitlines()[2].startswith(f"{digest.totals.videos} videos reached")


def test_parquet_written_before_the_source_column_reads_as_upload(tmp_path: Path) -> None:
    # Given a lake of the backfill's day and the day before, where every upload object of the day before and
    # every other one of the backfill's day is rewritten without the source column, as older versions wrote them
    lake = write_sample_lake(tmp_path, end_day=END_DAY, days=2, backfill_videos=40)
    upload_keys = [key for key in lake.keys if object_sources(tmp_path, key) == {"upload"}]
    rewritten = [key for i, key in enumerate(upload_keys) if f"dt={END_DAY}/" not in key or i % 2]
    for key in rewritten:
        table = read_parquet((tmp_path / key).read_bytes())
        (tmp_path / key).write_bytes(parquet_bytes(table.drop_columns(["source"])))
    assert all("source" not in pq.read_schema(tmp_path / key).names for key in rewritten)
    kept = set(upload_keys) - set(rewritten)
    # every table of the lake mixes old and new
    assert {key.split("/")[0] for key in kept} == {VIDEOS.name, LABELS.name, VERDICTS.name}
    old_ids = {
        i for key in rewritten for i in read_parquet((tmp_path / key).read_bytes()).column("video_id").to_pylist()
    }
    day_before, videos = END_DAY - timedelta(days=1), list(lake.videos)
    with LakeQueryEngine(tmp_path) as engine:
        # When the volume, the digest totals and the views are read
        volume = run(engine, "daily_volume", day_before, END_DAY).dicts()
        window = local_days(END_DAY, END_DAY, "UTC")
        totals = engine.execute(queries.named_query("digest_totals").sql, window.parameters()).dicts()
        top = engine.execute(queries.named_query("digest_top_flagged").sql, window.parameters()).dicts()
        per_source = {  # each query's group keys: (source, category) and (source, 15-minute bucket)
            name: [
                (r["source"], r.get("category", r.get("bucket_start_epoch")))
                for r in engine.execute(queries.named_query(name).sql, window.parameters()).dicts()
            ]
            for name in ("digest_categories", "digest_trend")
        }
        digest = build_digest(END_DAY, EngineQueries(engine), SCOPE, generated_at=GENERATED_AT)
        views = {
            view: engine.execute(f"SELECT DISTINCT dt, source FROM {view} ORDER BY dt, source DESC").rows
            for view in ("v_daily_summary", "v_flagged_videos", "v_detections", "v_category_daily", "v_time_to_outcome")
        }
        summary = engine.execute("SELECT dt, source, videos FROM v_daily_summary ORDER BY dt, source DESC").rows
    # Then the old rows count as uploads, together with the new upload rows: one upload row per day, no NULL source
    assert [(r["dt"], r["source"], r["videos"]) for r in volume] == [
        (day_before.isoformat(), "upload", len([v for v in videos if v.day == day_before])),
        (END_DAY.isoformat(), "upload", len(uploads(lake.videos_on(END_DAY)))),
        (END_DAY.isoformat(), "backfill", len(backfilled(lake.videos_on(END_DAY)))),
    ]
    assert [(r["dt"], r["source"], r["videos"]) for r in volume] == summary
    assert [(r["source"], r["videos"]) for r in totals] == [
        ("upload", len(uploads(lake.videos_on(END_DAY)))),
        ("backfill", len(backfilled(lake.videos_on(END_DAY)))),
    ]
    for keys in per_source.values():  # one group per source and key: old and new upload rows together
        assert {source for source, _ in keys} == {"upload", "backfill"} and len(set(keys)) == len(keys)
    assert digest.totals.videos == len(uploads(lake.videos_on(END_DAY))) and digest.has_backfill
    sources = {v.video_id: str(v.source) for v in videos}
    assert old_ids & {r["video_id"] for r in top}  # an old row among the most severe
    assert all(r["source"] == sources[r["video_id"]] for r in top)
    for view, rows in views.items():
        assert rows == [
            (day_before.isoformat(), "upload"),
            (END_DAY.isoformat(), "upload"),
            (END_DAY.isoformat(), "backfill"),
        ], view
