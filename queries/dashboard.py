"""The modlake dashboard, described once: sheets, visuals (each over one view of queries/views/), filters.

The stack builds the QuickSight dashboard from DASHBOARD and the CLI renders the same one on a laptop, so the
spec names only views and their columns; how each kind is drawn is the builder's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class VisualKind(StrEnum):
    """How a visual is drawn."""

    LINE = "line"  # x: one date dimension; one line per measure (per group_by value when it is set)
    BAR = "bar"  # bars per dimension value, one per measure side by side (or per group_by value)
    STACKED_BAR = "stacked_bar"  # bars per dimension value, stacked by the group_by column
    BOX = "box"  # distribution of one raw (unaggregated) measure per dimension value
    TABLE = "table"  # rows of raw columns, sorted and limited
    KPI = "kpi"  # one aggregated number


class Aggregation(StrEnum):
    """How a measure folds the view's rows of one group."""

    SUM = "sum"
    MAX = "max"
    AVG = "avg"
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    NONE = "none"  # raw values: table columns and box-plot distributions


NUMERIC_AGGREGATIONS = frozenset({Aggregation.SUM, Aggregation.MAX, Aggregation.AVG})


class FilterKind(StrEnum):
    """What a filter control lets the viewer choose."""

    DATE_RANGE = "date_range"  # from..to over a date column
    VALUES = "values"  # one or more of the column's values
    PREFIX = "prefix"  # values starting with the typed text (an S3 key prefix)


@dataclass(frozen=True)
class Measure:
    """A view column and how it is aggregated; label is what the viewer reads."""

    column: str
    aggregation: Aggregation
    label: str


@dataclass(frozen=True)
class Sort:
    """Order of a table's rows."""

    column: str
    descending: bool = True


