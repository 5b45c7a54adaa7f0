"""The Glue Data Catalog over the Parquet lake, derived from glue/ (the one schema)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_glue as glue_cfn
from aws_cdk import aws_s3 as s3
from constructs import Construct

from glue import TABLES, Column, TableSpec
from glue.schema import PARTITION_FORMAT, PROJECTION_START
from stacks.config import PipelineConfig

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


class Analytics(Construct):
    """Glue database and one table per glue.TABLES, with partition projection so no crawler or MSCK is needed."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PipelineConfig, analytics_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database_name = config.glue_database_name
        self.database = glue_cfn.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue_cfn.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description=f"modlake {config.stage}: Rekognition moderation results",
            ),
        )
        self.tables: dict[str, glue_cfn.CfnTable] = {}
        for spec in TABLES:
            table = glue_cfn.CfnTable(
                self,
                _construct_id(spec),
                catalog_id=account,
                database_name=self.database_name,
                table_input=_table_input(spec, analytics_bucket.bucket_name),
            )
            table.add_resource_dependency(self.database)  # the table names the database by name only
            self.tables[spec.name] = table


def _construct_id(spec: TableSpec) -> str:
    return "".join(part.capitalize() for part in spec.name.split("_")) + "Table"


def _table_input(spec: TableSpec, bucket_name: str) -> glue_cfn.CfnTable.TableInputProperty:
    """An external Parquet table at the spec's prefix, its dt partitions projected from the date."""
    dt = spec.partition_key.name
    return glue_cfn.CfnTable.TableInputProperty(
        name=spec.name,
        description=spec.description,
        table_type="EXTERNAL_TABLE",
        partition_keys=[_column(spec.partition_key)],
        storage_descriptor=glue_cfn.CfnTable.StorageDescriptorProperty(
            location=f"s3://{bucket_name}/{spec.prefix}",
            input_format=PARQUET_INPUT_FORMAT,
            output_format=PARQUET_OUTPUT_FORMAT,
            serde_info=glue_cfn.CfnTable.SerdeInfoProperty(serialization_library=PARQUET_SERDE),
            columns=[_column(column) for column in spec.columns],
        ),
        parameters={
            "classification": "parquet",
            "projection.enabled": "true",
            f"projection.{dt}.type": "date",
            f"projection.{dt}.range": f"{PROJECTION_START},NOW",
            f"projection.{dt}.format": PARTITION_FORMAT,
            f"projection.{dt}.interval": "1",
            f"projection.{dt}.interval.unit": "DAYS",
            "storage.location.template": spec.location_template(bucket_name),
        },
    )


def _column(column: Column) -> glue_cfn.CfnTable.ColumnProperty:
    return glue_cfn.CfnTable.ColumnProperty(name=column.name, type=column.glue_type, comment=column.comment)
