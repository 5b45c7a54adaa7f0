"""`modlake dashboard`: the dashboard of queries/dashboard.py as one self-contained HTML file, from the stack's Athena.

One query per view the spec uses selects exactly the columns its visuals and filters read, for the last N UTC
days (a `dt` range, so Athena prunes partitions), newest first and capped at a row limit the page reports when
hit. The page embeds the spec and the rows as JSON and draws every chart in the browser with the hand-written
renderer of cli/dashboard_assets/ (inline CSS and JS, nothing fetched when it is opened).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from string import Template
from typing import Any

from rich.console import Console

from cli.errors import CliError
from functions.common.models import utc_now
from functions.common.ports import QueryRunner
from queries import SqlFile, execution_parameter
from queries.dashboard import DASHBOARD, DEFAULT_DAYS, Dashboard

MAX_DAYS = 3660  # ten years: a bigger window is a typo, not a dashboard
ROW_CAP = 100_000  # rows per view embedded in the page (a browser still draws that many quickly)
DEFAULT_OUT = Path("build") / "dashboard" / "dashboard.html"
ASSETS_DIR = Path(__file__).resolve().parent / "dashboard_assets"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Inside <script type="application/json">, "<" only ever occurs in JSON strings, where \u003c reads the same:
# no "</script>" or "<!--" in the data can end the element early. ">" and "&" go too, for good measure.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


@dataclass(frozen=True)
class Window:
    """The UTC days the dashboard covers, both inclusive."""

    day_from: date
    day_to: date

    @property
    def days(self) -> int:
        """How many days the window spans."""
        return (self.day_to - self.day_from).days + 1


@dataclass(frozen=True)
class ViewRows:
    """One view's rows for the page: its selected columns, rows as lists, and whether the cap cut them."""

    view: str
    columns: tuple[str, ...]
    rows: list[list[Any]]
    truncated: bool
    oldest_day: str | None  # the oldest dt among the rows kept (newest first, so a cut starts after it)


@dataclass(frozen=True)
class DashboardData:
    """Everything the page shows: which stack, which days, when, and each view's rows."""

    stack: str
    window: Window
    generated_at: datetime
    row_cap: int
    views: tuple[ViewRows, ...]

    @property
    def is_empty(self) -> bool:
        """True when no view has a row in the window."""
        return not any(view.rows for view in self.views)

    @property
    def notices(self) -> list[str]:
        """One sentence per view whose rows the cap cut, saying what the page shows instead."""
        return [
            f"{view.view} has more than {self.row_cap:,} rows in these days: the page shows its newest "
            f"{self.row_cap:,}, back to {view.oldest_day} (that day possibly incomplete)"
            for view in self.views
            if view.truncated
        ]


@dataclass(frozen=True)
class WrittenDashboard:
    """Where the page was written and what it holds."""

    path: Path
    data: DashboardData


def check_days(days: int) -> int:
    """A --days value: at least one day, at most MAX_DAYS."""
    if not 1 <= days <= MAX_DAYS:
        raise CliError(f"bad --days {days}: expected a number of days from 1 to {MAX_DAYS}")
    return days


def window_of(days: int, today: date) -> Window:
    """The last `days` UTC days, today included."""
    return Window(today - timedelta(days=check_days(days) - 1), today)


def view_columns(dashboard: Dashboard = DASHBOARD) -> dict[str, tuple[str, ...]]:
    """Per view the spec uses (in spec order), the columns its visuals and the filters on them read."""
    columns: dict[str, list[str]] = {}
    for visual in dashboard.visuals:
        named = columns.setdefault(visual.view, [])
        named += [c for c in visual.columns if c not in named]
    for spec_filter in dashboard.filters:
        for visual_id in spec_filter.visuals:
            named = columns[dashboard.visual(visual_id).view]
            if spec_filter.column not in named:
                named.append(spec_filter.column)
    return {view: tuple(named) for view, named in columns.items()}


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain view or column name")
    return name


def view_query(view: str, columns: Sequence[str]) -> SqlFile:
    """The page's query of one view: its columns for a dt range, newest first, up to a row limit (parameters)."""
    # Only the spec's own view and column names are spliced in (checked to be plain names); every value is a `?`.
    select = ", ".join(_identifier(column) for column in dict.fromkeys([*columns, "dt"]))
    sql = (
        f"-- Purpose: The dashboard's rows of {_identifier(view)}: the columns its visuals and filters read,\n"
        "-- newest first (dt descending), for the days the page covers.\n"
        "-- Parameters:\n"
        "--   day_from: first dt partition, yyyy-MM-dd (inclusive)\n"
        "--   day_to: last dt partition, yyyy-MM-dd (inclusive)\n"
        "--   row_limit: how many rows at most\n"
        f"SELECT {select}\nFROM {view}\nWHERE dt BETWEEN ? AND ?\nORDER BY dt DESC\nLIMIT ?\n"
    )
    return SqlFile(
        name=f"dashboard_{view}",
        description=f"The dashboard's rows of {view}",
        parameters=("day_from", "day_to", "row_limit"),
        sql=sql,
    )


