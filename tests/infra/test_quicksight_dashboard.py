"""The QuickSight dashboard on deploy: its Definition is a valid CreateDashboard request whose every column exists in
its dataset with a usable type, every spec visual and filter is in it, and SPICE brings daily refresh schedules."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from queries.dashboard import (
    DASHBOARD,
    Aggregation,
    Dashboard,
    Filter,
    FilterKind,
    Measure,
    Sheet,
    Sort,
    Visual,
    VisualKind,
)
from sandbox.protocol import operation_model, request_problems
from stacks.analytics import QUICKSIGHT_ANALYSIS_ACTIONS, QUICKSIGHT_DASHBOARD_ACTIONS
from stacks.quicksight_dashboard import dashboard_definition, field_id
from tests.infra.conftest import QUICKSIGHT_PRINCIPAL
from tests.infra.synth import Synth

ACCOUNT = "123456789012"
# Union structures QuickSight documents nowhere in botocore's model but refuses with two members set.
UNIONS = ("DimensionField", "MeasureField", "NumericalAggregationFunction", "FieldSortOptions")
VISUAL_TYPES: Mapping[VisualKind, str] = {
    VisualKind.LINE: "LineChartVisual",
    VisualKind.BAR: "BarChartVisual",
    VisualKind.STACKED_BAR: "BarChartVisual",
    VisualKind.BOX: "BoxPlotVisual",
    VisualKind.TABLE: "TableVisual",
    VisualKind.KPI: "KPIVisual",
}
# Which QuickSight column types a field or filter of each kind can read (None: any).
COMPATIBLE_TYPES: Mapping[str, frozenset[str] | None] = {
    "DateDimensionField": frozenset({"DATETIME"}),
    "NumericalDimensionField": frozenset({"INTEGER", "DECIMAL"}),
    "NumericalMeasureField": frozenset({"INTEGER", "DECIMAL"}),
    "CategoricalDimensionField": frozenset({"STRING"}),
    "CategoricalMeasureField": None,
    "TableUnaggregatedFieldWells": None,  # its Values are UnaggregatedFields, not wrapped in a kind
    "TimeRangeFilter": frozenset({"DATETIME"}),
    "CategoryFilter": frozenset({"STRING"}),
}
CONTROL_OPTIONS: Mapping[FilterKind, tuple[str, str]] = {
    FilterKind.DATE_RANGE: ("DateTimePicker", "DefaultDateTimePickerOptions"),
    FilterKind.VALUES: ("Dropdown", "DefaultDropdownOptions"),
    FilterKind.PREFIX: ("TextField", "DefaultTextFieldOptions"),
}
# CloudFormation spells one RefreshSchedule member differently from the API.
REFRESH_SCHEDULE_API_NAMES = {"TimeZone": "Timezone"}


# --- helpers: the template as the API would receive it ------------------------------------------------------------
def resolved(value: Any, synth: Synth) -> Any:
    """A template value with the intrinsics QuickSight resources use replaced by what they resolve to."""
    if isinstance(value, list):
        return [resolved(item, synth) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] == "AWS::AccountId":
        return ACCOUNT
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        resource = synth.resources_json[logical_id]
        assert (resource["Type"], attribute) == ("AWS::QuickSight::DataSet", "Arn"), value
        data_set_id = resource["Properties"]["DataSetId"]
        return f"arn:aws:quicksight:{synth.config.region}:{ACCOUNT}:dataset/{data_set_id}"
    assert not any(key == "Ref" or key.startswith("Fn::") for key in value), f"unresolved intrinsic {value}"
    return {key: resolved(item, synth) for key, item in value.items()}


def only(synth: Synth, resource_type: str) -> dict[str, Any]:
    """The properties of the one resource of a type."""
    (resource,) = synth.resources(resource_type).values()
    return dict(resource["Properties"])


def data_set_columns(synth: Synth, definition: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Dataset identifier → its synthesized InputColumns (name → type), for the datasets the Definition declares."""
    by_arn = {
        resolved({"Fn::GetAtt": [logical_id, "Arn"]}, synth): resource["Properties"]
        for logical_id, resource in synth.resources("AWS::QuickSight::DataSet").items()
    }
    columns = {}
    for declaration in definition["DataSetIdentifierDeclarations"]:
        properties = by_arn[declaration["DataSetArn"]]
        columns[declaration["Identifier"]] = {
            column["Name"]: column["Type"]
            for table in properties["PhysicalTableMap"].values()
            for column in table["RelationalTable"]["InputColumns"]
        }
    return columns


