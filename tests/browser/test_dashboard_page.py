"""The dashboard page in a real browser (Debian's chromium, driven by Playwright) over the sample lake.

The page is built by the CLI's own code, with the local engine standing in for Athena. Every visual's marks are
read back from the DOM and compared with what Athena SQL written here (a GROUP BY over the same view) answers,
before and after filters are set through the page's controls. Any console error, page error or request other
than the file itself fails the test; control tests prove those guards catch a broken page.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Request, Route, sync_playwright

from cli.dashboard import WrittenDashboard, fetch_dashboard, save_page, write_dashboard
from queries import execution_parameter
from queries.dashboard import DASHBOARD, Aggregation, Dashboard, Measure, Sheet, Visual, VisualKind
from sandbox.athena.engine import LakeQueryEngine
from sandbox.digest_preview import EngineQueries
from sandbox.sample_lake import SampleLake
from tests.analytics.helpers import flagged, moderated
from tests.conftest import SAMPLE_LAKE_END_DAY

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "dashboard" / "screenshots"
END_DAY = SAMPLE_LAKE_END_DAY  # the session's sample lake (tests/conftest.py) ends on it
DAYS = 30  # of the lake's 35: the page must leave out the five oldest days
DAY_FROM = END_DAY - timedelta(days=DAYS - 1)
GENERATED = datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
STACK = "modlake-sample (sample lake)"
PREFIX = "uploads/2026/11/"
CATEGORY = "Violence"
NARROW_FROM = "2026-11-10"

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------------ browser plumbing


def require_chromium() -> None:
    """Debian's chromium must be there under CI; on a laptop its absence skips with how to get it."""
    if CHROMIUM.is_file():
        return
    message = f"Debian's chromium is not installed ({CHROMIUM}): `make test` installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require_chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Headless chromium with a fresh profile, at a laptop's 1280 px width."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
        service_workers="block",
    )
    yield context
    context.close()


@dataclass
class Guarded:
    """A page and what went wrong on it: console errors, page errors, and requests for anything but the file."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*(f"error: {e}" for e in self.errors), *(f"request: {r}" for r in self.requests)]

    def assert_clean(self) -> None:
        assert self.problems() == []


def open_page(browser: BrowserContext, path: Path) -> Guarded:
    """Load the file with every other request blocked and recorded, and console and page errors collected."""
    page = browser.new_page()
    guarded = Guarded(page, path.resolve().as_uri())

    def record(request: Request) -> None:
        if request.url != guarded.url and request.url not in guarded.requests:
            guarded.requests.append(request.url)

    def route(handler: Route) -> None:
        if handler.request.url == guarded.url:
            handler.continue_()
        else:
            record(handler.request)
            handler.abort()

    page.on("console", lambda message: message.type == "error" and guarded.errors.append(message.text))
    page.on("pageerror", lambda error: guarded.errors.append(f"{error.name}: {error.message}"))
    page.on("request", record)
    page.route("**/*", route)
    page.goto(guarded.url, wait_until="load")
    page.wait_for_timeout(100)  # late console messages (CSP reports) arrive after load
    return guarded


def rendered(guarded: Guarded) -> Page:
    """The page once the renderer has finished."""
    guarded.page.wait_for_selector("body[data-rendered='true']", state="attached", timeout=10_000)
    return guarded.page


def marks(page: Page, visual_id: str) -> list[dict[str, str]]:
    """The data attributes of every mark of one visual."""
    found: list[dict[str, str]] = page.eval_on_selector_all(
        f'[data-visual-id="{visual_id}"] .mark', "nodes => nodes.map(node => ({...node.dataset}))"
    )
    return found


def drawn(page: Page, visual_id: str, attribute: str = "value") -> dict[tuple[str, str], float]:
    """One visual's marks as (series, x) → value (or another data attribute); one mark per group."""
    result: dict[tuple[str, str], float] = {}
    for mark in marks(page, visual_id):
        key = (mark["series"], mark["x"])
        assert key not in result, f"{visual_id}: two marks for {key}"
        result[key] = float(mark[attribute])
    return result


# ------------------------------------------------------------------------------------------------ the page


@pytest.fixture(scope="module")
def dashboard(engine: LakeQueryEngine, tmp_path_factory: pytest.TempPathFactory) -> WrittenDashboard:
    """The page `modlake dashboard --days 30` writes on END_DAY, its Athena played by the local engine."""
    out = tmp_path_factory.mktemp("dashboard") / "dashboard.html"
    return write_dashboard(EngineQueries(engine), out, stack=STACK, days=DAYS, today=END_DAY, clock=lambda: GENERATED)


