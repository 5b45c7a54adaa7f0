"""queries.dashboard's spec as a QuickSight dashboard Definition: the API's PascalCase DashboardVersionDefinition.

Pure data in, data out: the stack passes each view's dataset ARN (a token) and QuickSight column types, and puts
the result into the Dashboard and Analysis resources unchanged. How each spec kind maps to QuickSight:

- line → LineChartVisual; bar / stacked_bar → BarChartVisual, CLUSTERED / STACKED; box → BoxPlotVisual over the raw
  values; table → TableVisual with unaggregated field wells, sorted, the limit as its page size; kpi → KPIVisual.
- a date column is a DateDimensionField by DAY; sum/max/avg a NumericalMeasureField; count / count_distinct a
  CategoricalMeasureField COUNT / DISTINCT_COUNT; group_by splits the series by colour, or, with more than one
  measure (QuickSight allows one value with Colors), into small multiples.
- a filter is a filter group across datasets (by column name) scoped to exactly its visuals on each sheet, with a
  control on each of those sheets: date range → TimeRangeFilter and a date range picker, values → CategoryFilter and
  a multi-select dropdown, prefix → CategoryFilter STARTS_WITH and a text field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from queries.dashboard import (
    DEFAULT_DAYS,
    Aggregation,
    Dashboard,
    Filter,
    FilterKind,
    Sheet,
    Visual,
    VisualKind,
)

# QuickSight's pattern for sheet, visual, filter and control ids ([\w\-]+, 1-512 characters).
RESOURCE_ID = re.compile(r"[\w-]{1,512}")
FIELD_ID_MAX = 512
NUMERIC_TYPES = frozenset({"INTEGER", "DECIMAL"})
DATE_TYPE = "DATETIME"
STRING_TYPE = "STRING"
SIMPLE_AGGREGATIONS: Mapping[Aggregation, str] = {
    Aggregation.SUM: "SUM",
    Aggregation.MAX: "MAX",
    Aggregation.AVG: "AVERAGE",
}
CATEGORICAL_AGGREGATIONS: Mapping[Aggregation, str] = {
    Aggregation.COUNT: "COUNT",
    Aggregation.COUNT_DISTINCT: "DISTINCT_COUNT",
}
# The date range a dashboard opens with: the last DEFAULT_DAYS days up to today (UTC), which the viewer widens.
DATE_RANGE_FROM = f"addDateTime(-{DEFAULT_DAYS - 1}, 'DD', truncDate('DD', now()))"
DATE_RANGE_TO = "truncDate('DD', now())"
# Sheet grid: 36 columns; two charts side by side, a table across the whole width.
GRID_COLUMNS = 36
CHART_SPAN = GRID_COLUMNS // 2
VISUAL_ROWS = 12
# The sheet's control bar: a 12-column grid, four controls to a row.
CONTROL_COLUMNS = 12
CONTROL_SPAN = 3

ColumnTypes = Mapping[str, Mapping[str, str]]
"""View name → column name → QuickSight input column type (STRING, INTEGER, DECIMAL, DATETIME, BOOLEAN)."""


def dashboard_definition(
    dashboard: Dashboard, data_set_arns: Mapping[str, str], column_types: ColumnTypes
) -> dict[str, Any]:
    """The Definition of CreateDashboard (and CreateAnalysis) for the spec; ValueError if the spec cannot be drawn."""
    sheet_ids = _sheet_ids(dashboard.sheets)
    views = list(dict.fromkeys(v.view for v in dashboard.visuals))
    missing = [view for view in views if view not in data_set_arns or view not in column_types]
    if missing:
        raise ValueError(f"no dataset for view(s) {', '.join(missing)}")
    builder = _Builder(column_types)
    filters = [(spec, builder.filter_scope(dashboard, spec, sheet_ids)) for spec in dashboard.filters]
    sheets = []
    for sheet in dashboard.sheets:
        sheet_id = sheet_ids[sheet.title]
        controls = [_control(spec, sheet_id, len(scope) > 1) for spec, scope in filters if sheet_id in scope]
        sheets.append(_sheet(sheet, sheet_id, [builder.visual(v) for v in sheet.visuals], controls))
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": view, "DataSetArn": data_set_arns[view]} for view in views],
        "Sheets": sheets,
        "FilterGroups": [builder.filter_group(dashboard, spec, scope) for spec, scope in filters],
    }


def filter_control_id(filter_id: str, sheet_id: str) -> str:
    """The control of a filter on one sheet (control ids are unique across the dashboard)."""
    return f"{filter_id}-{sheet_id}-control"


def field_id(visual: Visual, column: str, aggregation: Aggregation | None = None) -> str:
    """A field's id within its visual: visual id and column, plus the aggregation for an aggregated measure."""
    suffix = f".{aggregation.value}" if aggregation is not None and aggregation is not Aggregation.NONE else ""
    return f"{visual.id}.{column}{suffix}"