def column_references(value: Any, kind: str | None = None) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """Every ColumnIdentifier in a Definition with the field or filter kind it sits in (None outside any)."""
    if isinstance(value, list):
        for item in value:
            yield from column_references(item, kind)
    elif isinstance(value, dict):
        if "ColumnName" in value:
            yield kind, value
            return
        for key, item in value.items():
            yield from column_references(item, key if key in COMPATIBLE_TYPES else kind)


def column_problems(definition: Mapping[str, Any], columns: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Columns of undeclared datasets, columns their dataset lacks, and fields over a column of the wrong type."""
    problems = []
    for kind, column in column_references(definition):
        data_set, name = str(column.get("DataSetIdentifier")), column["ColumnName"]
        if data_set not in columns:
            problems.append(f"{name}: dataset '{data_set}' is not declared")
        elif name not in columns[data_set]:
            problems.append(f"{data_set} has no column {name}")
        elif kind is not None and (allowed := COMPATIBLE_TYPES[kind]) and columns[data_set][name] not in allowed:
            problems.append(f"{kind} over {data_set}.{name} of type {columns[data_set][name]}")
    return problems


def dashboard_request(synth: Synth) -> dict[str, Any]:
    """The synthesized Dashboard's properties as a CreateDashboard request (CloudFormation uses the API's names)."""
    return resolved(only(synth, "AWS::QuickSight::Dashboard"), synth)


def visuals_by_id(definition: Mapping[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Visual id → (sheet name, visual type, visual body)."""
    found = {}
    for sheet in definition["Sheets"]:
        for visual in sheet.get("Visuals", []):
            ((visual_type, body),) = visual.items()
            found[body["VisualId"]] = (sheet["Name"], visual_type, body)
    return found


def dashboard_problems(request: Mapping[str, Any]) -> list[str]:
    """A CreateDashboard request checked strictly, QuickSight's undocumented unions included."""
    return request_problems(operation_model("quicksight", "CreateDashboard"), request, unions=UNIONS)


@pytest.fixture(scope="module")
def prod_request(prod: Synth) -> dict[str, Any]:
    return dashboard_request(prod)


@pytest.fixture(scope="module")
def prod_columns(prod: Synth, prod_request: dict[str, Any]) -> dict[str, dict[str, str]]:
    return data_set_columns(prod, prod_request["Definition"])


# --- the synthesized dashboard ------------------------------------------------------------------------------------
def test_the_dashboard_is_a_valid_create_dashboard_request(prod_request: dict[str, Any]) -> None:
    # Given prod's Dashboard resource, intrinsics resolved / When checked strictly against CreateDashboard's model
    # Then nothing is missing, misspelt, out of range or ambiguous, down to the last visual
    assert dashboard_problems(prod_request) == []
    assert prod_request["DashboardId"] == "modlake-prod-moderation"
    assert "prod" in prod_request["Name"]
    assert prod_request["Permissions"] == [
        {"Principal": QUICKSIGHT_PRINCIPAL, "Actions": [*QUICKSIGHT_DASHBOARD_ACTIONS]}
    ]
    options = prod_request["DashboardPublishOptions"]
    assert options["AdHocFilteringOption"]["AvailabilityStatus"] == "ENABLED"
    assert options["ExportToCSVOption"]["AvailabilityStatus"] == "ENABLED"
    assert options["SheetControlsOption"]["VisibilityState"] == "EXPANDED"