# ------------------------------------------------------------------------------------------------ what SQL says

# Per visual: Athena SQL over its view answering, per group, (series, x, value); {where} takes the filters.
EXPECTED_SQL = {
    "moderated_vs_flagged_per_day": """
        SELECT 'Moderated', CAST(processed_date AS varchar), sum(moderated) FROM v_daily_summary WHERE {where}
        GROUP BY processed_date
        UNION ALL
        SELECT 'Flagged', CAST(processed_date AS varchar), sum(flagged) FROM v_daily_summary WHERE {where}
        GROUP BY processed_date""",
    "videos_per_day_by_source": """
        SELECT source, CAST(processed_date AS varchar), sum(videos) FROM v_daily_summary WHERE {where}
        GROUP BY source, processed_date HAVING sum(videos) <> 0""",
    "moderated_hours_per_day": """
        SELECT source, CAST(processed_date AS varchar), sum(moderated_hours) FROM v_daily_summary WHERE {where}
        GROUP BY source, processed_date HAVING sum(moderated_hours) <> 0""",
    "time_to_outcome_per_day": """
        SELECT 'p50 · ' || source, CAST(processed_date AS varchar), max(p50_seconds) FROM v_time_to_outcome
        WHERE {where} GROUP BY source, processed_date
        UNION ALL
        SELECT 'p95 · ' || source, CAST(processed_date AS varchar), max(p95_seconds) FROM v_time_to_outcome
        WHERE {where} GROUP BY source, processed_date""",
    "flagged_videos_per_category": """
        SELECT top_category, CAST(processed_date AS varchar), sum(flagged_videos) FROM v_category_daily
        WHERE {where} GROUP BY top_category, processed_date""",
    "confidence_per_category": """
        SELECT 'Confidence', top_category, count(*) FROM v_detections WHERE {where} GROUP BY top_category""",
    "failed_and_skipped_by_reason": """
        SELECT status, reason, count(DISTINCT video_id) FROM v_unmoderated_videos WHERE {where}
        GROUP BY status, reason""",
    "failed_and_skipped_by_source": """
        SELECT source, CAST(processed_date AS varchar), count(DISTINCT video_id) FROM v_unmoderated_videos
        WHERE {where} GROUP BY source, processed_date""",
}
COMPARED_ATTRIBUTE = {"confidence_per_category": "count"}  # a box's value is its median: compare its count
TABLE_SQL = "SELECT video_uri, max_confidence FROM v_flagged_videos WHERE {where} ORDER BY max_confidence DESC"


@dataclass(frozen=True)
class Chosen:
    """What the test set through the page's controls, as SQL conditions per filter."""

    prefix: str = ""
    category: str = ""
    day_from: str = DAY_FROM.isoformat()

    def where(self, visual_id: str) -> tuple[str, list[str]]:
        """The WHERE clause and its parameters for one visual: the window, then the filters that list it."""
        conditions = ["dt BETWEEN ? AND ?"]
        parameters = [execution_parameter(DAY_FROM), execution_parameter(END_DAY)]
        listed = {f.id for f in DASHBOARD.filters if visual_id in f.visuals}
        if "date_range" in listed:
            conditions.append("processed_date >= CAST(? AS date)")
            parameters.append(execution_parameter(self.day_from))
        if self.prefix and "key_prefix" in listed:
            conditions.append("object_key LIKE ?")
            parameters.append(execution_parameter(self.prefix + "%"))
        if self.category and "category" in listed:
            conditions.append("top_category = ?")
            parameters.append(execution_parameter(self.category))
        return " AND ".join(conditions), parameters


def expected(engine: LakeQueryEngine, visual_id: str, chosen: Chosen) -> dict[tuple[str, str], float]:
    """What SQL says the visual shows: (series, x) → value, groups without a value left out."""
    where, parameters = chosen.where(visual_id)
    sql = EXPECTED_SQL[visual_id]
    rows = engine.execute(sql.replace("{where}", where), parameters * sql.count("{where}")).rows
    return {(str(series), str(x)): float(value) for series, x, value in rows if value is not None}


