"""send_digest's logic over a fake query port: content, time zones, empty days, backfill apart, once per day, HTML."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from typing import Any

import pytest

from functions.send_digest.assemble import build_digest
from functions.send_digest.logic import (
    DigestOutcome,
    DigestRequest,
    InvalidDigestRequest,
    send_digest,
)
from functions.send_digest.render import review_text
from tests.digest_fakes import FakeQueries, RecordingNotifier, digest_deps
from tests.fakes import InMemoryObjects

RUN_AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
DAY = date(2026, 11, 20)
SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def flagged_video(
    n: int, confidence: float, first_ms: int | None, key: str | None = None, source: str = "upload"
) -> dict[str, Any]:
    return {
        "video_id": f"v{n}",
        "bucket": "media",
        "object_key": key or f"uploads/clip {n}.mp4",
        "version_id": f"ver{n}",
        "source": source,
        "max_confidence": confidence,
        "first_flagged_ms": first_ms,
        "flagged_categories": "Explicit, Violence" if n == 1 else "Violence",
        "flagged_label_count": 3,
        "duration_ms": 60_000,
        "completed_at": datetime(2026, 11, 20, 9, n % 60),
    }


def busy_day() -> FakeQueries:
    """Uploads only: what every digest query answers on a day without backfill (each row's source 'upload')."""
    return FakeQueries(
        rows={
            "digest_totals": [
                {
                    "source": "upload",
                    "videos": 9,
                    "moderated": 6,
                    "flagged": 3,
                    "failed": 2,
                    "skipped": 1,
                    "moderated_duration_ms": 5_400_000,
                }
            ],
            "digest_categories": [
                {"source": "upload", "category": "Violence", "detected_videos": 4, "flagged_videos": 3},
                {"source": "upload", "category": "Explicit", "detected_videos": 2, "flagged_videos": 1},
                {"source": "upload", "category": "Alcohol", "detected_videos": 1, "flagged_videos": 0},
            ],
            "digest_top_flagged": [
                flagged_video(1, 99.25, 83_400),
                flagged_video(2, 91.0, 3_725_000, key="reviews/ünïcode & <tags>.mp4"),
            ],
            "digest_trend": [
                {
                    "bucket_start_epoch": epoch(2026, 11, 14, 10),
                    "source": "upload",
                    "moderated": 4,
                    "flagged": 1,
                    "failed": 0,
                    "skipped": 0,
                },
                {
                    "bucket_start_epoch": epoch(2026, 11, 20, 9),
                    "source": "upload",
                    "moderated": 5,
                    "flagged": 2,
                    "failed": 2,
                    "skipped": 1,
                },
                {
                    "bucket_start_epoch": epoch(2026, 11, 20, 23, 45),
                    "source": "upload",
                    "moderated": 1,
                    "flagged": 1,
                    "failed": 0,
                    "skipped": 0,
                },
            ],
        }
    )


def quiet_day() -> FakeQueries:
    return FakeQueries(
        rows={
            "digest_totals": [
                {
                    "source": "upload",
                    "videos": 2,
                    "moderated": 2,
                    "flagged": 0,
                    "failed": 0,
                    "skipped": 0,
                    "moderated_duration_ms": 60_000,
                }
            ],
            "digest_categories": [
                {"source": "upload", "category": "Alcohol", "detected_videos": 1, "flagged_videos": 0}
            ],
        }
    )


BACKFILL_TOTALS = {
    "source": "backfill",
    "videos": 2400,
    "moderated": 2310,
    "flagged": 412,
    "failed": 55,
    "skipped": 35,
    "moderated_duration_ms": 108_000_000,
}


def backfill_trend(*at: int) -> dict[str, Any]:
    return {
        "bucket_start_epoch": epoch(*at),
        "source": "backfill",
        "moderated": 2310,
        "flagged": 412,
        "failed": 55,
        "skipped": 35,
    }


def with_backfill(queries: FakeQueries) -> FakeQueries:
    """The same day plus a backfill of 2,400 stored videos, as the queries answer it: rows of source 'backfill'
    after the uploads' (and the top list with up to five of them, in one severity order)."""
    rows = queries.rows
    rows["digest_totals"] = [*rows.get("digest_totals", []), BACKFILL_TOTALS]
    rows["digest_categories"] = [
        *rows.get("digest_categories", []),
        {"source": "backfill", "category": "Violence", "detected_videos": 900, "flagged_videos": 300},
        {"source": "backfill", "category": "Explicit", "detected_videos": 400, "flagged_videos": 150},
        {"source": "backfill", "category": "Alcohol", "detected_videos": 50, "flagged_videos": 0},
    ]
    stored = [
        flagged_video(101, 99.9, 1_000, key="archive/2024/stored 1.mp4", source="backfill"),
        flagged_video(102, 98.0, 2_000, key="archive/2024/stored 2.mp4", source="backfill"),
        flagged_video(103, 95.0, 3_000, key="archive/2025/stored 3.mp4", source="backfill"),
        flagged_video(104, 90.0, 4_000, key="archive/2025/stored 4.mp4", source="backfill"),
        flagged_video(105, 88.0, 5_000, key="archive/2025/stored 5.mp4", source="backfill"),
    ]
    rows["digest_top_flagged"] = sorted(
        [*rows.get("digest_top_flagged", []), *stored], key=lambda r: -r["max_confidence"]
    )
    rows["digest_trend"] = [*rows.get("digest_trend", []), backfill_trend(2026, 11, 20, 3)]
    return queries


def test_the_digest_reports_totals_categories_and_the_most_severe_videos() -> None:
    # Given a day with 3 flagged videos (2 in the top list), failures and skips
    deps = digest_deps(RUN_AT, queries=busy_day())
    # When the scheduled run sends yesterday's digest
    result = send_digest(DigestRequest(), deps)
    # Then one text email went out with every number and video
    assert result.outcome is DigestOutcome.SENT and result.day == DAY
    [(subject, text)] = deps.notifier.sent
    assert subject == "modlake test digest 2026-11-20: 3 flagged, 6 moderated"
    assert (
        "9 videos reached an outcome: 6 moderated (3 flagged), 2 failed, 1 skipped; 1.5 h of video moderated." in text
    )
    assert "  Violence  3 / 4" in text and "  Explicit  1 / 2" in text
    assert "Alcohol" not in text.split("Most severe")[0]  # detected but never flagged: not a flagged category
    assert "  1. 99.2%  first flagged at 01:23  Explicit, Violence" in text
    assert "  2. 91.0%  first flagged at 62:05  Violence" in text  # minutes run past 59 on long videos
    assert "     s3://media/reviews/ünïcode & <tags>.mp4" in text
    assert "https://eu-west-1.console.aws.amazon.com/s3/object/media?region=eu-west-1&bucketType=general" in text
    assert "prefix=reviews%2F%C3%BCn%C3%AFcode%20%26%20%3Ctags%3E.mp4&versionId=ver2" in text
    assert "… and 1 more" in text
    # And the HTML went through SES with the same subject
    [(html_subject, html, alt_text)] = deps.mailer.sent
    assert html_subject == subject and alt_text == text and "<svg" in html


def test_the_queries_get_the_day_and_its_partitions_as_parameters() -> None:
    # Given a Tokyo digest
    queries = busy_day()
    deps = digest_deps(RUN_AT, timezone="Asia/Tokyo", queries=queries)
    # When it runs at 17:00 Tokyo time on the 21st
    send_digest(DigestRequest(), deps)
    # Then the day queries cover Tokyo's 20th and the trend its last seven days
    day_parameters = ["'2026-11-19'", "'2026-11-20'", "'2026-11-19 15:00:00.000'", "'2026-11-20 15:00:00.000'"]
    for name in ("digest_totals", "digest_categories", "digest_top_flagged"):
        assert queries.parameters_of(name) == day_parameters
    assert queries.parameters_of("digest_trend") == [
        "'2026-11-13'",
        "'2026-11-20'",
        "'2026-11-13 15:00:00.000'",
        "'2026-11-20 15:00:00.000'",
    ]


def test_the_trend_folds_utc_buckets_into_local_days() -> None:
    # Given trend buckets at 10:00 UTC on the 14th, 09:00 and 23:45 UTC on the 20th
    utc_deps, tokyo_deps = (
        digest_deps(RUN_AT, queries=busy_day()),
        digest_deps(RUN_AT, timezone="Asia/Tokyo", queries=busy_day()),
    )
    utc = build_digest(DAY, utc_deps.queries, utc_deps.scope, generated_at=RUN_AT)
    tokyo = build_digest(DAY, tokyo_deps.queries, tokyo_deps.scope, generated_at=RUN_AT)
    # Then in UTC they are on the 14th and the 20th
    assert [(d.day.day, d.moderated, d.flagged) for d in utc.trend if d.moderated] == [(14, 4, 1), (20, 6, 3)]
    # And in Tokyo (UTC+9) 23:45 UTC on the 20th is already the 21st: outside the trend, so not counted
    assert [(d.day.day, d.moderated, d.flagged) for d in tokyo.trend if d.moderated] == [(14, 4, 1), (20, 5, 2)]
    # And every one of the seven days is present, even without videos
    assert [d.day for d in tokyo.trend] == [date(2026, 11, day) for day in range(14, 21)]


def test_an_empty_day_still_sends_a_short_nothing_flagged_digest() -> None:
    # Given a day with nothing flagged
    deps = digest_deps(RUN_AT, queries=quiet_day())
    # When the digest runs
    result = send_digest(DigestRequest(), deps)
    # Then a short digest says so
    assert result.outcome is DigestOutcome.SENT
    [(subject, text)] = deps.notifier.sent
    assert subject == "modlake test digest 2026-11-20: nothing flagged, 2 moderated"
    assert "Nothing was flagged." in text and "Most severe" not in text


def test_skip_empty_skips_a_quiet_day_but_never_failures() -> None:
    # Given digest_skip_empty
    quiet = digest_deps(RUN_AT, queries=quiet_day(), skip_empty=True)
    failing = quiet_day()
    failing.rows["digest_totals"][0]["failed"] = 1
    with_failure = digest_deps(RUN_AT, queries=failing, skip_empty=True)
    # When both digests run
    quiet_result = send_digest(DigestRequest(), quiet)
    failing_result = send_digest(DigestRequest(), with_failure)
    # Then the quiet day is archived but not sent; the day with a failure is sent
    assert quiet_result.outcome is DigestOutcome.SKIPPED_EMPTY and not quiet.notifier.sent
    assert "digests/dt=2026-11-20/digest.json" in quiet.archive.objects
    assert failing_result.outcome is DigestOutcome.SENT and len(with_failure.notifier.sent) == 1


def test_a_day_is_sent_once_unless_forced() -> None:
    # Given a digest already sent for the 20th
    deps = digest_deps(RUN_AT, queries=busy_day())
    first = send_digest(DigestRequest(), deps)
    # When the scheduler delivers the invocation again, and an operator names the day explicitly
    again = send_digest(DigestRequest(), deps)
    named = send_digest(DigestRequest(day=DAY), deps)
    # Then nothing more is sent, and the earlier run's result is reported
    assert [r.outcome for r in (first, again, named)] == [
        DigestOutcome.SENT,
        DigestOutcome.ALREADY_SENT,
        DigestOutcome.ALREADY_SENT,
    ]
    assert again.details["earlier"]["sns_message_id"] == "sns-1"
    assert len(deps.notifier.sent) == 1 and len(deps.mailer.sent) == 1
    # When the operator forces it
    forced = send_digest(DigestRequest(day=DAY, force=True), deps)
    # Then it is sent a second time
    assert forced.outcome is DigestOutcome.SENT and len(deps.notifier.sent) == 2
    # And another day is its own digest
    assert send_digest(DigestRequest(day=date(2026, 11, 19)), deps).outcome is DigestOutcome.SENT


def test_a_failed_send_is_not_remembered_so_the_retry_sends() -> None:
    # Given SNS failing on the first attempt
    notifier = RecordingNotifier(fail_with=RuntimeError("SNS unavailable"))
    deps = digest_deps(RUN_AT, queries=busy_day(), notifier=notifier)
    with pytest.raises(RuntimeError, match="SNS unavailable"):
        send_digest(DigestRequest(), deps)
    # When SNS recovers and the scheduler retries
    notifier.fail_with = None
    result = send_digest(DigestRequest(), deps)
    # Then the digest is sent
    assert result.outcome is DigestOutcome.SENT and len(notifier.sent) == 1


def test_without_a_sender_only_the_text_digest_is_sent() -> None:
    # Given no SES sender configured
    deps = digest_deps(RUN_AT, queries=busy_day(), mailer=None)
    # When the digest runs / Then it is sent through SNS only
    result = send_digest(DigestRequest(), deps)
    assert result.outcome is DigestOutcome.SENT and "ses_message_id" not in result.details
    assert len(deps.notifier.sent) == 1


def test_the_digest_is_archived_as_json_html_and_text() -> None:
    # Given / When the digest runs
    deps = digest_deps(RUN_AT, queries=busy_day())
    send_digest(DigestRequest(), deps)
    archive: InMemoryObjects = deps.archive
    # Then the day's folder holds the three forms
    assert archive.keys("digests/") == [
        "digests/dt=2026-11-20/digest.html",
        "digests/dt=2026-11-20/digest.json",
        "digests/dt=2026-11-20/digest.txt",
    ]
    data = json.loads(archive.objects["digests/dt=2026-11-20/digest.json"])
    assert data["day"] == "2026-11-20" and data["totals"]["flagged"] == 3
    assert data["top_flagged"][0]["first_flagged_at"] == "01:23"
    assert data["top_flagged"][0]["s3_uri"] == "s3://media/uploads/clip 1.mp4"
    assert [d["day"] for d in data["trend"]][-1] == "2026-11-20"
    assert archive.objects["digests/dt=2026-11-20/digest.txt"].decode() == deps.notifier.sent[0][1]


def test_the_html_is_well_formed_with_the_expected_rows_and_chart() -> None:
    # Given / When the digest runs
    deps = digest_deps(RUN_AT, queries=busy_day())
    send_digest(DigestRequest(), deps)
    html = deps.mailer.sent[0][1]
    # Then it parses as XML (well-formed), escapes the key and links to the console
    root = ET.fromstring(html.split("\n", 1)[1])
    tables = {t.get("class"): t for t in root.iter(f"{XHTML}table")}
    top_rows = tables["top-flagged"].findall(f"{XHTML}tr")[1:]
    assert len(top_rows) == 2
    cells = list(top_rows[1].iter(f"{XHTML}td"))
    assert cells[0].text == "91.0%" and cells[1].text == "62:05"
    link = cells[3].find(f"{XHTML}a")
    assert link is not None and link.text == "s3://media/reviews/ünïcode & <tags>.mp4"
    assert link.get("href", "").startswith("https://eu-west-1.console.aws.amazon.com/s3/object/media?")
    category_rows = [[c.text for c in row] for row in tables["categories"].findall(f"{XHTML}tr")[1:]]
    assert category_rows == [["Violence", "3", "4"], ["Explicit", "1", "2"]]
    # And the chart has a moderated and a flagged bar per day, heights proportional to the counts
    svg = root.find(f".//{SVG}svg")
    assert svg is not None
    bars = {(r.get("data-day"), r.get("class")): r for r in svg.iter(f"{SVG}rect")}
    assert len(bars) == 14
    tallest = float(bars[("2026-11-20", "bar moderated")].get("height", "0"))
    assert tallest == pytest.approx(102.0)  # the busiest day fills the plot
    assert float(bars[("2026-11-14", "bar moderated")].get("height", "0")) == pytest.approx(tallest * 4 / 6, abs=0.1)
    assert float(bars[("2026-11-20", "bar flagged")].get("height", "0")) == pytest.approx(tallest * 3 / 6, abs=0.1)
    assert float(bars[("2026-11-15", "bar flagged")].get("height", "-1")) == 0
    # And the numbers stand under the chart as a table, for clients that do not render SVG
    trend_rows = [[c.text for c in row] for row in tables["trend"].findall(f"{XHTML}tr")[1:]]
    assert trend_rows[0] == ["Sat 2026-11-14", "4", "1", "0", "0"]
    assert trend_rows[-1] == ["Fri 2026-11-20", "6", "3", "2", "1"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"date": "20-11-2026"}, "'date' must be yyyy-mm-dd"),
        ({"force": "yes"}, "'force' must be true or false"),
        ({"day": "2026-11-20"}, "unknown keys"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_a_bad_request_gets_a_clear_error(event: Any, message: str) -> None:
    # Given / When / Then a malformed invocation fails before any query runs
    with pytest.raises(InvalidDigestRequest, match=message):
        DigestRequest.from_event(event)


def test_a_request_names_a_day_and_force() -> None:
    assert DigestRequest.from_event({}) == DigestRequest()
    assert DigestRequest.from_event({"date": "2026-11-02", "force": True}) == DigestRequest(date(2026, 11, 2), True)


# --- uploads and backfill ------------------------------------------------------------------------------------------
BUSY_DAY_TEXT = """modlake test: daily digest for 2026-11-20 (UTC)

9 videos reached an outcome: 6 moderated (3 flagged), 2 failed, 1 skipped; 1.5 h of video moderated.

Flagged by top-level category (flagged videos / videos detected in):
  Violence  3 / 4
  Explicit  1 / 2

Most severe flagged videos:
  1. 99.2%  first flagged at 01:23  Explicit, Violence
     s3://media/uploads/clip 1.mp4
     https://eu-west-1.console.aws.amazon.com/s3/object/media?region=eu-west-1&bucketType=general&prefix=uploads%2Fclip%201.mp4&versionId=ver1
  2. 91.0%  first flagged at 62:05  Violence
     s3://media/reviews/ünïcode & <tags>.mp4
     https://eu-west-1.console.aws.amazon.com/s3/object/media?region=eu-west-1&bucketType=general&prefix=reviews%2F%C3%BCn%C3%AFcode%20%26%20%3Ctags%3E.mp4&versionId=ver2
  … and 1 more: run the flagged_videos_for_day named query in Athena.

Last 7 days (moderated / flagged / failed / skipped):
  2026-11-14 Sat  4 / 1 / 0 / 0
  2026-11-15 Sun  0 / 0 / 0 / 0
  2026-11-16 Mon  0 / 0 / 0 / 0
  2026-11-17 Tue  0 / 0 / 0 / 0
  2026-11-18 Wed  0 / 0 / 0 / 0
  2026-11-19 Thu  0 / 0 / 0 / 0
  2026-11-20 Fri  6 / 3 / 2 / 1
"""  # noqa: E501  (what the digest said before backfill existed, character for character)


def test_a_day_without_backfill_reads_exactly_as_before() -> None:
    # Given a day whose rows are all uploads
    deps = digest_deps(RUN_AT, queries=busy_day())
    # When the digest runs
    result = send_digest(DigestRequest(), deps)
    # Then the text is the digest as it read before backfill existed, and nothing anywhere mentions backfill
    [(subject, text)] = deps.notifier.sent
    assert text == BUSY_DAY_TEXT
    assert subject == "modlake test digest 2026-11-20: 3 flagged, 6 moderated"
    html = deps.mailer.sent[0][1]
    assert "backfill" not in html.lower() and "Uploads" not in html
    assert set(result.details) == {"archive", "flagged", "failed", "sns_message_id", "ses_message_id"}
    root = ET.fromstring(html.split("\n", 1)[1])
    tables = {t.get("class"): t for t in root.iter(f"{XHTML}table")}
    assert [[c.text for c in row] for row in tables["totals"].findall(f"{XHTML}tr")] == [
        ["Videos", "Moderated", "Flagged", "Failed", "Skipped", "Video moderated"],
        ["9", "6", "3", "2", "1", "1.5 h"],
    ]
    assert len(tables["trend"].findall(f"{XHTML}tr")[0]) == 5


def test_rows_without_a_source_count_as_uploads() -> None:
    # Given query rows without a source column (the shape before the column existed)
    queries = busy_day()
    for rows in queries.rows.values():
        for row in rows:
            del row["source"]
    deps = digest_deps(RUN_AT, queries=queries)
    # When the digest is built / Then it is the uploads' digest, as with source 'upload'
    digest = build_digest(DAY, deps.queries, deps.scope, generated_at=RUN_AT)
    expected = build_digest(DAY, busy_day(), deps.scope, generated_at=RUN_AT)
    assert digest == expected and digest.totals.videos == 9 and not digest.has_backfill


def test_a_backfill_day_keeps_the_uploads_numbers_and_adds_the_backfills() -> None:
    # Given the busy day plus a backfill of 2,400 stored videos (412 flagged, 5 of them in the top list)
    deps = digest_deps(RUN_AT, queries=with_backfill(busy_day()))
    # When the digest runs
    result = send_digest(DigestRequest(), deps)
    [(subject, text)] = deps.notifier.sent
    # Then the subject and the summary give the uploads' numbers as before, and the backfill's apart
    assert subject == "modlake test digest 2026-11-20: 3 flagged, 6 moderated; backfill: 412 flagged, 2310 moderated"
    assert len(subject) <= 100
    lines = text.splitlines()
    assert lines[2:4] == [
        "Uploads: 9 videos reached an outcome: 6 moderated (3 flagged), 2 failed, 1 skipped; 1.5 h of video moderated.",
        "Backfill: 2400 videos reached an outcome: 2310 moderated (412 flagged), 55 failed, 35 skipped; "
        "30.0 h of video moderated.",
    ]
    assert (result.details["flagged"], result.details["failed"]) == (3, 2)
    assert (result.details["backfill_flagged"], result.details["backfill_failed"]) == (412, 55)
    # And each source has its own categories, the uploads' unchanged by the backfill
    uploads_part = text.split("Uploads flagged by top-level category")[1].split("Backfill flagged")[0]
    assert "  Violence  3 / 4" in uploads_part and "  Explicit  1 / 2" in uploads_part
    backfill_part = text.split("Backfill flagged by top-level category")[1].split("Most severe")[0]
    assert "  Violence  300 / 900" in backfill_part and "  Explicit  150 / 400" in backfill_part
    assert "Alcohol" not in backfill_part  # detected, never flagged
    # And the most severe list holds both uploads and the five backfill videos, each of those tagged
    ranked = [line for line in lines if re.match(r"  \d+\. ", line)]
    assert [line.split(".")[0].strip() for line in ranked] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [line.endswith("  [backfill]") for line in ranked] == [True, False, True, True, False, True, True]
    assert "  2. 99.2%  first flagged at 01:23  Explicit, Violence" in lines
    assert "     s3://media/archive/2024/stored 1.mp4" in lines
    assert (
        "  … and 1 more upload and 407 more backfill videos: run the flagged_videos_for_day named query in Athena."
        in lines
    )
    # And the trend adds the backfill to its day only
    assert "  2026-11-20 Fri  6 / 3 / 2 / 1  + backfill 2310 / 412 / 55 / 35" in lines
    assert sum("backfill" in line for line in lines if line.startswith("  2026-11-")) == 1


def test_the_html_of_a_backfill_day_tags_backfill_and_keeps_the_chart_to_uploads() -> None:
    # Given / When the backfill day's digest runs
    deps = digest_deps(RUN_AT, queries=with_backfill(busy_day()))
    send_digest(DigestRequest(), deps)
    root = ET.fromstring(deps.mailer.sent[0][1].split("\n", 1)[1])
    tables = {t.get("class"): t for t in root.iter(f"{XHTML}table")}
    # Then the totals have a named row per source
    assert [[c.text for c in row] for row in tables["totals"].findall(f"{XHTML}tr")] == [
        ["Source", "Videos", "Moderated", "Flagged", "Failed", "Skipped", "Video moderated"],
        ["Uploads", "9", "6", "3", "2", "1", "1.5 h"],
        ["Backfill", "2400", "2310", "412", "55", "35", "30.0 h"],
    ]
    assert [[c.text for c in row] for row in tables["backfill-categories"].findall(f"{XHTML}tr")[1:]] == [
        ["Violence", "300", "900"],
        ["Explicit", "150", "400"],
    ]
    # And the backfill rows of the top list carry the tag; the uploads' do not
    top_rows = tables["top-flagged"].findall(f"{XHTML}tr")[1:]
    tags = [[span.text for span in row.iter(f"{XHTML}span")] for row in top_rows]
    assert tags == [["backfill"], [], ["backfill"], ["backfill"], [], ["backfill"], ["backfill"]]
    assert [row.get("class") for row in top_rows] == ["backfill" if tag else None for tag in tags]
    # And the chart is scaled to the uploads (the busiest upload day fills it; the backfill would flatten it)
    bars = {(r.get("data-day"), r.get("class")): r for r in root.iter(f"{SVG}rect")}
    assert float(bars[("2026-11-20", "bar moderated")].get("height", "0")) == pytest.approx(102.0)
    # And the table under it has the backfill in a column of its own, on its day only
    trend_rows = [[c.text for c in row] for row in tables["trend"].findall(f"{XHTML}tr")]
    assert trend_rows[0][-1] == "Backfill (moderated / flagged / failed / skipped)"
    assert [row[-1] for row in trend_rows[1:]] == ["–"] * 6 + ["2310 / 412 / 55 / 35"]


def test_a_backfill_earlier_in_the_week_shows_only_on_its_trend_day() -> None:
    # Given a day of uploads only, with a backfill four days before it
    queries = busy_day()
    queries.rows["digest_trend"].append(backfill_trend(2026, 11, 16, 2))
    deps = digest_deps(RUN_AT, queries=queries)
    # When the digest runs
    send_digest(DigestRequest(), deps)
    [(subject, text)] = deps.notifier.sent
    # Then the day's part reads as before, and the one line that mentions the backfill is its trend day
    assert "backfill" not in subject and "Uploads:" not in text
    assert [line for line in text.splitlines() if "backfill" in line] == [
        "  2026-11-16 Mon  0 / 0 / 0 / 0  + backfill 2310 / 412 / 55 / 35"
    ]
    assert text.split("Last 7 days")[0] == BUSY_DAY_TEXT.split("Last 7 days")[0]


def test_a_backfill_that_flagged_is_sent_even_when_no_upload_was_flagged() -> None:
    # Given digest_skip_empty and a quiet day of uploads, with a backfill that flagged 412 videos
    deps = digest_deps(RUN_AT, queries=with_backfill(quiet_day()), skip_empty=True)
    # When the digest runs
    result = send_digest(DigestRequest(), deps)
    # Then it is sent: the uploads say nothing was flagged, the backfill's categories and videos follow
    assert result.outcome is DigestOutcome.SENT
    [(subject, text)] = deps.notifier.sent
    assert (
        subject == "modlake test digest 2026-11-20: nothing flagged, 2 moderated; backfill: 412 flagged, 2310 moderated"
    )
    assert "No upload was flagged." in text and "Nothing was flagged." not in text
    assert "Backfill flagged by top-level category" in text and "Uploads flagged" not in text
    assert "  … and 407 more backfill videos: run the flagged_videos_for_day named query in Athena." in text


def with_reviews(queries: FakeQueries, **row: Any) -> FakeQueries:
    """The day's digest_review row: the queue at the day's end and the day's verdicts."""
    queries.rows["digest_review"] = [row]
    return queries


def test_the_review_line_says_how_many_wait_since_when_and_how_many_were_overturned() -> None:
    # Given 12 flagged videos awaiting a verdict at the day's end (UTC 2026-11-21 00:00), the oldest flagged 30 h
    # before, and 5 verdicts recorded that day, 1 of them overturned
    oldest = datetime(2026, 11, 19, 18, 0)
    queries = with_reviews(busy_day(), awaiting=12, oldest_awaiting_since=oldest, reviewed=5, overturned=1)
    deps = digest_deps(RUN_AT, queries=queries)
    # When the digest runs
    send_digest(DigestRequest(), deps)
    # Then the text says so under the day's totals, and the HTML and the archive too
    [(_, text)] = deps.notifier.sent
    line = "Review: 12 awaiting a verdict (oldest 30 h); 5 verdicts that day, 1 overturned (20%)."
    assert text.splitlines()[3] == line
    assert f'<p class="review">{line}</p>' in deps.mailer.sent[0][1]
    digest = build_digest(DAY, queries, deps.scope, generated_at=RUN_AT)
    archived = digest.to_json()["review"]
    assert archived == {
        "awaiting": 12,
        "oldest_awaiting_since": "2026-11-19T18:00:00",
        "reviewed": 5,
        "overturned": 1,
        "overturn_rate": 0.2,
    }


def test_the_review_line_without_verdicts_or_without_a_queue() -> None:
    deps = digest_deps(RUN_AT, queries=with_reviews(busy_day(), awaiting=3, oldest_awaiting_since=None, reviewed=0))
    send_digest(DigestRequest(), deps)
    assert "Review: 3 awaiting a verdict." in deps.notifier.sent[0][1]
    deps = digest_deps(RUN_AT, queries=with_reviews(busy_day(), awaiting=0, reviewed=2, overturned=0))
    send_digest(DigestRequest(), deps)
    assert "Review: nothing awaiting a verdict; 2 verdicts that day, 0 overturned (0%)." in deps.notifier.sent[0][1]


def test_a_day_without_reviews_has_no_review_line() -> None:
    deps = digest_deps(RUN_AT, queries=with_reviews(busy_day(), awaiting=0, reviewed=0, overturned=0))
    send_digest(DigestRequest(), deps)
    assert deps.notifier.sent[0][1] == BUSY_DAY_TEXT and "Review:" not in deps.mailer.sent[0][1]


def test_todays_digest_measures_the_oldest_wait_to_now_not_to_the_days_end() -> None:
    # Given today's digest generated at 10:00 UTC, the oldest video awaiting a verdict flagged at 07:00
    queries = with_reviews(busy_day(), awaiting=1, oldest_awaiting_since=datetime(2026, 11, 20, 7, 0), reviewed=0)
    digest = build_digest(DAY, queries, digest_deps(RUN_AT, queries=queries).scope,
                          generated_at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))  # fmt: skip
    # Then it waited 3 h so far (the day's end would say 17 h)
    assert review_text(digest) == "Review: 1 awaiting a verdict (oldest 3 h)."