def test_the_analysis_has_the_same_definition_and_is_a_valid_create_analysis_request(prod: Synth) -> None:
    # Given prod's Analysis resource / When checked strictly against CreateAnalysis
    request = resolved(only(prod, "AWS::QuickSight::Analysis"), prod)
    assert request_problems(operation_model("quicksight", "CreateAnalysis"), request, unions=UNIONS) == []
    # Then it is the dashboard's definition, owned by the same principal with an analysis owner's actions
    dashboard = dashboard_request(prod)
    assert request["Definition"] == dashboard["Definition"]
    assert request["AnalysisId"] == dashboard["DashboardId"]
    assert request["Permissions"] == [{"Principal": QUICKSIGHT_PRINCIPAL, "Actions": [*QUICKSIGHT_ANALYSIS_ACTIONS]}]


def test_every_column_is_in_its_dataset_with_a_type_its_field_can_read(
    prod_request: dict[str, Any], prod_columns: dict[str, dict[str, str]]
) -> None:
    # Given the Definition and the synthesized datasets' input columns
    definition = prod_request["Definition"]
    # When every ColumnIdentifier is looked up / Then each exists with a compatible type
    assert column_problems(definition, prod_columns) == []
    kinds = {kind for kind, _ in column_references(definition)}
    assert {
        "DateDimensionField",
        "NumericalMeasureField",
        "CategoricalMeasureField",
        "TableUnaggregatedFieldWells",
    } <= kinds
    # And exactly the views the spec draws are declared, under their own names
    assert set(prod_columns) == {v.view for v in DASHBOARD.visuals}


def test_every_spec_visual_is_on_its_sheet_with_its_title_and_kind(prod_request: dict[str, Any]) -> None:
    # Given the Definition
    found = visuals_by_id(prod_request["Definition"])
    # Then each spec visual is there, on its sheet, drawn as its kind, titled as the spec says, and nothing else is
    assert set(found) == {v.id for v in DASHBOARD.visuals}
    for sheet in DASHBOARD.sheets:
        for visual in sheet.visuals:
            sheet_name, visual_type, body = found[visual.id]
            assert (sheet_name, visual_type) == (sheet.title, VISUAL_TYPES[visual.kind])
            assert body["Title"]["FormatText"]["PlainText"] == visual.title
            if visual_type == "BarChartVisual":
                stacked = visual.kind is VisualKind.STACKED_BAR
                assert body["ChartConfiguration"]["BarsArrangement"] == ("STACKED" if stacked else "CLUSTERED")


def test_measures_are_labelled_as_the_spec_says(prod_request: dict[str, Any]) -> None:
    # Given the Definition / Then every measure's label is a custom label applied to that measure's field
    found = visuals_by_id(prod_request["Definition"])
    for visual in DASHBOARD.visuals:
        _, _, body = found[visual.id]
        labels = {
            options["ApplyTo"]["FieldId"] if "ApplyTo" in options else options["FieldId"]: options["CustomLabel"]
            for options in _label_options(body)
        }
        for measure in visual.measures:
            assert labels[field_id(visual, measure.column, measure.aggregation)] == measure.label