def _sheet_ids(sheets: tuple[Sheet, ...]) -> dict[str, str]:
    ids = {sheet.title: re.sub(r"[^\w-]+", "-", sheet.title.lower()).strip("-") for sheet in sheets}
    for title, sheet_id in ids.items():
        _check_id(sheet_id, f"sheet {title!r}")
    if len(set(ids.values())) != len(sheets):
        raise ValueError(f"sheet titles must give distinct ids, got {sorted(ids.values())}")
    return ids


def _check_id(value: str, what: str) -> str:
    if not RESOURCE_ID.fullmatch(value):
        raise ValueError(f"{what}: id {value!r} does not match QuickSight's [\\w-]{{1,512}}")
    return value


def _label(column: str) -> str:
    """A readable name for a column the spec gives no label: processed_date → Processed date."""
    return column.replace("_", " ").capitalize()


def _text(text: str) -> dict[str, Any]:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


class _Builder:
    """Fields, visuals and filters over the views' typed columns."""

    def __init__(self, column_types: ColumnTypes) -> None:
        self._types = column_types

    def column_type(self, view: str, column: str, where: str) -> str:
        """The QuickSight type of a view column; ValueError naming `where` if the view has no such column."""
        found = self._types.get(view, {}).get(column)
        if found is None:
            raise ValueError(f"{where}: view {view} has no column {column!r}")
        return found

    def column(self, visual: Visual, column: str) -> dict[str, str]:
        self.column_type(visual.view, column, f"visual {visual.id}")
        return {"DataSetIdentifier": visual.view, "ColumnName": column}

    # --- fields ---------------------------------------------------------------------------------------------------
    def dimension(self, visual: Visual, column: str) -> dict[str, Any]:
        kind = self.column_type(visual.view, column, f"visual {visual.id}")
        field = {"FieldId": self.field_id(visual, column), "Column": self.column(visual, column)}
        if kind == DATE_TYPE:
            return {"DateDimensionField": {**field, "DateGranularity": "DAY"}}
        if kind in NUMERIC_TYPES:
            return {"NumericalDimensionField": field}
        if kind == STRING_TYPE:
            return {"CategoricalDimensionField": field}
        raise ValueError(f"visual {visual.id}: cannot group by {column} of type {kind}")

    def measure(self, visual: Visual, column: str, aggregation: Aggregation) -> dict[str, Any]:
        kind = self.column_type(visual.view, column, f"visual {visual.id}")
        field = {"FieldId": self.field_id(visual, column, aggregation), "Column": self.column(visual, column)}
        if aggregation in CATEGORICAL_AGGREGATIONS:
            return {"CategoricalMeasureField": {**field, "AggregationFunction": CATEGORICAL_AGGREGATIONS[aggregation]}}
        if kind not in NUMERIC_TYPES:
            raise ValueError(f"visual {visual.id}: {aggregation.value} of {column} needs a number, it is {kind}")
        if aggregation is Aggregation.NONE:  # a box plot's raw values: QuickSight takes no aggregation there
            return {"NumericalMeasureField": field}
        simple = {"SimpleNumericalAggregation": SIMPLE_AGGREGATIONS[aggregation]}
        return {"NumericalMeasureField": {**field, "AggregationFunction": simple}}

    @staticmethod
    def field_id(visual: Visual, column: str, aggregation: Aggregation | None = None) -> str:
        found = field_id(visual, column, aggregation)
        if len(found) > FIELD_ID_MAX:
            raise ValueError(f"visual {visual.id}: field id {found!r} is longer than {FIELD_ID_MAX}")
        return found

    def labels(self, visual: Visual, labels: list[tuple[str, str, Aggregation | None]]) -> dict[str, Any]:
        """Axis label options naming each field (column, its label, its aggregation) as the spec does."""
        return {
            "Visibility": "VISIBLE",
            "AxisLabelOptions": [
                {
                    "CustomLabel": label,
                    "ApplyTo": {
                        "FieldId": self.field_id(visual, column, aggregation),
                        "Column": self.column(visual, column),
                    },
                }
                for column, label, aggregation in labels
            ],
        }

    def category_labels(self, visual: Visual, columns: tuple[str, ...]) -> dict[str, Any]:
        return self.labels(visual, [(c, _label(c), None) for c in columns])

    def value_labels(self, visual: Visual) -> dict[str, Any]:
        return self.labels(visual, [(m.column, m.label, m.aggregation) for m in visual.measures])

    def date_sort(self, visual: Visual) -> list[dict[str, Any]]:
        """Dates left to right, oldest first; other categories keep QuickSight's default (by value)."""
        return [
            {"FieldSort": {"FieldId": self.field_id(visual, c), "Direction": "ASC"}}
            for c in visual.dimensions
            if self.column_type(visual.view, c, f"visual {visual.id}") == DATE_TYPE
        ]

    # --- visuals --------------------------------------------------------------------------------------------------
    def visual(self, visual: Visual) -> dict[str, Any]:
        _check_id(visual.id, f"visual {visual.id}")
        if visual.kind is VisualKind.LINE:
            return {"LineChartVisual": self.line(visual)}
        if visual.kind in (VisualKind.BAR, VisualKind.STACKED_BAR):
            return {"BarChartVisual": self.bar(visual)}
        if visual.kind is VisualKind.BOX:
            return {"BoxPlotVisual": self.box(visual)}
        if visual.kind is VisualKind.TABLE:
            return {"TableVisual": self.table(visual)}
        if visual.kind is VisualKind.KPI:
            return {"KPIVisual": self.kpi(visual)}
        raise ValueError(f"visual {visual.id}: no QuickSight visual for kind {visual.kind}")

    def aggregated(self, visual: Visual) -> list[dict[str, Any]]:
        if not visual.measures:
            raise ValueError(f"visual {visual.id}: a {visual.kind.value} needs at least one measure")
        for m in visual.measures:
            if m.aggregation is Aggregation.NONE:
                raise ValueError(f"visual {visual.id}: a {visual.kind.value} aggregates, {m.column} has none")
        return [self.measure(visual, m.column, m.aggregation) for m in visual.measures]

    def series_wells(self, visual: Visual) -> dict[str, Any]:
        """Category, Values and the group_by split: Colors with one measure, small multiples with more."""
        if not visual.dimensions:
            raise ValueError(f"visual {visual.id}: a {visual.kind.value} needs a dimension")
        wells: dict[str, Any] = {
            "Category": [self.dimension(visual, c) for c in visual.dimensions],
            "Values": self.aggregated(visual),
        }
        if visual.group_by:
            split = "Colors" if len(visual.measures) == 1 else "SmallMultiples"
            wells[split] = [self.dimension(visual, visual.group_by)]
        return wells

    def line(self, visual: Visual) -> dict[str, Any]:
        if len(visual.dimensions) != 1:
            raise ValueError(f"visual {visual.id}: a line chart has one x dimension")
        configuration: dict[str, Any] = {
            "FieldWells": {"LineChartAggregatedFieldWells": self.series_wells(visual)},
            "Type": "LINE",
            "XAxisLabelOptions": self.category_labels(visual, visual.dimensions),
            "PrimaryYAxisLabelOptions": self.value_labels(visual),
            "Legend": {"Visibility": "VISIBLE"},
        }
        sort = self.date_sort(visual)
        if sort:
            configuration["SortConfiguration"] = {"CategorySort": sort}
        return {"VisualId": visual.id, "Title": _text(visual.title), "ChartConfiguration": configuration}

    def bar(self, visual: Visual) -> dict[str, Any]:
        configuration: dict[str, Any] = {
            "FieldWells": {"BarChartAggregatedFieldWells": self.series_wells(visual)},
            "Orientation": "VERTICAL",
            "BarsArrangement": "STACKED" if visual.kind is VisualKind.STACKED_BAR else "CLUSTERED",
            "CategoryLabelOptions": self.category_labels(visual, visual.dimensions),
            "ValueLabelOptions": self.value_labels(visual),
            "Legend": {"Visibility": "VISIBLE"},
        }
        if visual.group_by and len(visual.measures) == 1:
            configuration["ColorLabelOptions"] = self.category_labels(visual, (visual.group_by,))
        sort = self.date_sort(visual)
        if sort:
            configuration["SortConfiguration"] = {"CategorySort": sort}
        return {"VisualId": visual.id, "Title": _text(visual.title), "ChartConfiguration": configuration}

    def box(self, visual: Visual) -> dict[str, Any]:
        if len(visual.dimensions) > 1 or visual.group_by:
            raise ValueError(f"visual {visual.id}: a box plot groups by at most one dimension and splits no series")
        if not 1 <= len(visual.measures) <= 5 or any(m.aggregation is not Aggregation.NONE for m in visual.measures):
            raise ValueError(f"visual {visual.id}: a box plot shows 1-5 raw (aggregation none) measures")
        wells = {
            "GroupBy": [self.dimension(visual, c) for c in visual.dimensions],
            "Values": [self.measure(visual, m.column, m.aggregation) for m in visual.measures],
        }
        configuration = {
            "FieldWells": {"BoxPlotAggregatedFieldWells": wells},
            "BoxPlotOptions": {"OutlierVisibility": "VISIBLE", "AllDataPointsVisibility": "HIDDEN"},
            "CategoryLabelOptions": self.category_labels(visual, visual.dimensions),
            "PrimaryYAxisLabelOptions": self.value_labels(visual),
        }
        return {"VisualId": visual.id, "Title": _text(visual.title), "ChartConfiguration": configuration}

    def table(self, visual: Visual) -> dict[str, Any]:
        if visual.group_by or any(m.aggregation is not Aggregation.NONE for m in visual.measures):
            raise ValueError(f"visual {visual.id}: a table shows raw columns (aggregation none, no group_by)")
        named = [(c, _label(c)) for c in visual.dimensions] + [(m.column, m.label) for m in visual.measures]
        fields = [{"FieldId": self.field_id(visual, c), "Column": self.column(visual, c)} for c, _ in named]
        configuration: dict[str, Any] = {
            "FieldWells": {"TableUnaggregatedFieldWells": {"Values": fields}},
            "FieldOptions": {
                "SelectedFieldOptions": [
                    {"FieldId": self.field_id(visual, c), "CustomLabel": label, "Visibility": "VISIBLE"}
                    for c, label in named
                ],
                "Order": [self.field_id(visual, c) for c, _ in named],
            },
        }
        sort: dict[str, Any] = {}
        if visual.sort:
            direction = "DESC" if visual.sort.descending else "ASC"
            if visual.sort.column in dict(named):
                sort["RowSort"] = [
                    {"FieldSort": {"FieldId": self.field_id(visual, visual.sort.column), "Direction": direction}}
                ]
            else:
                sort["RowSort"] = [
                    {"ColumnSort": {"SortBy": self.column(visual, visual.sort.column), "Direction": direction}}
                ]
        if visual.limit is not None:
            # An unaggregated table has no row limit: the first page holds exactly `limit` rows, in sort order.
            sort["PaginationConfiguration"] = {"PageSize": visual.limit, "PageNumber": 1}
        if sort:
            configuration["SortConfiguration"] = sort
        return {"VisualId": visual.id, "Title": _text(visual.title), "ChartConfiguration": configuration}

    def kpi(self, visual: Visual) -> dict[str, Any]:
        if len(visual.measures) != 1 or len(visual.dimensions) > 1 or visual.group_by:
            raise ValueError(f"visual {visual.id}: a KPI shows one measure, optionally trending over one dimension")
        wells: dict[str, Any] = {"Values": self.aggregated(visual)}
        if visual.dimensions:
            wells["TrendGroups"] = [self.dimension(visual, visual.dimensions[0])]
        (measure,) = visual.measures
        return {
            "VisualId": visual.id,
            "Title": _text(visual.title),
            "Subtitle": _text(measure.label),
            "ChartConfiguration": {"FieldWells": wells, "KPIOptions": {"PrimaryValueDisplayType": "ACTUAL"}},
        }

    # --- filters --------------------------------------------------------------------------------------------------
    def filter_scope(self, dashboard: Dashboard, spec: Filter, sheet_ids: Mapping[str, str]) -> dict[str, list[str]]:
        """Sheet id → the filter's visuals on that sheet, in sheet order; ValueError if a visual lacks the column."""
        _check_id(spec.id, f"filter {spec.id}")
        wanted = set(spec.visuals)
        unknown = wanted - {v.id for v in dashboard.visuals}
        if unknown or not wanted:
            raise ValueError(f"filter {spec.id}: names no visual or unknown visuals {sorted(unknown)}")
        kinds = {self.column_type(dashboard.visual(v).view, spec.column, f"filter {spec.id}") for v in wanted}
        if len(kinds) != 1:
            raise ValueError(f"filter {spec.id}: {spec.column} has different types across its views: {sorted(kinds)}")
        (kind,) = kinds
        expected = DATE_TYPE if spec.kind is FilterKind.DATE_RANGE else STRING_TYPE
        if kind != expected:
            raise ValueError(f"filter {spec.id}: a {spec.kind.value} filter needs a {expected} column, not {kind}")
        scope: dict[str, list[str]] = {}
        for sheet in dashboard.sheets:
            visuals = [v.id for v in sheet.visuals if v.id in wanted]
            if visuals:
                scope[sheet_ids[sheet.title]] = visuals
        return scope

    def filter_group(self, dashboard: Dashboard, spec: Filter, scope: Mapping[str, list[str]]) -> dict[str, Any]:
        first = dashboard.visual(spec.visuals[0])
        condition = _condition(spec, self.column(first, spec.column))
        if len(scope) > 1:  # a filter on several sheets gets CrossSheet controls, which look as this says
            condition["DefaultFilterControlConfiguration"] = {
                "Title": spec.title,
                "ControlOptions": _control_options(spec),
            }
        return {
            "FilterGroupId": spec.id,
            "Filters": [{_FILTER_TYPE[spec.kind]: condition}],
            "ScopeConfiguration": {
                "SelectedSheets": {
                    "SheetVisualScopingConfigurations": [
                        {"SheetId": sheet_id, "Scope": "SELECTED_VISUALS", "VisualIds": visual_ids}
                        for sheet_id, visual_ids in scope.items()
                    ]
                }
            },
            "Status": "ENABLED",
            "CrossDataset": "ALL_DATASETS",  # the same column name and type in every visual's view
        }


