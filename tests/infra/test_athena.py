"""Athena: the enforced workgroup, a named query per queries/*.sql, a view per queries/views/*.sql, QuickSight."""

from __future__ import annotations

from typing import Any

import pytest

import queries
from stacks.views import decode_presto_view, view_columns
from tests.infra.conftest import QUICKSIGHT_PRINCIPAL
from tests.infra.synth import Synth, render

pytestmark = pytest.mark.slow

QUICKSIGHT_TYPES = {
    "varchar": "STRING",
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "double": "DECIMAL",
    "boolean": "BOOLEAN",
    "date": "DATETIME",
    "timestamp(3)": "DATETIME",
}


def _workgroup(synth: Synth) -> dict[str, Any]:
    return synth.resources_json[synth.output_ref("AthenaWorkGroupName")]["Properties"]


def _views(synth: Synth) -> dict[str, dict[str, Any]]:
    """View name → Glue table properties of every VIRTUAL_VIEW table."""
    return {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]
        for t in synth.resources("AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["TableType"] == "VIRTUAL_VIEW"
    }


@pytest.mark.parametrize(("synth_name", "cutoff"), [("dev", 10 * 1024**3), ("prod", 1_000_000_000)])
def test_workgroup_enforces_engine_v3_encrypted_results_cutoff_and_metrics(
    synth_name: str, cutoff: int, request: pytest.FixtureRequest
) -> None:
    # Given the stage's workgroup (dev: cdk.json's 10 GiB cutoff; prod: 1 GB)
    synth: Synth = request.getfixturevalue(synth_name)
    workgroup = _workgroup(synth)
    configuration = workgroup["WorkGroupConfiguration"]
    results = configuration["ResultConfiguration"]
    # Then it is modlake-<stage>, its settings override clients', it runs engine v3, stops a query at the cutoff,
    # publishes CloudWatch metrics, and writes SSE-S3 results to the results bucket owned by this account
    assert workgroup["Name"] == f"modlake-{synth.config.stage}"
    assert workgroup["State"] == "ENABLED"
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["BytesScannedCutoffPerQuery"] == cutoff
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert render(results["OutputLocation"]) == f"s3://<{synth.output_ref('AthenaResultsBucketName')}>/"
    assert results["ExpectedBucketOwner"] == {"Ref": "AWS::AccountId"}


def test_only_dev_deletes_the_workgroup_with_its_history(dev: Synth, prod: Synth) -> None:
    # Given both workgroups / Then only dev's is deleted recursively with the stack
    assert _workgroup(dev)["RecursiveDeleteOption"] is True
    assert _workgroup(prod)["RecursiveDeleteOption"] is False


def test_there_is_one_named_query_per_sql_file_with_its_exact_text(dev: Synth) -> None:
    # Given the named queries and the files in queries/
    named = {q["Properties"]["Name"]: q["Properties"] for q in dev.resources("AWS::Athena::NamedQuery").values()}
    files = queries.named_queries()
    # Then each file has exactly one named query: its stem, its purpose, its whole text, in the stage's
    # database and workgroup (a Ref, so the query is created after the workgroup)
    assert files
    assert set(named) == {query.name for query in files}
    for query in files:
        properties = named[query.name]
        assert properties["QueryString"] == query.sql
        assert properties["Description"] == query.description[:1024]
        assert properties["Database"] == "modlake_dev"
        assert properties["WorkGroup"] == {"Ref": dev.output_ref("AthenaWorkGroupName")}


def test_there_is_one_view_per_view_file(dev: Synth) -> None:
    # Given the VIRTUAL_VIEW tables and the files in queries/views/
    views = _views(dev)
    # Then each file has exactly one view table in the stage's database
    assert set(views) == {view.name for view in queries.views()}
    assert {v["DatabaseName"] for v in views.values()} <= {"modlake_dev"}