def _label_options(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        for item in value:
            yield from _label_options(item)
    elif isinstance(value, dict):
        if "CustomLabel" in value:
            yield value
        for item in value.values():
            yield from _label_options(item)


def test_every_filter_is_scoped_to_exactly_its_visuals_and_has_a_control_where_it_applies(
    prod_request: dict[str, Any], prod_columns: dict[str, dict[str, str]]
) -> None:
    # Given the Definition
    definition = prod_request["Definition"]
    groups = {group["FilterGroupId"]: group for group in definition["FilterGroups"]}
    sheets = {sheet["SheetId"]: sheet for sheet in definition["Sheets"]}
    found = visuals_by_id(definition)
    assert set(groups) == {f.id for f in DASHBOARD.filters}
    for spec in DASHBOARD.filters:
        group = groups[spec.id]
        scoping = group["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]
        # Then it filters exactly its visuals, sheet by sheet, across the datasets by column name
        assert {s["Scope"] for s in scoping} == {"SELECTED_VISUALS"}
        scoped = {(sheets[s["SheetId"]]["Name"], v) for s in scoping for v in s["VisualIds"]}
        assert scoped == {(found[v][0], v) for v in spec.visuals}
        assert group["CrossDataset"] == "ALL_DATASETS"
        ((filter_type, condition),) = group["Filters"][0].items()
        assert condition["Column"]["ColumnName"] == spec.column
        types = {prod_columns[_data_set(found[v][2])][spec.column] for v in spec.visuals}
        assert len(types) == 1  # the same column and type in every view the filter reaches
        # And each sheet it reaches has a control of the filter's kind
        control_type, default_options = CONTROL_OPTIONS[spec.kind]
        for sheet_scope in scoping:
            controls = [
                (kind, body)
                for control in sheets[sheet_scope["SheetId"]]["FilterControls"]
                for kind, body in control.items()
                if body["SourceFilterId"] == condition["FilterId"]
            ]
            (kind, body), *others = controls
            assert others == []
            if len(scoping) > 1:  # QuickSight wants CrossSheet controls, drawn as the filter's default says
                assert kind == "CrossSheet"
                assert set(condition["DefaultFilterControlConfiguration"]["ControlOptions"]) == {default_options}
            else:
                assert (kind, body["Title"]) == (control_type, spec.title)
        assert filter_type == ("TimeRangeFilter" if spec.kind is FilterKind.DATE_RANGE else "CategoryFilter")
        if spec.kind is FilterKind.PREFIX:
            assert condition["Configuration"]["CustomFilterConfiguration"]["MatchOperator"] == "STARTS_WITH"


def _data_set(body: Mapping[str, Any]) -> str:
    """The dataset a visual reads (the first column's)."""
    return str(next(column for _, column in column_references(body))["DataSetIdentifier"])


def test_each_sheet_lays_out_its_visuals_and_controls_once(prod_request: dict[str, Any]) -> None:
    # Given each sheet / Then its grid places every visual once, and its control bar every control once
    for sheet in prod_request["Definition"]["Sheets"]:
        (layout,) = sheet["Layouts"]
        placed = [e["ElementId"] for e in layout["Configuration"]["GridLayout"]["Elements"]]
        assert sorted(placed) == sorted(next(iter(v.values()))["VisualId"] for v in sheet["Visuals"])
        (controls_layout,) = sheet["SheetControlLayouts"]
        bar = [e["ElementId"] for e in controls_layout["Configuration"]["GridLayout"]["Elements"]]
        assert sorted(bar) == sorted(next(iter(c.values()))["FilterControlId"] for c in sheet["FilterControls"])


def test_the_stack_outputs_the_dashboard_url_only_when_quicksight_is_on(prod: Synth, dev: Synth) -> None:
    # Given prod (QuickSight on) and dev (off)
    dashboard_id = only(prod, "AWS::QuickSight::Dashboard")["DashboardId"]
    # Then prod outputs the console URL of its dashboard and dev has no such output
    assert prod.json["Outputs"]["QuickSightDashboardUrl"]["Value"] == (
        f"https://{prod.config.region}.quicksight.aws.amazon.com/sn/dashboards/{dashboard_id}"
    )
    assert "QuickSightDashboardUrl" not in dev.json["Outputs"]


# --- direct query vs SPICE ----------------------------------------------------------------------------------------
def test_direct_query_has_no_refresh_schedules(prod: Synth) -> None:
    # Given prod (import mode by default) / Then every dataset queries Athena directly and nothing refreshes
    assert {d["Properties"]["ImportMode"] for d in prod.resources("AWS::QuickSight::DataSet").values()} == {
        "DIRECT_QUERY"
    }
    assert prod.resources("AWS::QuickSight::RefreshSchedule") == {}


def test_spice_refreshes_every_dataset_daily_with_valid_schedules(spice: Synth) -> None:
    # Given the SPICE stage with quicksight_refresh_schedule 4:05
    data_sets = {
        d["Properties"]["DataSetId"]: d["Properties"] for d in spice.resources("AWS::QuickSight::DataSet").values()
    }
    schedules = [resolved(r["Properties"], spice) for r in spice.resources("AWS::QuickSight::RefreshSchedule").values()]
    # Then every dataset is imported and has exactly one daily full refresh at 04:05 UTC
    assert {d["ImportMode"] for d in data_sets.values()} == {"SPICE"}
    assert sorted(s["DataSetId"] for s in schedules) == sorted(data_sets)
    operation = operation_model("quicksight", "CreateRefreshSchedule")
    for schedule in schedules:
        frequency = schedule["Schedule"]["ScheduleFrequency"]
        assert (frequency["Interval"], frequency["TimeOfTheDay"], frequency["TimeZone"]) == ("DAILY", "04:05", "UTC")
        assert schedule["Schedule"]["RefreshType"] == "FULL_REFRESH"
        # And each is a valid CreateRefreshSchedule request once CloudFormation's spelling is the API's
        request = _api_names(schedule)
        assert request_problems(operation, request, unions=UNIONS) == []
    assert len({s["Schedule"]["ScheduleId"] for s in schedules}) == len(schedules)
    # And the dashboard itself is valid over the SPICE datasets too
    assert dashboard_problems(dashboard_request(spice)) == []


def _api_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {REFRESH_SCHEDULE_API_NAMES.get(k, k): _api_names(v) for k, v in value.items()}
    return value


# --- each check can fail ------------------------------------------------------------------------------------------
def _first_visual(definition: dict[str, Any]) -> dict[str, Any]:
    return definition["Sheets"][0]["Visuals"][0]


def _drop_visual_id(d: dict[str, Any]) -> None:
    del _first_visual(d)["LineChartVisual"]["VisualId"]


def _bad_enum(d: dict[str, Any]) -> None:
    d["Sheets"][0]["Visuals"][1]["BarChartVisual"]["ChartConfiguration"]["BarsArrangement"] = "PILED"


def _misspelt_member(d: dict[str, Any]) -> None:
    visual = _first_visual(d)
    visual["LineChartVisaul"] = visual.pop("LineChartVisual")


def _two_visual_types(d: dict[str, Any]) -> None:
    _first_visual(d)["BarChartVisual"] = copy.deepcopy(d["Sheets"][0]["Visuals"][1]["BarChartVisual"])


def _two_field_kinds(d: dict[str, Any]) -> None:
    wells = _first_visual(d)["LineChartVisual"]["ChartConfiguration"]["FieldWells"]["LineChartAggregatedFieldWells"]
    category = wells["Category"][0]
    category["CategoricalDimensionField"] = {"FieldId": "x", "Column": category["DateDimensionField"]["Column"]}


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (_drop_visual_id, "Value null at 'definition.sheets.1.member.visuals.1.member.lineChartVisual.visualId'"),
        (_bad_enum, "Value 'PILED' at 'definition.sheets.1.member.visuals.2.member.barChartVisual"),
        (_misspelt_member, "Member 'definition.sheets.1.member.visuals.1.member.lineChartVisaul' is not in the"),
        (_two_visual_types, "exactly one member of union Visual, got 2 (LineChartVisual, BarChartVisual)"),
        (_two_field_kinds, "exactly one member of union DimensionField, got 2"),
    ],
)
def test_the_strict_model_check_reports_a_broken_definition(
    prod_request: dict[str, Any], mutate: Callable[[dict[str, Any]], None], problem: str
) -> None:
    # Given the valid request with one defect
    request = copy.deepcopy(prod_request)
    mutate(request["Definition"])
    # When it is checked strictly / Then the defect is reported
    problems = dashboard_problems(request)
    assert any(problem in p for p in problems), problems