_FILTER_TYPE: Mapping[FilterKind, str] = {
    FilterKind.DATE_RANGE: "TimeRangeFilter",
    FilterKind.VALUES: "CategoryFilter",
    FilterKind.PREFIX: "CategoryFilter",
}


def _filter_id(spec: Filter) -> str:
    return f"{spec.id}-filter"


def _condition(spec: Filter, column: Mapping[str, str]) -> dict[str, Any]:
    base = {"FilterId": _filter_id(spec), "Column": dict(column)}
    if spec.kind is FilterKind.DATE_RANGE:
        return {
            **base,
            "IncludeMinimum": True,
            "IncludeMaximum": True,
            "RangeMinimumValue": {"RollingDate": {"Expression": DATE_RANGE_FROM}},
            "RangeMaximumValue": {"RollingDate": {"Expression": DATE_RANGE_TO}},
            "NullOption": "NON_NULLS_ONLY",
            "TimeGranularity": "DAY",
        }
    if spec.kind is FilterKind.VALUES:  # every value until the viewer picks some
        configuration = {
            "FilterListConfiguration": {
                "MatchOperator": "CONTAINS",
                "SelectAllOptions": "FILTER_ALL_VALUES",
                "NullOption": "ALL_VALUES",
            }
        }
    else:  # PREFIX: every value until the viewer types one
        configuration = {
            "CustomFilterConfiguration": {
                "MatchOperator": "STARTS_WITH",
                "SelectAllOptions": "FILTER_ALL_VALUES",
                "NullOption": "ALL_VALUES",
            }
        }
    return {**base, "Configuration": configuration}


