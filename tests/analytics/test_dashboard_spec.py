"""The dashboard spec (queries/dashboard.py) against the views it reads: columns that exist with usable types,
the visuals the dashboard promises, and filters that reach every visual whose view has their column."""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import queries
from queries import dashboard
from queries.dashboard import (
    DASHBOARD,
    NUMERIC_AGGREGATIONS,
    Aggregation,
    Dashboard,
    Filter,
    FilterKind,
    Measure,
    Visual,
    VisualKind,
)
from sandbox.athena.engine import LakeQueryEngine

NUMERIC = {"bigint", "integer", "double"}
TEMPORAL = {"date", "timestamp"}
# What the dashboard must show: visual id → (view, columns it must read)
REQUIRED = {
    "moderated_vs_flagged_per_day": ("v_daily_summary", {"processed_date", "moderated", "flagged"}),
    "flagged_videos_per_category": ("v_category_daily", {"processed_date", "top_category", "flagged_videos"}),
    "confidence_per_category": ("v_detections", {"top_category", "confidence"}),
    "most_severe_flagged_videos": ("v_flagged_videos", {"video_uri", "max_confidence"}),
    "failed_and_skipped_by_reason": ("v_unmoderated_videos", {"reason", "status"}),
    "moderated_hours_per_day": ("v_daily_summary", {"processed_date", "moderated_hours"}),
    "time_to_outcome_per_day": ("v_time_to_outcome", {"processed_date", "p50_seconds", "p95_seconds"}),
}
Schemas = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def schemas(engine: LakeQueryEngine) -> Schemas:
    """Every view's output columns and types, as the engine returns them over the sample lake."""
    return {
        view.name: {c.name: c.athena_type for c in engine.execute(f"SELECT * FROM {view.name} WHERE false").columns}
        for view in queries.views()
    }


def visual_problems(visual: Visual, schemas: Schemas) -> list[str]:
    """What is wrong with one visual against the views' schemas (empty when it can be drawn)."""
    if visual.view not in schemas:
        return [f"{visual.id}: no view {visual.view}"]
    columns = schemas[visual.view]
    problems = [f"{visual.id}: {visual.view} has no column {c}" for c in visual.columns if c not in columns]
    if problems:
        return problems
    for m in visual.measures:
        if m.aggregation in NUMERIC_AGGREGATIONS and columns[m.column] not in NUMERIC:
            problems.append(f"{visual.id}: {m.aggregation} of {m.column} ({columns[m.column]})")
    if visual.kind is VisualKind.LINE and columns[visual.dimensions[0]] not in TEMPORAL:
        problems.append(f"{visual.id}: a line's x axis must be a date, not {visual.dimensions[0]}")
    if visual.kind is VisualKind.BOX and any(columns[m.column] not in NUMERIC for m in visual.measures):
        problems.append(f"{visual.id}: a box plot needs a numeric measure")
    raw = visual.kind in (VisualKind.TABLE, VisualKind.BOX)
    if any((m.aggregation is Aggregation.NONE) != raw for m in visual.measures):
        problems.append(f"{visual.id}: only tables and box plots take raw values, and they take only those")
    if visual.kind is VisualKind.STACKED_BAR and visual.group_by is None:
        problems.append(f"{visual.id}: a stacked bar needs a group_by column")
    return problems


def filter_problems(dashboard: Dashboard, schemas: Schemas) -> list[str]:
    """Filters naming a column a filtered visual's view lacks, or missing a visual whose view has it."""
    problems = []
    for f in dashboard.filters:
        filtered = {v.id for v in dashboard.visuals if v.id in f.visuals}
        problems += [f"{f.id}: no visual {i}" for i in sorted(set(f.visuals) - filtered)]
        for v in dashboard.visuals:
            has_column = f.column in schemas.get(v.view, {})
            if v.id in filtered and not has_column:
                problems.append(f"{f.id}: {v.id}'s view {v.view} has no column {f.column}")
            if v.id not in filtered and has_column:
                problems.append(f"{f.id}: does not filter {v.id}, whose view {v.view} has {f.column}")
        if f.kind is FilterKind.DATE_RANGE and any(
            schemas[dashboard.visual(i).view][f.column] != "date" for i in filtered
        ):
            problems.append(f"{f.id}: a date range needs a date column")
    return problems