def _unknown_column(d: dict[str, Any]) -> None:
    wells = _first_visual(d)["LineChartVisual"]["ChartConfiguration"]["FieldWells"]["LineChartAggregatedFieldWells"]
    wells["Values"][0]["NumericalMeasureField"]["Column"]["ColumnName"] = "no_such_column"


def _date_field_on_a_string(d: dict[str, Any]) -> None:
    wells = _first_visual(d)["LineChartVisual"]["ChartConfiguration"]["FieldWells"]["LineChartAggregatedFieldWells"]
    wells["Category"][0]["DateDimensionField"]["Column"]["ColumnName"] = "source"


def _undeclared_data_set(d: dict[str, Any]) -> None:
    d["DataSetIdentifierDeclarations"].pop(0)


def _sum_of_a_string(d: dict[str, Any]) -> None:
    wells = _first_visual(d)["LineChartVisual"]["ChartConfiguration"]["FieldWells"]["LineChartAggregatedFieldWells"]
    wells["Values"][0]["NumericalMeasureField"]["Column"]["ColumnName"] = "dt"


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (_unknown_column, "v_daily_summary has no column no_such_column"),
        (_date_field_on_a_string, "DateDimensionField over v_daily_summary.source of type STRING"),
        (_undeclared_data_set, "dataset 'v_daily_summary' is not declared"),
        (_sum_of_a_string, "NumericalMeasureField over v_daily_summary.dt of type STRING"),
    ],
)
def test_the_column_check_reports_a_column_its_dataset_cannot_give(
    prod_request: dict[str, Any],
    prod_columns: dict[str, dict[str, str]],
    mutate: Callable[[dict[str, Any]], None],
    problem: str,
) -> None:
    # Given the valid Definition with one column defect
    definition = copy.deepcopy(prod_request["Definition"])
    mutate(definition)
    columns = {
        k: v
        for k, v in prod_columns.items()
        if any(d["Identifier"] == k for d in definition["DataSetIdentifierDeclarations"])
    }
    # When its columns are looked up / Then the defect is reported
    problems = column_problems(definition, columns)
    assert any(problem in p for p in problems), problems