@dataclass(frozen=True)
class Visual:
    """One chart or table over one view: dimensions to group by, measures to show, an optional series split."""

    id: str
    title: str
    kind: VisualKind
    view: str
    dimensions: tuple[str, ...]
    measures: tuple[Measure, ...]
    group_by: str | None = None  # a column splitting the series, e.g. source ('upload' | 'backfill')
    sort: Sort | None = None
    limit: int | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every view column the visual reads."""
        named = [*self.dimensions, *(m.column for m in self.measures)]
        named += [c for c in (self.group_by, self.sort.column if self.sort else None) if c]
        return tuple(dict.fromkeys(named))


@dataclass(frozen=True)
class Sheet:
    """One tab of the dashboard."""

    title: str
    visuals: tuple[Visual, ...]


@dataclass(frozen=True)
class Filter:
    """One filter control; it filters the listed visuals on `column`, which each of their views has."""

    id: str
    title: str
    column: str
    kind: FilterKind
    visuals: tuple[str, ...]


@dataclass(frozen=True)
class Dashboard:
    """The whole dashboard: its sheets and the filters across them."""

    title: str
    sheets: tuple[Sheet, ...]
    filters: tuple[Filter, ...] = field(default=())

    @property
    def visuals(self) -> tuple[Visual, ...]:
        return tuple(v for sheet in self.sheets for v in sheet.visuals)

    def visual(self, visual_id: str) -> Visual:
        for v in self.visuals:
            if v.id == visual_id:
                return v
        raise KeyError(f"no visual {visual_id!r} in the dashboard")


# The days the dashboard opens on, today (UTC) included: QuickSight's default date range and the window
# `modlake dashboard` reads without --days.
DEFAULT_DAYS = 30

_DAY = "processed_date"
_SOURCE = "source"


def _sum(column: str, label: str) -> Measure:
    return Measure(column, Aggregation.SUM, label)


def _raw(column: str, label: str) -> Measure:
    return Measure(column, Aggregation.NONE, label)


MODERATED_VS_FLAGGED = Visual(
    id="moderated_vs_flagged_per_day",
    title="Moderated and flagged videos per day",
    kind=VisualKind.LINE,
    view="v_daily_summary",
    dimensions=(_DAY,),
    measures=(_sum("moderated", "Moderated"), _sum("flagged", "Flagged")),
)
VIDEOS_BY_SOURCE = Visual(
    id="videos_per_day_by_source",
    title="Videos per day: uploads and backfill",
    kind=VisualKind.STACKED_BAR,
    view="v_daily_summary",
    dimensions=(_DAY,),
    measures=(_sum("videos", "Videos"),),
    group_by=_SOURCE,
)
MODERATED_HOURS = Visual(
    id="moderated_hours_per_day",
    title="Hours of video moderated per day",
    kind=VisualKind.STACKED_BAR,
    view="v_daily_summary",
    dimensions=(_DAY,),
    measures=(_sum("moderated_hours", "Hours moderated"),),
    group_by=_SOURCE,
)
TIME_TO_OUTCOME = Visual(
    id="time_to_outcome_per_day",
    title="Time from upload to outcome (seconds, p50 and p95)",
    kind=VisualKind.LINE,
    view="v_time_to_outcome",
    dimensions=(_DAY,),
    # one row per day and source: split by source, MAX of a row's percentile is the percentile itself
    measures=(Measure("p50_seconds", Aggregation.MAX, "p50"), Measure("p95_seconds", Aggregation.MAX, "p95")),
    group_by=_SOURCE,
)
FLAGGED_BY_CATEGORY = Visual(
    id="flagged_videos_per_category",
    title="Flagged videos per category over time",
    kind=VisualKind.LINE,
    view="v_category_daily",
    dimensions=(_DAY,),
    measures=(_sum("flagged_videos", "Flagged videos"),),
    group_by="top_category",
)
CONFIDENCE_BY_CATEGORY = Visual(
    id="confidence_per_category",
    title="Confidence distribution per category",
    kind=VisualKind.BOX,
    view="v_detections",
    dimensions=("top_category",),
    measures=(_raw("confidence", "Confidence"),),
)
MOST_SEVERE = Visual(
    id="most_severe_flagged_videos",
    title="Most severe flagged videos",
    kind=VisualKind.TABLE,
    view="v_flagged_videos",
    dimensions=(),
    measures=(
        _raw("video_uri", "S3 location"),
        _raw("max_confidence", "Highest confidence"),
        _raw("flagged_categories", "Flagged categories"),
        _raw("first_flagged_seconds", "First flagged at (s)"),
        _raw("source", "Source"),
        _raw("processed_at", "Processed at"),
    ),
    sort=Sort("max_confidence"),
    limit=50,
)
UNMODERATED_BY_REASON = Visual(
    id="failed_and_skipped_by_reason",
    title="Failed and skipped videos by reason",
    kind=VisualKind.STACKED_BAR,
    view="v_unmoderated_videos",
    dimensions=("reason",),
    measures=(Measure("video_id", Aggregation.COUNT_DISTINCT, "Videos"),),
    group_by="status",
)
UNMODERATED_BY_SOURCE = Visual(
    id="failed_and_skipped_by_source",
    title="Failed and skipped videos per day: uploads and backfill",
    kind=VisualKind.STACKED_BAR,
    view="v_unmoderated_videos",
    dimensions=(_DAY,),
    measures=(Measure("video_id", Aggregation.COUNT_DISTINCT, "Videos"),),
    group_by=_SOURCE,
)

REVIEW_QUEUE = Visual(
    id="review_queue",
    title="Awaiting review: flagged videos without a verdict, oldest first",
    kind=VisualKind.TABLE,
    view="v_review_queue",
    dimensions=(),
    measures=(
        _raw("video_uri", "S3 location"),
        _raw("flagged_categories", "Flagged categories"),
        _raw("max_confidence", "Highest confidence"),
        _raw("source", "Source"),
        _raw("processed_at", "Flagged at"),
    ),
    sort=Sort("processed_at", descending=False),
    limit=50,
)
VERDICTS_BY_CATEGORY = Visual(
    id="verdicts_per_category",
    title="Reviewers' verdicts per category (each video by its latest verdict)",
    kind=VisualKind.BAR,
    view="v_precision",
    dimensions=("top_category",),
    measures=(_sum("confirmed", "Confirmed"), _sum("overturned", "Overturned")),
)

SHEETS = (
    Sheet("Volume", (MODERATED_VS_FLAGGED, VIDEOS_BY_SOURCE, MODERATED_HOURS, TIME_TO_OUTCOME)),
    Sheet("Categories", (FLAGGED_BY_CATEGORY, CONFIDENCE_BY_CATEGORY)),
    Sheet("Review", (MOST_SEVERE, UNMODERATED_BY_REASON, UNMODERATED_BY_SOURCE, REVIEW_QUEUE, VERDICTS_BY_CATEGORY)),
)
_ALL = tuple(visual for sheet in SHEETS for visual in sheet.visuals)


def _ids(*visuals: Visual) -> tuple[str, ...]:
    return tuple(v.id for v in visuals)


DASHBOARD = Dashboard(
    title="modlake moderation",
    sheets=SHEETS,
    filters=(
        # every view but v_precision has processed_date (the UTC date of dt): the date range filters those visuals;
        # v_precision's dt is the day of each video's latest verdict, which its own range filters
        Filter(
            "date_range",
            "Processed between",
            _DAY,
            FilterKind.DATE_RANGE,
            _ids(*(v for v in _ALL if v is not VERDICTS_BY_CATEGORY)),
        ),
        Filter(
            "review_date_range", "Reviewed between", "recorded_date", FilterKind.DATE_RANGE, _ids(VERDICTS_BY_CATEGORY)
        ),
        # only the per-detection and per-category views carry a single category per row
        Filter(
            "category",
            "Category",
            "top_category",
            FilterKind.VALUES,
            _ids(FLAGGED_BY_CATEGORY, CONFIDENCE_BY_CATEGORY, VERDICTS_BY_CATEGORY),
        ),
        # only the per-video and per-detection views keep the S3 key; the daily ones are aggregated past it
        Filter(
            "key_prefix",
            "S3 key prefix",
            "object_key",
            FilterKind.PREFIX,
            _ids(CONFIDENCE_BY_CATEGORY, MOST_SEVERE, UNMODERATED_BY_REASON, UNMODERATED_BY_SOURCE, REVIEW_QUEUE),
        ),
        Filter("source", "Source", _SOURCE, FilterKind.VALUES, _ids(*_ALL)),
    ),
)