@pytest.mark.parametrize("visual", DASHBOARD.visuals, ids=lambda v: v.id)
def test_each_visual_reads_columns_its_view_returns_with_usable_types(visual: Visual, schemas: Schemas) -> None:
    # Given a visual of the dashboard and its view's columns as the engine returns them
    # When it is checked / Then every column exists and has a type its role can use
    assert visual_problems(visual, schemas) == []


def test_the_visual_check_rejects_missing_columns_and_wrong_types(schemas: Schemas) -> None:
    # Given visuals broken one way each
    base = DASHBOARD.visual("moderated_hours_per_day")
    broken = {
        "missing column": replace(base, measures=(Measure("no_such_column", Aggregation.SUM, "x"),)),
        "missing view": replace(base, view="v_no_such_view"),
        "sum of text": replace(base, measures=(Measure("source", Aggregation.SUM, "x"),)),
        "line over text": replace(base, kind=VisualKind.LINE, dimensions=("source",)),
        "raw value in a bar": replace(base, measures=(Measure("videos", Aggregation.NONE, "x"),)),
        "stacked without group": replace(base, group_by=None),
    }
    # When each is checked / Then each has a problem
    assert {name: bool(visual_problems(v, schemas)) for name, v in broken.items()} == dict.fromkeys(broken, True)


def test_every_required_visual_is_present_over_its_view() -> None:
    # Given the visuals the dashboard promises, When the spec is read
    present = {v.id: (v.view, set(v.columns)) for v in DASHBOARD.visuals}
    # Then each is there, over its view, reading at least its columns; ids are unique
    for visual_id, (view, columns) in REQUIRED.items():
        assert visual_id in present, visual_id
        assert present[visual_id][0] == view and columns <= present[visual_id][1], visual_id
    assert len(present) == len(DASHBOARD.visuals)


def test_the_dashboard_shows_the_upload_backfill_split() -> None:
    # Given the visuals, When their series splits are read
    split = {v.id for v in DASHBOARD.visuals if v.group_by == "source"}
    # Then volume, hours, time to outcome and failures are split by source, and the viewer can filter on it
    assert {"videos_per_day_by_source", "moderated_hours_per_day", "time_to_outcome_per_day"} <= split
    assert {"failed_and_skipped_by_source"} <= split
    assert any(f.column == "source" for f in DASHBOARD.filters)


def test_the_date_category_and_prefix_filters_reach_every_visual_whose_view_has_their_column(
    schemas: Schemas,
) -> None:
    # Given the dashboard's filters, When they are checked against the views
    kinds = {(f.column, f.kind) for f in DASHBOARD.filters}
    # Then the date range, category and key prefix filters exist on the intended columns
    assert {
        ("processed_date", FilterKind.DATE_RANGE),
        ("top_category", FilterKind.VALUES),
        ("object_key", FilterKind.PREFIX),
    } <= kinds
    # And each filters exactly the visuals whose view has its column
    assert filter_problems(DASHBOARD, schemas) == []
    # And every visual has a date range: when its video was processed, or (reviewers' verdicts) when it was reviewed
    ranges = [f for f in DASHBOARD.filters if f.kind is FilterKind.DATE_RANGE]
    assert sorted(v for f in ranges for v in f.visuals) == sorted(v.id for v in DASHBOARD.visuals)


def test_the_filter_check_rejects_a_filter_that_misses_or_overreaches(schemas: Schemas) -> None:
    # Given a prefix filter that forgets a visual with object_key, and one that claims a view without it
    prefix = next(f for f in DASHBOARD.filters if f.kind is FilterKind.PREFIX)
    forgets = replace(prefix, visuals=prefix.visuals[1:])
    overreaches = replace(prefix, visuals=(*prefix.visuals, "moderated_hours_per_day"))
    unknown = Filter("x", "x", "processed_date", FilterKind.DATE_RANGE, ("no_such_visual",))
    # When each is checked / Then it is reported
    for bad in (forgets, overreaches, unknown):
        assert filter_problems(replace(DASHBOARD, filters=(bad,)), schemas), bad.id


def test_the_spec_imports_only_the_standard_library_and_queries() -> None:
    # Given the spec module's source, When its imports are read
    tree = ast.parse(Path(dashboard.__file__).read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    # Then each is the standard library, glue or queries (so stacks/ and cli/ can both import it)
    assert names <= set(sys.stdlib_module_names) | {"__future__", "glue", "queries"}