# --- the builder on its own: every kind, and specs it refuses -----------------------------------------------------
TYPES: Mapping[str, Mapping[str, str]] = {
    "v_days": {"processed_date": "DATETIME", "source": "STRING", "videos": "INTEGER", "hours": "DECIMAL"},
    "v_rows": {"object_key": "STRING", "category": "STRING", "confidence": "DECIMAL", "processed_date": "DATETIME"},
}
ARNS = {view: f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/{view}" for view in TYPES}
SAMPLES: Mapping[VisualKind, Visual] = {
    VisualKind.LINE: Visual(
        "line",
        "Line",
        VisualKind.LINE,
        "v_days",
        ("processed_date",),
        (Measure("videos", Aggregation.SUM, "V"),),
        "source",
    ),
    VisualKind.BAR: Visual(
        "bar",
        "Bar",
        VisualKind.BAR,
        "v_days",
        ("source",),
        (Measure("videos", Aggregation.AVG, "Avg"), Measure("hours", Aggregation.MAX, "Max")),
    ),
    VisualKind.STACKED_BAR: Visual(
        "stacked",
        "Stacked",
        VisualKind.STACKED_BAR,
        "v_rows",
        ("category",),
        (Measure("object_key", Aggregation.COUNT, "Rows"), Measure("object_key", Aggregation.COUNT_DISTINCT, "Keys")),
        "processed_date",
    ),
    VisualKind.BOX: Visual(
        "box", "Box", VisualKind.BOX, "v_rows", ("category",), (Measure("confidence", Aggregation.NONE, "C"),)
    ),
    VisualKind.TABLE: Visual(
        "table",
        "Table",
        VisualKind.TABLE,
        "v_rows",
        ("object_key",),
        (Measure("confidence", Aggregation.NONE, "Confidence"),),
        sort=Sort("processed_date", descending=False),
        limit=10,
    ),
    VisualKind.KPI: Visual(
        "kpi", "Videos", VisualKind.KPI, "v_days", ("processed_date",), (Measure("videos", Aggregation.SUM, "Videos"),)
    ),
}


def _spec(*visuals: Visual, filters: tuple[Filter, ...] = ()) -> Dashboard:
    """Up to three visuals on a first sheet, the rest on a second."""
    sheets = (Sheet("One", visuals[:3]), Sheet("Two", visuals[3:]))
    return Dashboard("t", tuple(sheet for sheet in sheets if sheet.visuals), filters)


def _request(definition: dict[str, Any]) -> dict[str, Any]:
    return {"AwsAccountId": ACCOUNT, "DashboardId": "d", "Name": "d", "Definition": definition}


def test_every_visual_kind_becomes_a_valid_quicksight_visual() -> None:
    # Given a synthetic spec with one visual of every kind (the dashboard has no KPI) and a filter of every kind
    assert set(SAMPLES) == set(VisualKind)
    spec = _spec(
        *SAMPLES.values(),
        filters=(
            Filter("days", "Days", "processed_date", FilterKind.DATE_RANGE, tuple(v.id for v in SAMPLES.values())),
            Filter("cat", "Category", "category", FilterKind.VALUES, ("stacked",)),
            Filter("key", "Key", "object_key", FilterKind.PREFIX, ("box", "table")),
        ),
    )
    # When it is built
    definition = dashboard_definition(spec, ARNS, TYPES)
    # Then it is a valid request, each kind is its QuickSight visual, and every column is typed right
    assert dashboard_problems(_request(definition)) == []
    assert column_problems(definition, TYPES) == []
    found = visuals_by_id(definition)
    assert {kind: found[v.id][1] for kind, v in SAMPLES.items()} == VISUAL_TYPES
    kpi = found["kpi"][2]["ChartConfiguration"]["FieldWells"]
    assert kpi["Values"][0]["NumericalMeasureField"]["AggregationFunction"] == {"SimpleNumericalAggregation": "SUM"}
    assert "DateDimensionField" in kpi["TrendGroups"][0]
    table = found["table"][2]["ChartConfiguration"]
    assert table["SortConfiguration"]["RowSort"][0]["ColumnSort"]["Direction"] == "ASC"  # sorted by a column not shown
    assert table["SortConfiguration"]["PaginationConfiguration"] == {"PageSize": 10, "PageNumber": 1}
    bar = found["bar"][2]["ChartConfiguration"]["FieldWells"]["BarChartAggregatedFieldWells"]
    assert "CategoricalDimensionField" in bar["Category"][0]
    stacked = found["stacked"][2]["ChartConfiguration"]["FieldWells"]["BarChartAggregatedFieldWells"]
    assert "SmallMultiples" in stacked and "Colors" not in stacked  # two measures: QuickSight allows no Colors
    assert [m["CategoricalMeasureField"]["AggregationFunction"] for m in stacked["Values"]] == [
        "COUNT",
        "DISTINCT_COUNT",
    ]
    # And building it again gives the same definition (deterministic ids)
    assert dashboard_definition(spec, ARNS, TYPES) == definition


def _with(kind: VisualKind, **changes: Any) -> Dashboard:
    return _spec(dataclasses.replace(SAMPLES[kind], **changes))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_with(VisualKind.LINE, measures=(Measure("source", Aggregation.SUM, "S"),)), "sum of source needs a number"),
        (_with(VisualKind.LINE, dimensions=("nope",)), "view v_days has no column 'nope'"),
        (_with(VisualKind.LINE, dimensions=("processed_date", "source")), "a line chart has one x dimension"),
        (_with(VisualKind.BOX, measures=(Measure("confidence", Aggregation.AVG, "C"),)), "box plot shows 1-5 raw"),
        (_with(VisualKind.TABLE, measures=(Measure("confidence", Aggregation.MAX, "C"),)), "a table shows raw"),
        (_with(VisualKind.KPI, measures=(Measure("videos", Aggregation.NONE, "V"),)), "a kpi aggregates"),
        (_with(VisualKind.BAR, view="v_nowhere"), "no dataset for view(s) v_nowhere"),
        (_with(VisualKind.BAR, id="bar chart"), "does not match QuickSight's"),
        (
            _spec(SAMPLES[VisualKind.BOX], filters=(Filter("s", "S", "source", FilterKind.VALUES, ("box",)),)),
            "filter s: view v_rows has no column 'source'",
        ),
        (
            _spec(SAMPLES[VisualKind.LINE], filters=(Filter("s", "S", "source", FilterKind.DATE_RANGE, ("line",)),)),
            "a date_range filter needs a DATETIME column, not STRING",
        ),
    ],
)
def test_the_builder_refuses_a_spec_quicksight_cannot_draw(spec: Dashboard, message: str) -> None:
    # Given a spec with one impossible visual or filter / When it is built / Then ValueError says what is wrong
    with pytest.raises(ValueError) as error:
        dashboard_definition(spec, ARNS, TYPES)
    assert message in str(error.value)