def assert_all_visuals_match(page: Page, engine: LakeQueryEngine, chosen: Chosen) -> None:
    """Every chart's marks equal SQL's groups (values to float precision), and the table is SQL's top rows."""
    for visual_id in EXPECTED_SQL:
        want = expected(engine, visual_id, chosen)
        got = drawn(page, visual_id, COMPARED_ATTRIBUTE.get(visual_id, "value"))
        assert set(got) == set(want), f"{visual_id}: marks differ from SQL's groups ({chosen})"
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9), f"{visual_id} {key} ({chosen})"
    where, parameters = chosen.where("most_severe_flagged_videos")
    top = engine.execute(TABLE_SQL.replace("{where}", where), parameters).rows
    rows = marks(page, "most_severe_flagged_videos")
    assert len(rows) == min(len(top), 50)
    if top:
        first_uri, first_confidence = top[0]
        assert float(rows[0]["value"]) == first_confidence
        tied = {uri for uri, confidence in top if confidence == first_confidence}
        cells = first_row_cells(page)
        assert cells["video_uri"] in tied and float(cells["max_confidence"]) == first_confidence


def first_row_cells(page: Page) -> dict[str, str]:
    """The first table row's cells, by column (their data-value)."""
    cells: dict[str, str] = page.eval_on_selector_all(
        '[data-visual-id="most_severe_flagged_videos"] tbody tr:first-child td',
        "tds => Object.fromEntries(tds.map(td => [td.dataset.column, td.dataset.value]))",
    )
    return cells


# ------------------------------------------------------------------------------------------------ tests


def test_every_visual_draws_what_athena_sql_says(
    browser: BrowserContext, dashboard: WrittenDashboard, engine: LakeQueryEngine, sample_lake: SampleLake
) -> None:
    # Given the page of the last 30 of the sample lake's 35 days
    guarded = open_page(browser, dashboard.path)
    page = rendered(guarded)
    # Then the header names the stack, the days and when it was generated, and there is no cap notice
    assert page.inner_text("[data-meta=stack]") == STACK
    assert page.inner_text("[data-meta=range]") == f"{DAY_FROM} to {END_DAY} (30 days)"
    assert page.inner_text("[data-meta=generated]") == "2026-11-21 07:30 UTC"
    assert page.locator(".notice").count() == 0
    # And every visual of the spec has a card, and each chart's marks are SQL's groups over the same view
    cards = page.eval_on_selector_all("[data-visual-id]", "nodes => nodes.map(node => node.dataset.visualId)")
    assert cards == [visual.id for visual in DASHBOARD.visuals]
    assert_all_visuals_match(page, engine, Chosen())
    # And a day's moderated and flagged counts are what the sample lake planned for it
    day = END_DAY - timedelta(days=1)
    volume = drawn(page, "moderated_vs_flagged_per_day")
    planned = sample_lake.videos_on(day)
    assert volume[("Moderated", day.isoformat())] == len(moderated(planned)) > 0
    assert volume[("Flagged", day.isoformat())] == len(flagged(planned)) > 0
    # And no mark lies before the window (the five oldest days were not fetched)
    days = {mark["x"] for mark in marks(page, "moderated_vs_flagged_per_day")}
    assert min(days) >= DAY_FROM.isoformat() and max(days) == END_DAY.isoformat()
    # And nothing went wrong: no console or page error, no request but the file
    guarded.assert_clean()


def test_each_box_holds_its_categorys_quartiles(
    browser: BrowserContext, dashboard: WrittenDashboard, engine: LakeQueryEngine
) -> None:
    # Given the detections' confidences per category in the window, and Athena's approximate medians
    where, parameters = Chosen().where("confidence_per_category")
    values: dict[str, list[float]] = {}
    for category, confidence in engine.execute(
        f"SELECT top_category, confidence FROM v_detections WHERE {where}", parameters
    ).rows:
        values.setdefault(category, []).append(confidence)
    approx = dict(
        engine.execute(
            f"SELECT top_category, approx_percentile(confidence, 0.5) FROM v_detections WHERE {where} "
            "GROUP BY top_category",
            parameters,
        ).rows
    )
    # When the page is drawn
    guarded = open_page(browser, dashboard.path)
    boxes = {mark["x"]: mark for mark in marks(rendered(guarded), "confidence_per_category")}
    # Then each category's box has its quartiles by linear interpolation, and its range and count
    assert set(boxes) == set(values)
    for category, confidences in values.items():
        q1, median, q3 = statistics.quantiles(confidences, n=4, method="inclusive")
        box = boxes[category]
        assert float(box["q1"]) == pytest.approx(q1) and float(box["q3"]) == pytest.approx(q3)
        assert float(box["median"]) == pytest.approx(median) == pytest.approx(statistics.median(confidences))
        assert (float(box["min"]), float(box["max"])) == (min(confidences), max(confidences))
        assert int(box["count"]) == len(confidences)
        # And Athena's own (approximate) median lies within the box
        assert float(box["q1"]) <= approx[category] <= float(box["q3"])
    guarded.assert_clean()