def view_requests(
    window: Window, row_cap: int | None = None, dashboard: Dashboard = DASHBOARD
) -> list[tuple[SqlFile, tuple[str, ...]]]:
    """One query per view, asking for one row past the cap (default ROW_CAP) so a cut is known, not guessed."""
    row_cap = row_cap or ROW_CAP
    parameters = (execution_parameter(window.day_from), execution_parameter(window.day_to), str(row_cap + 1))
    return [(view_query(view, columns), parameters) for view, columns in view_columns(dashboard).items()]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity; the page treats them as missing
    return value


def fetch_dashboard(
    runner: QueryRunner,
    *,
    stack: str,
    days: int = DEFAULT_DAYS,
    today: date | None = None,
    row_cap: int | None = None,
    clock: Callable[[], datetime] = utc_now,
    dashboard: Dashboard = DASHBOARD,
) -> DashboardData:
    """Run the views' queries (concurrently) and keep each one's rows, at most row_cap (default ROW_CAP) of them."""
    row_cap = row_cap or ROW_CAP
    generated_at = clock()
    window = window_of(days, today or generated_at.astimezone(UTC).date())
    columns = view_columns(dashboard)
    answers = runner.run_all(view_requests(window, row_cap, dashboard))
    views = []
    for (view, names), rows in zip(columns.items(), answers, strict=True):
        kept = rows[:row_cap]
        views.append(
            ViewRows(
                view=view,
                columns=names,
                rows=[[_json_value(row.get(name)) for name in names] for row in kept],
                truncated=len(rows) > row_cap,
                oldest_day=str(kept[-1]["dt"]) if kept else None,
            )
        )
    return DashboardData(stack, window, generated_at, row_cap, tuple(views))


def script_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: nothing in it can close the element or open a comment."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).translate(_SCRIPT_SAFE)


def _asset(name: str, closing_tag: str) -> str:
    text = (ASSETS_DIR / name).read_text(encoding="utf-8")
    if closing_tag in text.lower():
        raise ValueError(f"{name} contains {closing_tag}, which would end its inline element")
    return text


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_page(data: DashboardData, dashboard: Dashboard = DASHBOARD) -> str:
    """The whole page: header, notices, the spec and rows as JSON, the inline CSS and renderer."""
    script = _asset("dashboard.js", "</script")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    window = data.window
    meta = {
        "stack": data.stack,
        "day_from": window.day_from.isoformat(),
        "day_to": window.day_to.isoformat(),
        "generated_at": data.generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "row_cap": data.row_cap,
        "notices": data.notices,
    }
    views = {
        view.view: {"columns": list(view.columns), "rows": view.rows, "truncated": view.truncated}
        for view in data.views
    }
    notices = "".join(f'<p class="notice" role="status">{html.escape(text)}</p>' for text in data.notices)
    if data.is_empty:
        notices += (
            '<p class="empty" data-empty>There is no data: no view of this stack has a row between '
            f"{window.day_from.isoformat()} and {window.day_to.isoformat()}.</p>"
        )
    template = Template((ASSETS_DIR / "dashboard.html").read_text(encoding="utf-8"))
    return template.substitute(
        title=html.escape(dashboard.title),
        stack=html.escape(data.stack),
        day_from=window.day_from.isoformat(),
        day_to=window.day_to.isoformat(),
        days=f"{window.days} day{'s' if window.days != 1 else ''}",
        generated=_moment(data.generated_at),
        notices=notices,
        css=_asset("dashboard.css", "</style"),
        script=script,
        script_hash=digest,
        spec_json=script_json(asdict(dashboard)),
        views_json=script_json(views),
        meta_json=script_json(meta),
    )


def save_page(data: DashboardData, out: Path, dashboard: Dashboard = DASHBOARD) -> Path:
    """Write the page to `out` (its folder created); a folder or unwritable path is a one-line error."""
    if out.is_dir():
        raise CliError(f"--out {out} is a folder: name the HTML file, e.g. {out / DEFAULT_OUT.name}")
    page = render_page(data, dashboard)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write {out}: {error.strerror or error}") from None
    return out


def write_dashboard(
    runner: QueryRunner,
    out: Path = DEFAULT_OUT,
    *,
    stack: str,
    days: int = DEFAULT_DAYS,
    today: date | None = None,
    row_cap: int | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> WrittenDashboard:
    """Fetch the views' rows through `runner` and write the page to `out` (what the command and the demo call)."""
    data = fetch_dashboard(runner, stack=stack, days=days, today=today, row_cap=row_cap, clock=clock)
    return WrittenDashboard(save_page(data, out), data)


def render_written(written: WrittenDashboard, console: Console, err: Console) -> None:
    """The page's path and what it holds on the console; the cap notices on stderr."""
    data = written.data
    for notice in data.notices:
        err.print(f"modlake: note: {notice}", markup=False, soft_wrap=True)
    window = data.window
    if data.is_empty:
        console.print(f"no data between {window.day_from} and {window.day_to}: the page says so", markup=False)
    else:
        counts = ", ".join(f"{view.view} {len(view.rows):,}" for view in data.views)
        console.print(f"rows from {window.day_from} to {window.day_to}: {counts}", style="dim", markup=False)
    console.print(f"Dashboard: {written.path}", markup=False, soft_wrap=True)


def open_in_browser(path: Path) -> None:
    """Open the page in the user's browser; a machine without one is told where the file is."""
    if not webbrowser.open(path.resolve().as_uri()):
        raise CliError(f"no browser could be started: open {path.resolve()} yourself")