def _control_options(spec: Filter) -> dict[str, Any]:
    if spec.kind is FilterKind.DATE_RANGE:
        return {"DefaultDateTimePickerOptions": {"Type": "DATE_RANGE"}}
    if spec.kind is FilterKind.VALUES:
        return {"DefaultDropdownOptions": {"Type": "MULTI_SELECT"}}
    return {"DefaultTextFieldOptions": {}}


def _control(spec: Filter, sheet_id: str, cross_sheet: bool) -> dict[str, Any]:
    """The filter's control on one sheet: CrossSheet when the filter spans sheets (QuickSight requires it)."""
    control = {"FilterControlId": filter_control_id(spec.id, sheet_id), "SourceFilterId": _filter_id(spec)}
    if cross_sheet:
        return {"CrossSheet": control}
    if spec.kind is FilterKind.DATE_RANGE:
        return {"DateTimePicker": {**control, "Title": spec.title, "Type": "DATE_RANGE"}}
    if spec.kind is FilterKind.VALUES:
        return {"Dropdown": {**control, "Title": spec.title, "Type": "MULTI_SELECT"}}
    return {"TextField": {**control, "Title": spec.title}}


def _control_id(control: Mapping[str, Any]) -> str:
    ((_, body),) = control.items()
    return str(body["FilterControlId"])


