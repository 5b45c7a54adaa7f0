"""Glue Data Catalog definitions (Glue API shape) of the analytics tables, derived from the table specs.

The CDK stack turns these into AWS::Glue::Table resources (CloudFormation's TableInput has the same
keys), and anything that talks to the Glue API directly — tests, a local sandbox — creates tables
from them, so every catalog modlake builds is the same one.
"""

from __future__ import annotations

from typing import Any

from glue.schema import PARTITION_FORMAT, PROJECTION_START, Column, TableSpec

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def column_input(column: Column) -> dict[str, str]:
    return {"Name": column.name, "Type": column.glue_type, "Comment": column.comment}


def table_input(spec: TableSpec, bucket_name: str) -> dict[str, Any]:
    """An external Parquet table at the spec's prefix, its dt partitions projected from the date (no crawler)."""
    dt = spec.partition_key.name
    return {
        "Name": spec.name,
        "Description": spec.description,
        "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [column_input(spec.partition_key)],
        "StorageDescriptor": {
            "Location": f"s3://{bucket_name}/{spec.prefix}",
            "InputFormat": PARQUET_INPUT_FORMAT,
            "OutputFormat": PARQUET_OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
            "Columns": [column_input(column) for column in spec.columns],
        },
        "Parameters": {
            "classification": "parquet",
            "projection.enabled": "true",
            f"projection.{dt}.type": "date",
            f"projection.{dt}.range": f"{PROJECTION_START},NOW",
            f"projection.{dt}.format": PARTITION_FORMAT,
            f"projection.{dt}.interval": "1",
            f"projection.{dt}.interval.unit": "DAYS",
            "storage.location.template": spec.location_template(bucket_name),
        },
    }
