"""request_problems: the strict request check the stack's tests use, beside the endpoint's validate_request."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.protocol import ServiceError, operation_model, request_problems, validate_request

ACCOUNT = "123456789012"


def _schedule(**frequency: Any) -> dict[str, Any]:
    return {
        "AwsAccountId": ACCOUNT,
        "DataSetId": "modlake-dev-v_daily_summary",
        "Schedule": {
            "ScheduleId": "daily",
            "RefreshType": "FULL_REFRESH",
            "ScheduleFrequency": {"Interval": "DAILY", "TimeOfTheDay": "02:00", **frequency},
        },
    }


def _dashboard(visual: dict[str, Any]) -> dict[str, Any]:
    sheet = {"SheetId": "one", "Visuals": [visual]}
    definition = {"DataSetIdentifierDeclarations": [], "Sheets": [sheet]}
    return {"AwsAccountId": ACCOUNT, "DashboardId": "d", "Name": "d", "Definition": definition}


def test_a_valid_request_has_no_problems_in_either_mode() -> None:
    # Given a well-formed CreateRefreshSchedule request / Then neither mode finds anything
    operation = operation_model("quicksight", "CreateRefreshSchedule")
    assert request_problems(operation, _schedule(Timezone="UTC")) == []
    assert request_problems(operation, _schedule(Timezone="UTC"), strict=False) == []


def test_strict_reports_a_member_the_model_does_not_have_where_aws_would_drop_it() -> None:
    # Given CloudFormation's spelling TimeZone, which the API does not know
    operation = operation_model("quicksight", "CreateRefreshSchedule")
    request = _schedule(TimeZone="UTC")
    # Then strict reports it by its path, lenient ignores it like AWS does, and so does the endpoint's validation
    assert request_problems(operation, request) == [
        "Member 'schedule.scheduleFrequency.timeZone' is not in the service model"
    ]
    assert request_problems(operation, request, strict=False) == []
    validate_request(operation, request)


def test_strict_wants_exactly_one_member_of_a_documented_union() -> None:
    # Given visuals (a union type structure in QuickSight's documentation) with two members and with none
    operation = operation_model("quicksight", "CreateDashboard")
    two = _dashboard({"KPIVisual": {"VisualId": "a"}, "TableVisual": {"VisualId": "a"}})
    none: dict[str, Any] = _dashboard({})
    # Then strict reports each, and the lenient check (what the endpoint applies) accepts both
    assert request_problems(operation, two) == [
        "Value at 'definition.sheets.1.member.visuals.1.member' failed to satisfy constraint: Member must set exactly "
        "one member of union Visual, got 2 (KPIVisual, TableVisual)"
    ]
    assert "got 0 (none)" in request_problems(operation, none)[0]
    assert request_problems(operation, two, strict=False) == []


def test_shapes_named_as_unions_are_checked_too() -> None:
    # Given a KPI whose one measure sets two field kinds (MeasureField is no documented union)
    column = {"DataSetIdentifier": "v", "ColumnName": "videos"}
    measure = {
        "NumericalMeasureField": {"FieldId": "a", "Column": column},
        "CategoricalMeasureField": {"FieldId": "b", "Column": column},
    }
    request = _dashboard({"KPIVisual": {"VisualId": "k", "ChartConfiguration": {"FieldWells": {"Values": [measure]}}}})
    operation = operation_model("quicksight", "CreateDashboard")
    # Then only naming MeasureField a union reports it
    assert request_problems(operation, request) == []
    assert len(request_problems(operation, request, unions=("MeasureField",))) == 1


def test_strict_keeps_the_ordinary_checks() -> None:
    # Given a bad enum and a missing required member / Then strict reports both, and validate_request refuses them
    operation = operation_model("quicksight", "CreateRefreshSchedule")
    request = _schedule(Interval="FORTNIGHTLY")
    del request["Schedule"]["ScheduleId"]
    problems = request_problems(operation, request)
    assert len(problems) == 2
    assert any("Member must satisfy enum value set" in p for p in problems)
    assert any("'schedule.scheduleId' failed to satisfy constraint: Member must not be null" in p for p in problems)
    with pytest.raises(ServiceError, match="2 validation errors detected"):
        validate_request(operation, request)