def _sheet(
    sheet: Sheet, sheet_id: str, visuals: list[dict[str, Any]], controls: list[dict[str, Any]]
) -> dict[str, Any]:
    elements, column, row = [], 0, 0
    for spec in sheet.visuals:
        span = GRID_COLUMNS if spec.kind is VisualKind.TABLE else CHART_SPAN
        if column + span > GRID_COLUMNS:
            column, row = 0, row + VISUAL_ROWS
        elements.append(
            {
                "ElementId": spec.id,
                "ElementType": "VISUAL",
                "ColumnIndex": column,
                "ColumnSpan": span,
                "RowIndex": row,
                "RowSpan": VISUAL_ROWS,
            }
        )
        column += span
    per_row = CONTROL_COLUMNS // CONTROL_SPAN
    control_elements = [
        {
            "ElementId": _control_id(control),
            "ElementType": "FILTER_CONTROL",
            "ColumnIndex": (index % per_row) * CONTROL_SPAN,
            "ColumnSpan": CONTROL_SPAN,
            "RowIndex": index // per_row,
            "RowSpan": 1,
        }
        for index, control in enumerate(controls)
    ]
    definition: dict[str, Any] = {
        "SheetId": sheet_id,
        "Name": sheet.title,
        "Title": sheet.title,
        "ContentType": "INTERACTIVE",
        "Visuals": visuals,
        "Layouts": [
            {
                "Configuration": {
                    "GridLayout": {
                        "Elements": elements,
                        "CanvasSizeOptions": {"ScreenCanvasSizeOptions": {"ResizeOption": "RESPONSIVE"}},
                    }
                }
            }
        ],
    }
    if controls:
        definition["FilterControls"] = controls
        definition["SheetControlLayouts"] = [{"Configuration": {"GridLayout": {"Elements": control_elements}}}]
    return definition