def test_filters_set_through_the_controls_change_exactly_the_visuals_they_list(
    browser: BrowserContext, dashboard: WrittenDashboard, engine: LakeQueryEngine
) -> None:
    # Given the page
    guarded = open_page(browser, dashboard.path)
    page = rendered(guarded)
    before = {visual_id: drawn(page, visual_id) for visual_id in EXPECTED_SQL}
    # When a key prefix is typed (on the Review sheet, where it applies)
    page.click("nav.tabs button[data-sheet='Review']")
    page.fill("[data-filter=key_prefix] input", PREFIX)
    # Then the visuals it lists show SQL's groups with that WHERE, and the others are unchanged
    assert_all_visuals_match(page, engine, Chosen(prefix=PREFIX))
    assert drawn(page, "confidence_per_category") != before["confidence_per_category"]
    assert drawn(page, "failed_and_skipped_by_source") != before["failed_and_skipped_by_source"]
    assert drawn(page, "moderated_vs_flagged_per_day") == before["moderated_vs_flagged_per_day"]
    # When a category is ticked as well
    page.click("nav.tabs button[data-sheet='Categories']")
    page.click("[data-filter=category] summary")
    page.check(f"[data-filter=category] input[value='{CATEGORY}']")
    page.keyboard.press("Escape")  # closes the menu
    assert page.locator("[data-filter=category] details[open]").count() == 0
    # Then the category visuals show that category only, as SQL with both conditions says
    assert_all_visuals_match(page, engine, Chosen(prefix=PREFIX, category=CATEGORY))
    assert {series for series, _ in drawn(page, "flagged_videos_per_category")} == {CATEGORY}
    assert [mark["x"] for mark in marks(page, "confidence_per_category")] == [CATEGORY]
    assert page.inner_text("[data-filter=category] summary") == CATEGORY
    # When the date range starts later
    page.fill("[data-filter=date_range] input[data-bound=from]", NARROW_FROM)
    # Then every visual keeps only those days
    narrowed = Chosen(prefix=PREFIX, category=CATEGORY, day_from=NARROW_FROM)
    assert_all_visuals_match(page, engine, narrowed)
    assert min(mark["x"] for mark in marks(page, "moderated_vs_flagged_per_day")) >= NARROW_FROM
    # When the category is cleared again
    page.click("[data-filter=category] summary")
    page.click("[data-filter=category] button.clear")
    # Then its visuals show every category once more
    assert_all_visuals_match(page, engine, Chosen(prefix=PREFIX, day_from=NARROW_FROM))
    guarded.assert_clean()


def test_a_screenshot_of_every_sheet(browser: BrowserContext, dashboard: WrittenDashboard) -> None:
    # Given the page
    guarded = open_page(browser, dashboard.path)
    page = rendered(guarded)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for sheet in DASHBOARD.sheets:
        # When a sheet's tab is chosen
        page.click(f"nav.tabs button[data-sheet='{sheet.title}']")
        # Then only its visuals are shown, each with its marks, and a full-page screenshot is kept for people
        visible = page.eval_on_selector_all(
            ".sheet:not([hidden]) [data-visual-id]", "nodes => nodes.map(node => node.dataset.visualId)"
        )
        assert visible == [visual.id for visual in sheet.visuals]
        for visual_id in visible:
            assert page.locator(f'[data-visual-id="{visual_id}"] .mark').count() > 0, visual_id
        path = SCREENSHOTS / f"{sheet.title.lower()}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    guarded.assert_clean()


def test_an_empty_lake_renders_a_page_that_says_so(browser: BrowserContext, tmp_path: Path) -> None:
    # Given a lake without any objects
    with LakeQueryEngine(tmp_path / "lake") as empty:
        written = write_dashboard(EngineQueries(empty), tmp_path / "empty.html", stack=STACK, days=7, today=END_DAY)
    # When its page is opened
    guarded = open_page(browser, written.path)
    page = rendered(guarded)
    # Then it says there is no data, every visual says so too, no mark is drawn, and nothing went wrong
    assert "There is no data" in page.inner_text("[data-empty]")
    assert page.locator("[data-visual-id] .no-data").count() == len(DASHBOARD.visuals)
    assert page.locator(".mark").count() == 0
    guarded.assert_clean()


