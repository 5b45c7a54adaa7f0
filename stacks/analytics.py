"""The Glue Data Catalog over the Parquet lake, derived from glue/ (the one schema)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_glue as glue_cfn
from aws_cdk import aws_s3 as s3
from constructs import Construct

from glue import TABLES, TableSpec
from glue.catalog import table_input
from stacks.config import PipelineConfig


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
    """glue.catalog's table definition as CloudFormation properties (a typed copy: plain dicts are dropped)."""
    table = table_input(spec, bucket_name)
    storage = table["StorageDescriptor"]
    return glue_cfn.CfnTable.TableInputProperty(
        name=table["Name"],
        description=table["Description"],
        table_type=table["TableType"],
        partition_keys=[_column(c) for c in table["PartitionKeys"]],
        storage_descriptor=glue_cfn.CfnTable.StorageDescriptorProperty(
            location=storage["Location"],
            input_format=storage["InputFormat"],
            output_format=storage["OutputFormat"],
            serde_info=glue_cfn.CfnTable.SerdeInfoProperty(
                serialization_library=storage["SerdeInfo"]["SerializationLibrary"]
            ),
            columns=[_column(c) for c in storage["Columns"]],
        ),
        parameters=table["Parameters"],
    )


def _column(column: dict[str, str]) -> glue_cfn.CfnTable.ColumnProperty:
    return glue_cfn.CfnTable.ColumnProperty(name=column["Name"], type=column["Type"], comment=column["Comment"])
