"""The digest end to end on the local engine: send_digest's logic, the real digest SQL, the sample lake."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from sandbox.digest_preview import main, render_preview
from sandbox.sample_lake import BACKFILL_VIDEOS, SampleLake, SampleVideo, write_sample_lake
from tests.analytics.helpers import local_days

DAY = date(2026, 11, 20)
XHTML = "{http://www.w3.org/1999/xhtml}"


def _totals(videos: list[SampleVideo]) -> dict[str, int]:
    moderated = [v for v in videos if v.status == "SUCCEEDED"]
    return {
        "videos": len(videos),
        "moderated": len(moderated),
        "flagged": sum(v.flagged for v in moderated),
        "failed": sum(v.status == "FAILED" for v in videos),
        "skipped": sum(v.status == "SKIPPED" for v in videos),
        "moderated_duration_ms": sum(v.duration_ms or 0 for v in moderated),
    }


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Tokyo"])
def test_the_digest_counts_what_the_sample_lake_holds_for_the_local_day(tmp_path: Path, timezone: str) -> None:
    # Given the preview of the 20th in a time zone (the sample lake's backfill day), and the sample lake's own
    # description of that day
    result = render_preview(tmp_path / "out", day=DAY, timezone=timezone, lake=tmp_path / "lake")
    expected_lake: SampleLake = write_sample_lake(
        tmp_path / "again", end_day=DAY, days=35, backfill_videos=BACKFILL_VIDEOS
    )
    window = local_days(DAY, DAY, timezone)
    videos = expected_lake.videos_between(window.start, window.end)
    uploads = [v for v in videos if not v.backfill]
    backfill = [v for v in videos if v.backfill]
    assert len(backfill) >= 10 * len(uploads) > 0
    # When reading the archived digest
    digest = json.loads((tmp_path / "out/digests/dt=2026-11-20/digest.json").read_text())
    # Then its totals are the uploads', and the backfill's apart, counted independently of the SQL
    assert digest["totals"] == _totals(uploads) and digest["backfill"] == _totals(backfill)
    assert (result.details["flagged"], result.details["backfill_flagged"]) == (
        digest["totals"]["flagged"],
        digest["backfill"]["flagged"],
    )
    assert digest["totals"]["flagged"] > 0 and digest["totals"]["failed"] + digest["totals"]["skipped"] > 0
    # And the most severe video is the lake's most confident flagged one, and the list holds both sources
    moderated = [v for v in videos if v.status == "SUCCEEDED"]
    top = max((v for v in moderated if v.flagged), key=lambda v: v.max_confidence or 0)
    assert digest["top_flagged"][0]["s3_uri"] == top.s3_uri
    sources = [video["source"] for video in digest["top_flagged"]]
    assert sources.count("backfill") == 5 and sources.count("upload") == min(10, digest["totals"]["flagged"])
    # And the HTML is well-formed with one row per top video, the backfill ones tagged
    html = (tmp_path / "out/digests/dt=2026-11-20/digest.html").read_text()
    root = ET.fromstring(html.split("\n", 1)[1])
    [top_table] = [t for t in root.iter(f"{XHTML}table") if t.get("class") == "top-flagged"]
    rows = top_table.findall(f"{XHTML}tr")[1:]
    assert [row.get("class") == "backfill" for row in rows] == [source == "backfill" for source in sources]
    # And the text tags the same rows
    text = (tmp_path / "out/digests/dt=2026-11-20/digest.txt").read_text()
    assert text.count("  [backfill]") == 5 and text.count("\nBackfill: ") == 1


def test_the_command_writes_the_files_it_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given / When the make target's command runs
    assert main(["--out", str(tmp_path), "--day", "2026-11-20"]) == 0
    # Then it prints the text digest and the paths, which exist
    printed = capsys.readouterr().out
    assert "daily digest for 2026-11-20 (UTC)" in printed
    html = tmp_path / "digests/dt=2026-11-20/digest.html"
    assert f"HTML: {html}" in printed and html.read_text().startswith("<!DOCTYPE html>")


def test_an_unknown_time_zone_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path), "--timezone", "Mars/Olympus"])
    assert exit_info.value.code == 2 and "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err
