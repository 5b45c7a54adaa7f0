"""`modlake dashboard`, the Python side: the query each view gets, the row cap, --days, the empty page, the escaping.

The page's drawing is tested in a browser (tests/browser/test_dashboard_page.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import cli.dashboard
from cli.dashboard import (
    ASSETS_DIR,
    MAX_DAYS,
    ROW_CAP,
    check_days,
    fetch_dashboard,
    render_page,
    view_query,
    view_requests,
    window_of,
    write_dashboard,
)
from cli.errors import CliError
from cli.target import Target
from functions.common.adapters.athena import AthenaQueryRunner
from glue import VERDICTS
from queries import SqlFile
from queries.dashboard import DASHBOARD
from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import write_sample_lake
from sandbox.serve import EndpointSettings, build_endpoint
from tests.cli.conftest import error_line, modlake
from tests.sandbox.test_athena_endpoint import DATABASE, WORKGROUP, AthenaSandbox

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 20)
GENERATED = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
# What each view's visuals and filters read (written out here, not derived from the spec), and dt for the cap.
EXPECTED_COLUMNS = {
    "v_daily_summary": {"processed_date", "moderated", "flagged", "videos", "source", "moderated_hours", "dt"},
    "v_time_to_outcome": {"processed_date", "p50_seconds", "p95_seconds", "source", "dt"},
    "v_category_daily": {"processed_date", "flagged_videos", "top_category", "source", "dt"},
    "v_detections": {"top_category", "confidence", "processed_date", "object_key", "source", "dt"},
    "v_flagged_videos": {
        "video_uri",
        "max_confidence",
        "flagged_categories",
        "first_flagged_seconds",
        "source",
        "processed_at",
        "processed_date",
        "object_key",
        "dt",
    },
    "v_unmoderated_videos": {"reason", "video_id", "status", "processed_date", "source", "object_key", "dt"},
    "v_review_queue": {
        "video_uri",
        "flagged_categories",
        "max_confidence",
        "source",
        "processed_at",
        "processed_date",
        "object_key",
        "dt",
    },
    "v_precision": {"top_category", "confirmed", "overturned", "recorded_date", "source", "dt"},
}
# The review views read every verdict (their headers say so: one row per human decision is a small table).
READS_EVERY_VERDICT = {"dashboard_v_review_queue", "dashboard_v_precision"}


@dataclass
class CannedViews:
    """A QueryRunner answering each view's query with canned rows (or n generated ones), recording the requests."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[SqlFile, list[str]]] = field(default_factory=list)

    def run_all(self, requests: Sequence[tuple[SqlFile, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        self.requests += [(query, list(parameters)) for query, parameters in requests]
        return [self.rows.get(query.name.removeprefix("dashboard_"), []) for query, _ in requests]


def selected_columns(sql: str) -> set[str]:
    match = re.search(r"SELECT (.+?)\nFROM ", sql)
    assert match is not None, sql
    return {column.strip() for column in match.group(1).split(",")}


def view_of(sql: str) -> str:
    match = re.search(r"\nFROM (\w+)\n", sql)
    assert match is not None, sql
    return match.group(1)


def partition_of(key: str) -> str:
    match = re.search(r"/dt=([\d-]+)/", key)
    assert match is not None, key
    return match.group(1)


def json_block(page: str, element_id: str) -> str:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_each_view_gets_one_query_of_exactly_its_columns_for_the_dt_window() -> None:
    # Given the last 30 days ending 2026-11-20
    window = window_of(30, TODAY)
    # When the page's queries are made
    requests = view_requests(window)
    # Then there is one per view the spec uses, selecting exactly what its visuals and filters read
    by_view = {view_of(query.sql): (query, parameters) for query, parameters in requests}
    assert set(by_view) == set(EXPECTED_COLUMNS) == {visual.view for visual in DASHBOARD.visuals}
    assert len(requests) == len(by_view)
    for view, (query, parameters) in by_view.items():
        assert selected_columns(query.sql) == EXPECTED_COLUMNS[view], view
        # And its values are execution parameters: the dt range (yyyy-MM-dd strings) and one row past the cap
        assert "WHERE dt BETWEEN ? AND ?" in query.sql and "ORDER BY dt DESC" in query.sql
        assert query.sql.rstrip().endswith("LIMIT ?")
        assert parameters == ("'2026-10-22'", "'2026-11-20'", str(ROW_CAP + 1))
        assert "2026" not in query.sql
        assert query.parameters == ("day_from", "day_to", "row_limit")


def test_the_queries_run_on_athena_sql_and_read_only_the_windows_partitions(tmp_path: Path) -> None:
    # Given a sample lake of 10 days, and the dashboard's queries for its last 3
    lake = write_sample_lake(tmp_path / "lake", end_day=TODAY, days=10)
    window = window_of(3, TODAY)
    wanted = {day.isoformat() for day in (date(2026, 11, 18), date(2026, 11, 19), TODAY)}
    with LakeQueryEngine(lake.root) as engine:
        for query, parameters in view_requests(window):
            # When each runs on the local engine (Athena's dialect on DuckDB)
            result = engine.execute(query.sql, list(parameters))
            # Then it returns only the window's rows, newest first, and opened only the window's partitions
            days = [row["dt"] for row in result.dicts()]
            assert set(days) <= wanted and days == sorted(days, reverse=True), query.name
            opened = {partition_of(key) for key in result.files_read if not key.startswith(VERDICTS.prefix)}
            if query.name not in READS_EVERY_VERDICT:
                assert opened == {partition_of(key) for key in result.files_read}, query.name
            assert opened <= wanted and (opened or query.name == "dashboard_v_precision"), query.name


def test_only_plain_names_reach_the_sql() -> None:
    # Given a column name that is not a plain identifier
    # Then no query is made of it
    with pytest.raises(ValueError, match="not a plain"):
        view_query("v_detections", ["confidence; DROP TABLE x"])


@pytest.mark.slow
def test_the_page_reads_the_views_through_athena_on_the_local_endpoint(tmp_path: Path) -> None:
    # Given the sample lake behind the sandbox's Athena (Glue tables and views, a workgroup), and the project's runner
    lake = write_sample_lake(tmp_path / "lake", end_day=TODAY, days=6)
    settings = EndpointSettings(port=0, classifier="palette", work_dir=tmp_path / "endpoint", check_responses=True)
    endpoint = build_endpoint(settings).start()
    try:
        athena = AthenaSandbox(endpoint, lake).athena
        runner = AthenaQueryRunner(
            athena, workgroup=WORKGROUP, database=DATABASE, time_left_ms=lambda: 60_000, reserve_ms=0, first_wait=0.05
        )
        # When the page's rows are fetched, once in full and once with a cap of 2 rows
        full = fetch_dashboard(runner, stack="local", days=3, today=TODAY)
        capped = fetch_dashboard(runner, stack="local", days=3, today=TODAY, row_cap=2)
    finally:
        endpoint.shutdown()
    # Then Athena answered every view's query (LIMIT ? included), typed values became JSON, and the cap was noticed
    daily = next(view for view in full.views if view.view == "v_daily_summary")
    record = dict(zip(daily.columns, daily.rows[0], strict=True))
    assert record["processed_date"] == TODAY.isoformat() and isinstance(record["moderated"], int)
    assert all(view.rows for view in full.views) and full.notices == []
    assert len(capped.notices) == len(capped.views) and all(len(view.rows) == 2 for view in capped.views)


@pytest.mark.parametrize("days", [0, -3, MAX_DAYS + 1])
def test_bad_days_are_refused(days: int) -> None:
    with pytest.raises(CliError, match=f"bad --days {days}: expected a number of days from 1 to {MAX_DAYS}"):
        check_days(days)


def test_the_window_ends_today_and_spans_the_days() -> None:
    assert window_of(1, TODAY).day_from == TODAY
    window = window_of(30, TODAY)
    assert (window.day_from, window.day_to, window.days) == (date(2026, 10, 22), TODAY, 30)


@pytest.mark.parametrize("days", ["0", "-1"])
def test_the_command_refuses_bad_days_in_one_line_before_reaching_the_stack(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    # Given a runner that would record any query
    runner = CannedViews()
    monkeypatch.setattr("cli.commands.athena_runner", lambda _target: runner)
    # When the command is given a bad --days
    result = modlake(target, "dashboard", "--days", days, "--out", str(tmp_path / "d.html"))
    # Then it exits 1 with the CLI's one-line error, queried nothing and wrote nothing
    assert result.exit_code == 1
    assert error_line(result) == f"modlake: bad --days {days}: expected a number of days from 1 to {MAX_DAYS}"
    assert runner.requests == [] and not (tmp_path / "d.html").exists()


def test_the_row_cap_is_reported_in_the_page_and_on_the_console(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a view with more rows than the cap (the runner returns cap + 1, as Athena would for LIMIT cap + 1)
    monkeypatch.setattr(cli.dashboard, "ROW_CAP", 3)
    detections = [
        {"top_category": "Violence", "confidence": 90.0 + i, "processed_date": date(2026, 11, 20 - i),
         "object_key": f"k{i}", "source": "upload", "dt": f"2026-11-{20 - i}"}
        for i in range(4)
    ]  # fmt: skip
    runner = CannedViews({"v_detections": detections})
    # When the page is written
    written = write_dashboard(runner, tmp_path / "d.html", stack="modlake-test", days=30, clock=lambda: GENERATED)
    # Then the view keeps the cap's newest rows, and the notice says so and from which day
    [notice] = written.data.notices
    assert notice.startswith("v_detections has more than 3 rows in these days: the page shows its newest 3")
    assert "back to 2026-11-18" in notice
    views = json.loads(json_block(written.path.read_text(encoding="utf-8"), "dashboard-views"))
    assert len(views["v_detections"]["rows"]) == 3 and views["v_detections"]["truncated"] is True
    assert views["v_daily_summary"]["truncated"] is False
    assert 'class="notice"' in written.path.read_text(encoding="utf-8")
    # And the command prints the notice on stderr and the page's path on stdout
    monkeypatch.setattr("cli.commands.athena_runner", lambda _target: CannedViews({"v_detections": detections}))
    out = tmp_path / "cli" / "page.html"
    result = modlake(target, "dashboard", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "modlake: note: v_detections has more than 3 rows" in result.stderr
    assert f"Dashboard: {out}" in result.stdout and out.is_file()


def test_no_notice_when_a_view_has_exactly_the_cap(tmp_path: Path) -> None:
    rows = [{"top_category": "Violence", "confidence": 90.0, "dt": "2026-11-20"}] * 3
    data = fetch_dashboard(CannedViews({"v_detections": rows}), stack="s", today=TODAY, row_cap=3)
    assert data.notices == []


def test_an_empty_lake_gives_a_page_that_says_there_is_no_data(target: Target, tmp_path: Path) -> None:
    # Given views without rows
    written = write_dashboard(CannedViews(), tmp_path / "d.html", stack="modlake-test (stack in us-east-1)",
                              days=7, today=TODAY, clock=lambda: GENERATED)  # fmt: skip
    page = written.path.read_text(encoding="utf-8")
    # Then the page says so, with the stack, the days and when it was generated
    assert written.data.is_empty
    assert "There is no data: no view of this stack has a row between 2026-11-14 and 2026-11-20." in page
    assert "modlake-test (stack in us-east-1)" in page
    assert "2026-11-14 to 2026-11-20 (7 days)" in page and "2026-11-20 09:15 UTC" in page
    assert json.loads(json_block(page, "dashboard-views"))["v_daily_summary"]["rows"] == []


def test_the_command_says_there_is_no_data(target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cli.commands.athena_runner", lambda _target: CannedViews())
    result = modlake(target, "dashboard", "--days", "7", "--out", str(tmp_path / "d.html"))
    assert result.exit_code == 0, result.output
    assert "no data between" in result.stdout and "the page says so" in result.stdout


def test_text_in_the_rows_cannot_close_the_script_element(tmp_path: Path) -> None:
    # Given a row whose text tries to end the JSON's <script> element, open a comment and run a script
    hostile = "</script><script>alert(1)</script><!-- & > '\" \u2028"
    rows = [{"video_uri": hostile, "max_confidence": 99.0, "processed_date": TODAY, "dt": "2026-11-20"}]
    data = fetch_dashboard(CannedViews({"v_flagged_videos": rows}), stack="</script>", today=TODAY)
    # When the page is rendered
    page = render_page(data)
    block = json_block(page, "dashboard-views")
    # Then the JSON holds no "<" at all, only one script element runs, and the JSON still reads back the same text
    assert "<" not in block and "</script" not in json_block(page, "dashboard-meta")
    assert page.count("<script>") == 1 and "<script>alert" not in page
    [row] = json.loads(block)["v_flagged_videos"]["rows"]
    columns = json.loads(block)["v_flagged_videos"]["columns"]
    assert dict(zip(columns, row, strict=True))["video_uri"] == hostile
    assert "&lt;/script&gt;" in page  # the stack's name in the header is escaped as HTML


def test_values_become_json(tmp_path: Path) -> None:
    # Given rows with dates, timestamps and a NaN
    rows = [{"processed_date": TODAY, "processed_at": datetime(2026, 11, 20, 6, 52, 48), "max_confidence": float("nan"),
             "video_uri": "s3://b/k", "dt": "2026-11-20"}]  # fmt: skip
    data = fetch_dashboard(CannedViews({"v_flagged_videos": rows}), stack="s", today=TODAY)
    view = next(v for v in data.views if v.view == "v_flagged_videos")
    record = dict(zip(view.columns, view.rows[0], strict=True))
    assert record["processed_date"] == "2026-11-20" and record["processed_at"] == "2026-11-20 06:52:48"
    assert record["max_confidence"] is None and record["video_uri"] == "s3://b/k"


def test_the_command_writes_the_page_for_the_last_days_and_opens_it(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given canned views and a browser that records what it is asked to open
    runner = CannedViews()
    opened: list[str] = []
    monkeypatch.setattr("cli.commands.athena_runner", lambda _target: runner)
    monkeypatch.setattr("cli.dashboard.webbrowser.open", lambda url: opened.append(url) or True)
    out = tmp_path / "nested" / "dash.html"
    # When the command runs with --days 7 --open
    result = modlake(target, "dashboard", "--days", "7", "--out", str(out), "--open")
    # Then the queries asked for the last 7 UTC days, the page names the stack, and the browser got its file URL
    assert result.exit_code == 0, result.output
    today = datetime.now(UTC).date()
    window = [f"'{today - timedelta(days=6)}'", f"'{today}'"]
    assert len(runner.requests) == len(EXPECTED_COLUMNS) and all(
        parameters[:2] == window for _, parameters in runner.requests
    )
    assert "modlake-test (stack in us-east-1)" in out.read_text(encoding="utf-8")
    assert opened == [out.resolve().as_uri()]


def test_a_folder_as_out_is_a_one_line_error(target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cli.commands.athena_runner", lambda _target: CannedViews())
    result = modlake(target, "dashboard", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert error_line(result).startswith(f"modlake: --out {tmp_path} is a folder: name the HTML file")


def test_the_renderer_is_allowed_by_its_hash_and_inlined() -> None:
    # Given a rendered page
    data = fetch_dashboard(CannedViews(), stack="s", today=TODAY)
    page = render_page(data)
    script = (ASSETS_DIR / "dashboard.js").read_text(encoding="utf-8")
    # Then the renderer and the CSS are inline, and the policy names the renderer's hash
    assert f"<script>{script}</script>" in page
    assert (ASSETS_DIR / "dashboard.css").read_text(encoding="utf-8") in page
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page


def test_the_dashboard_assets_are_packaged() -> None:
    # Given the files the page is built from, and the package data pyproject.toml ships
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cli"]
    assets = sorted(path for path in ASSETS_DIR.iterdir() if path.is_file())
    assert {path.name for path in assets} >= {"dashboard.html", "dashboard.css", "dashboard.js"}
    # Then every one is matched, so `pip install .` (not editable) has them
    shipped = {path for pattern in patterns for path in (ROOT / "cli").glob(pattern)}
    assert [path for path in assets if path not in shipped] == []


README_SCREENSHOT_MAX_BYTES = 200_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_readme_shows_a_small_committed_screenshot_of_the_page() -> None:
    # Given the README and the picture it embeds
    root = Path(__file__).resolve().parents[2]
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", (root / "README.md").read_text(encoding="utf-8"))
    assert "queries/dashboard.png" in images
    picture = (root / "queries" / "dashboard.png").read_bytes()
    # Then it is a real PNG, small enough to keep in the repository, no wider than the page it shows
    assert picture.startswith(PNG_SIGNATURE)
    assert len(picture) <= README_SCREENSHOT_MAX_BYTES
    width, height = int.from_bytes(picture[16:20], "big"), int.from_bytes(picture[20:24], "big")
    assert 600 <= width <= 1280 and height > 400