def test_the_kinds_and_aggregations_the_spec_does_not_use_yet(
    browser: BrowserContext, engine: LakeQueryEngine, tmp_path: Path
) -> None:
    # Given a spec with a KPI (avg), side-by-side bars (count and max) and a count-distinct KPI over two views
    hours = Measure("moderated_hours", Aggregation.AVG, "Hours")
    kpi = Visual("avg_hours", "Average hours", VisualKind.KPI, "v_daily_summary", (), (hours,))
    per_day = (Measure("videos", Aggregation.COUNT, "Days"), Measure("videos", Aggregation.MAX, "Busiest day"))
    bars = Visual("by_source", "Per source", VisualKind.BAR, "v_daily_summary", ("source",), per_day)
    distinct = Measure("video_id", Aggregation.COUNT_DISTINCT, "Videos")
    labels = Visual("videos", "Videos with detections", VisualKind.KPI, "v_detections", (), (distinct,))
    spec = Dashboard("Other kinds", (Sheet("One", (kpi, bars, labels)),))
    data = fetch_dashboard(EngineQueries(engine), stack=STACK, days=DAYS, today=END_DAY, dashboard=spec)
    path = save_page(data, tmp_path / "kinds.html", spec)
    # When the page is opened
    guarded = open_page(browser, path)
    page = rendered(guarded)
    # Then each number is what SQL says
    where, parameters = "dt BETWEEN ? AND ?", [execution_parameter(DAY_FROM), execution_parameter(END_DAY)]
    [(average, videos)] = engine.execute(
        f"SELECT (SELECT avg(moderated_hours) FROM v_daily_summary WHERE {where}),"
        f" (SELECT count(DISTINCT video_id) FROM v_detections WHERE {where})",
        parameters * 2,
    ).rows
    [average_mark] = marks(page, "avg_hours")
    assert float(average_mark["value"]) == pytest.approx(average)
    [distinct_mark] = marks(page, "videos")
    assert int(distinct_mark["value"]) == videos
    grouped = engine.execute(
        f"SELECT source, count(videos), max(videos) FROM v_daily_summary WHERE {where} GROUP BY source", parameters
    ).rows
    want = {("Days", s): n for s, n, _ in grouped} | {("Busiest day", s): m for s, _, m in grouped}
    assert drawn(page, "by_source") == want
    guarded.assert_clean()


# ------------------------------------------------------------------------------------------------ controls


def test_control_a_script_error_on_the_page_is_caught(
    browser: BrowserContext, dashboard: WrittenDashboard, tmp_path: Path
) -> None:
    # Given the page with a spec the renderer cannot draw (a visual kind it does not know)
    broken = tmp_path / "broken.html"
    text = dashboard.path.read_text(encoding="utf-8")
    assert text.count('"kind":"box"') == 1
    broken.write_text(text.replace('"kind":"box"', '"kind":"pie"'), encoding="utf-8")
    # When it is opened
    guarded = open_page(browser, broken)
    # Then the guard has the renderer's error
    assert any("unknown visual kind pie" in error for error in guarded.errors), guarded.problems()
    with pytest.raises(AssertionError):
        guarded.assert_clean()


def test_control_a_request_for_anything_but_the_file_is_caught(
    browser: BrowserContext, dashboard: WrittenDashboard, tmp_path: Path
) -> None:
    # Given the page with a stylesheet from a CDN and an image beside the file
    leaky = tmp_path / "leaky.html"
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    extra = '<link rel="stylesheet" href="https://cdn.example.com/x.css"><img src="logo.png" alt="">'
    leaky.write_text(dashboard.path.read_text(encoding="utf-8").replace("</head>", extra + "</head>"), "utf-8")
    # When it is opened
    guarded = open_page(browser, leaky)
    # Then both loads are caught: refused by the page's own content policy (a console error) or blocked here
    problems = " ".join(guarded.problems())
    assert re.search(r"cdn\.example\.com", problems) and "logo.png" in problems, guarded.problems()
    with pytest.raises(AssertionError):
        guarded.assert_clean()


def test_the_content_policy_admits_the_renderer_only(dashboard: WrittenDashboard) -> None:
    # Given the page's text
    text = dashboard.path.read_text(encoding="utf-8")
    # Then its policy forbids every fetch and allows only the inline renderer (by its hash) and inline styles
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert policy is not None
    assert "default-src 'none'" in policy.group(1) and "script-src 'sha256-" in policy.group(1)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