@pytest.mark.parametrize("view", queries.views(), ids=lambda view: view.name)
def test_view_is_a_presto_view_athena_can_decode(dev: Synth, view: queries.SqlFile) -> None:
    # Given the view's Glue table
    table = _views(dev)[view.name]["TableInput"]
    # When its ViewOriginalText is decoded
    document = decode_presto_view(table["ViewOriginalText"])
    # Then it holds the file's SQL (without the header) and the derived columns, for the stage's database,
    # and the Glue columns list the same names
    assert document["originalSql"] == view.body
    assert [(c["name"], c["type"]) for c in document["columns"]] == list(view_columns(view))
    assert (document["catalog"], document["schema"]) == ("awsdatacatalog", "modlake_dev")
    assert table["Parameters"] == {"presto_view": "true", "comment": "Presto View"}
    assert table["ViewExpandedText"] == "/* Presto View */"
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [name for name, _ in view_columns(view)]
    assert table["StorageDescriptor"]["SerdeInfo"] == {}


def test_views_are_created_after_the_database_and_the_tables_they_read(dev: Synth) -> None:
    # Given the database and lake tables
    (database,) = dev.resources("AWS::Glue::Database")
    tables = {
        logical_id
        for logical_id, t in dev.resources("AWS::Glue::Table").items()
        if t["Properties"]["TableInput"]["TableType"] == "EXTERNAL_TABLE"
    }
    # Then every view depends on all of them (views are validated against their tables when queried)
    for logical_id, table in dev.resources("AWS::Glue::Table").items():
        if table["Properties"]["TableInput"]["TableType"] == "VIRTUAL_VIEW":
            assert set(table["DependsOn"]) >= {database, *tables}, logical_id


def test_quicksight_is_absent_unless_a_principal_is_configured(dev: Synth) -> None:
    # Given dev, where quicksight_principal_arn is "" / Then nothing QuickSight is created
    assert not [r for r in dev.resources_json.values() if r["Type"].startswith("AWS::QuickSight::")]


def test_quicksight_reads_the_workgroup_with_one_direct_query_dataset_per_view(prod: Synth) -> None:
    # Given prod, which names a QuickSight principal
    (source_id, source), *others = prod.resources("AWS::QuickSight::DataSource").items()
    data_sets = {
        d["Properties"]["PhysicalTableMap"]["view"]["RelationalTable"]["Name"]: d["Properties"]
        for d in prod.resources("AWS::QuickSight::DataSet").values()
    }
    # Then one Athena data source uses the workgroup, owned by the principal
    assert not others
    assert source["Properties"]["Type"] == "ATHENA"
    assert source["Properties"]["DataSourceParameters"] == {
        "AthenaParameters": {"WorkGroup": {"Ref": prod.output_ref("AthenaWorkGroupName")}}
    }
    ((permission),) = source["Properties"]["Permissions"]
    assert permission["Principal"] == QUICKSIGHT_PRINCIPAL
    assert "quicksight:PassDataSource" in permission["Actions"]
    # And each view has a direct-query dataset on AwsDataCatalog/<database>/<view>, typed from its columns,
    # owned by the principal
    assert set(data_sets) == {view.name for view in queries.views()}
    for view in queries.views():
        data_set = data_sets[view.name]
        table = data_set["PhysicalTableMap"]["view"]["RelationalTable"]
        assert data_set["ImportMode"] == "DIRECT_QUERY"
        assert table["DataSourceArn"] == {"Fn::GetAtt": [source_id, "Arn"]}
        assert (table["Catalog"], table["Schema"]) == ("AwsDataCatalog", "modlake_prod")
        assert table["InputColumns"] == [
            {"Name": name, "Type": QUICKSIGHT_TYPES[presto_type]} for name, presto_type in view_columns(view)
        ]
        ((permission),) = data_set["Permissions"]
        assert permission["Principal"] == QUICKSIGHT_PRINCIPAL
        assert "quicksight:PassDataSet" in permission["Actions"]
