"""Glue tables derive from glue/ exactly: the stack and the Parquet writer cannot drift apart."""

from __future__ import annotations

from typing import Any

import pytest

from glue import TABLES, Column, TableSpec
from glue.catalog import table_input
from glue.schema import PARTITION_FORMAT, PROJECTION_START
from tests.infra.synth import Synth, render

pytestmark = pytest.mark.slow


def _tables(synth: Synth) -> dict[str, dict[str, Any]]:
    """Table name → Glue table properties, for the lake's tables (views are VIRTUAL_VIEW tables)."""
    return {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]
        for t in synth.resources("AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["TableType"] == "EXTERNAL_TABLE"
    }


def _columns(columns: tuple[Column, ...]) -> list[dict[str, str]]:
    return [{"Name": c.name, "Type": c.glue_type, "Comment": c.comment} for c in columns]


def test_database_is_named_after_the_stage(dev: Synth, prod: Synth) -> None:
    # Given the dev and prod stacks / Then each has one database, modlake_<stage>, also exported
    for synth, name in ((dev, "modlake_dev"), (prod, "modlake_prod")):
        (database,) = synth.resources("AWS::Glue::Database").values()
        assert database["Properties"]["DatabaseInput"]["Name"] == name
        assert synth.json["Outputs"]["GlueDatabaseName"]["Value"] == name


def test_there_is_one_table_per_spec_in_the_database(dev: Synth) -> None:
    # Given the Glue tables / Then they are exactly glue.TABLES, all in the stage's database
    tables = _tables(dev)
    assert set(tables) == {spec.name for spec in TABLES}
    assert {t["DatabaseName"] for t in tables.values()} == {"modlake_dev"}


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.name)
def test_columns_and_partition_key_equal_the_spec(dev: Synth, spec: TableSpec) -> None:
    # Given the table built from the spec
    table = _tables(dev)[spec.name]["TableInput"]
    # Then its columns (order, types, comments) and partition key are the spec's, never retyped
    assert table["StorageDescriptor"]["Columns"] == _columns(spec.columns)
    assert table["PartitionKeys"] == _columns((spec.partition_key,))
    assert table["Description"] == spec.description


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.name)
def test_table_is_external_parquet_at_its_prefix(dev: Synth, spec: TableSpec) -> None:
    # Given the table built from the spec
    table = _tables(dev)[spec.name]["TableInput"]
    storage = table["StorageDescriptor"]
    analytics = dev.output_ref("AnalyticsBucketName")
    # Then it is an external Parquet table located at the spec's prefix of the analytics bucket
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert render(storage["Location"]) == f"s3://<{analytics}>/{spec.prefix}"
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert storage["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.name)
def test_partitions_are_projected_from_the_date(dev: Synth, spec: TableSpec) -> None:
    # Given the table built from the spec
    parameters = dict(_tables(dev)[spec.name]["TableInput"]["Parameters"])
    template = parameters.pop("storage.location.template")
    analytics = dev.output_ref("AnalyticsBucketName")
    # Then Athena projects dt daily from PROJECTION_START (no crawler, no MSCK) at the spec's location template
    assert parameters == {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.range": f"{PROJECTION_START},NOW",
        "projection.dt.format": PARTITION_FORMAT,
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
    }
    assert render(template) == spec.location_template(f"<{analytics}>")
    assert render(template).endswith(f"/{spec.prefix}dt=${{dt}}/")


def _render_tree(value: Any) -> Any:
    """Render every CloudFormation token in a nested value (Ref → <Id>, Join → text)."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            return render(value)
        return {key: _render_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_tree(item) for item in value]
    return value


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.name)
def test_table_input_is_exactly_the_glue_catalog_definition(dev: Synth, spec: TableSpec) -> None:
    # Given the synthesized table and glue.catalog's definition for the same bucket
    analytics = dev.output_ref("AnalyticsBucketName")
    synthesized = _render_tree(_tables(dev)[spec.name]["TableInput"])
    # Then they are identical, so a sandbox or test that creates tables from glue.catalog builds this catalog
    assert synthesized == table_input(spec, f"<{analytics}>")
