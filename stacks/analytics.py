"""The analytics layer over the Parquet lake: Glue catalog (from glue/), Athena workgroup, named queries and views
(from queries/), and optionally QuickSight datasets on the views with the dashboard of queries/dashboard.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue_cfn
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_s3 as s3
from constructs import Construct

import queries
from glue import TABLES, TableSpec
from glue.catalog import table_input
from queries import SqlFile
from queries.dashboard import DASHBOARD
from stacks.config import PipelineConfig
from stacks.quicksight_dashboard import dashboard_definition
from stacks.views import view_columns, view_table_input

ATHENA_ENGINE_VERSION = "Athena engine version 3"
NAMED_QUERY_DESCRIPTION_LIMIT = 1024  # Athena's maximum
QUICKSIGHT_CATALOG = "AwsDataCatalog"
# Presto type of a view column → QuickSight input column type.
QUICKSIGHT_TYPES: Mapping[str, str] = {
    "varchar": "STRING",
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "double": "DECIMAL",
    "boolean": "BOOLEAN",
    "date": "DATETIME",
    "timestamp(3)": "DATETIME",
}
# What the QuickSight principal may do with what modlake creates: everything an owner can.
QUICKSIGHT_DATA_SOURCE_ACTIONS = (
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
)
QUICKSIGHT_DATA_SET_ACTIONS = (
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
)
QUICKSIGHT_DASHBOARD_ACTIONS = (
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:QueryDashboard",
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
)
QUICKSIGHT_ANALYSIS_ACTIONS = (
    "quicksight:RestoreAnalysis",
    "quicksight:UpdateAnalysisPermissions",
    "quicksight:DeleteAnalysis",
    "quicksight:DescribeAnalysisPermissions",
    "quicksight:QueryAnalysis",
    "quicksight:DescribeAnalysis",
    "quicksight:UpdateAnalysis",
)
QUICKSIGHT_REFRESH_TIME_ZONE = "UTC"


class Analytics(Construct):
    """Glue database, one table per glue.TABLES (partition projection: no crawler, no MSCK), the stage's Athena
    workgroup, one named query per queries/*.sql and one view per queries/views/*.sql."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        analytics_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._account = Stack.of(self).account
        self.database_name = config.glue_database_name
        self.database = glue_cfn.CfnDatabase(
            self,
            "Database",
            catalog_id=self._account,
            database_input=glue_cfn.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description=f"modlake {config.stage}: Rekognition moderation results",
            ),
        )
        self.tables: dict[str, glue_cfn.CfnTable] = {}
        for spec in TABLES:
            table = glue_cfn.CfnTable(
                self,
                _construct_id(spec.name, "Table"),
                catalog_id=self._account,
                database_name=self.database_name,
                table_input=_table_input(spec, analytics_bucket.bucket_name),
            )
            table.add_resource_dependency(self.database)  # the table names the database by name only
            self.tables[spec.name] = table
        self.views: dict[str, glue_cfn.CfnTable] = {view.name: self._view(view) for view in queries.views()}
        self.workgroup = self._workgroup(results_bucket)
        self.workgroup_name = config.athena_workgroup_name
        self.workgroup_arn = Stack.of(self).format_arn(
            service="athena", resource="workgroup", resource_name=self.workgroup_name
        )
        self.named_queries = {query.name: self._named_query(query) for query in queries.named_queries()}
        self.quicksight_dashboard_url: str | None = None
        if config.quicksight_principal_arn:
            self._quicksight(config.quicksight_principal_arn)
            self._quicksight_dashboard(config.quicksight_principal_arn)

    def _workgroup(self, results_bucket: s3.IBucket) -> athena.CfnWorkGroup:
        """Enforced settings: every query writes SSE-S3 results to the results bucket and stops at the cutoff."""
        config = self._config
        return athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=config.athena_workgroup_name,
            description=f"modlake {config.stage}: moderation analytics (named queries, views, digest)",
            state="ENABLED",
            recursive_delete_option=config.is_ephemeral,  # dev: delete the workgroup with its query history
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ATHENA_ENGINE_VERSION),
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff,
                publish_cloud_watch_metrics_enabled=True,
                requester_pays_enabled=False,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results_bucket.bucket_name}/",
                    expected_bucket_owner=self._account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def _named_query(self, query: SqlFile) -> athena.CfnNamedQuery:
        named_query = athena.CfnNamedQuery(
            self,
            _construct_id(query.name, "Query"),
            name=query.name,
            description=query.description[:NAMED_QUERY_DESCRIPTION_LIMIT],
            query_string=query.sql,
            database=self.database_name,
            work_group=self.workgroup.ref,  # Ref is the workgroup's name, and orders creation after it
        )
        named_query.add_resource_dependency(self.database)
        return named_query

    def _view(self, view: SqlFile) -> glue_cfn.CfnTable:
        """The view as Athena stores it, so it exists after deploy without a CREATE VIEW."""
        table_input_ = view_table_input(view, self.database_name)
        storage = table_input_["StorageDescriptor"]
        table = glue_cfn.CfnTable(
            self,
            _construct_id(view.name, "View"),
            catalog_id=self._account,
            database_name=self.database_name,
            table_input=glue_cfn.CfnTable.TableInputProperty(
                name=table_input_["Name"],
                description=table_input_["Description"],
                table_type=table_input_["TableType"],
                parameters=table_input_["Parameters"],
                view_original_text=table_input_["ViewOriginalText"],
                view_expanded_text=table_input_["ViewExpandedText"],
                storage_descriptor=glue_cfn.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue_cfn.CfnTable.ColumnProperty(name=column["Name"], type=column["Type"])
                        for column in storage["Columns"]
                    ],
                    serde_info=glue_cfn.CfnTable.SerdeInfoProperty(),
                ),
            ),
        )
        table.add_resource_dependency(self.database)
        for base_table in self.tables.values():
            table.add_resource_dependency(base_table)  # a view is only valid once the tables it reads exist
        return table

    def _quicksight(self, principal_arn: str) -> None:
        """An Athena data source on the workgroup and a dataset per view (direct query, or SPICE refreshed daily)."""
        stage = self._config.stage
        self.quicksight_data_source = quicksight.CfnDataSource(
            self,
            "QuickSightDataSource",
            aws_account_id=self._account,
            data_source_id=f"modlake-{stage}-athena",
            name=f"modlake {stage} (Athena)",
            type="ATHENA",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                athena_parameters=quicksight.CfnDataSource.AthenaParametersProperty(work_group=self.workgroup.ref)
            ),
            permissions=[
                quicksight.CfnDataSource.ResourcePermissionProperty(
                    principal=principal_arn, actions=list(QUICKSIGHT_DATA_SOURCE_ACTIONS)
                )
            ],
        )
        self.quicksight_data_sets: dict[str, quicksight.CfnDataSet] = {}
        for view in queries.views():
            data_set = quicksight.CfnDataSet(
                self,
                _construct_id(view.name, "DataSet"),
                aws_account_id=self._account,
                data_set_id=f"modlake-{stage}-{view.name}",
                name=f"modlake {stage} {view.name}",
                import_mode=self._config.quicksight_import_mode,
                physical_table_map={
                    "view": quicksight.CfnDataSet.PhysicalTableProperty(
                        relational_table=quicksight.CfnDataSet.RelationalTableProperty(
                            data_source_arn=self.quicksight_data_source.attr_arn,
                            catalog=QUICKSIGHT_CATALOG,
                            schema=self.database_name,
                            name=view.name,
                            input_columns=[
                                quicksight.CfnDataSet.InputColumnProperty(name=name, type=QUICKSIGHT_TYPES[type_])
                                for name, type_ in view_columns(view)
                            ],
                        )
                    )
                },
                permissions=[
                    quicksight.CfnDataSet.ResourcePermissionProperty(
                        principal=principal_arn, actions=list(QUICKSIGHT_DATA_SET_ACTIONS)
                    )
                ],
            )
            data_set.add_resource_dependency(self.views[view.name])
            self.quicksight_data_sets[view.name] = data_set
            if self._config.quicksight_import_mode == "SPICE":
                self._refresh_schedule(view.name, data_set)

    def _refresh_schedule(self, view_name: str, data_set: quicksight.CfnDataSet) -> None:
        """A daily full refresh of a SPICE dataset at quicksight_refresh_schedule (UTC)."""
        data_set_id = str(data_set.data_set_id)
        refresh = quicksight.CfnRefreshSchedule(
            self,
            _construct_id(view_name, "RefreshSchedule"),
            aws_account_id=self._account,
            data_set_id=data_set_id,
            schedule=quicksight.CfnRefreshSchedule.RefreshScheduleMapProperty(
                schedule_id=f"{data_set_id}-daily",
                refresh_type="FULL_REFRESH",
                schedule_frequency=quicksight.CfnRefreshSchedule.ScheduleFrequencyProperty(
                    interval="DAILY",
                    time_of_the_day=self._config.quicksight_refresh_time,
                    time_zone=QUICKSIGHT_REFRESH_TIME_ZONE,
                ),
            ),
        )
        refresh.add_resource_dependency(data_set)  # the schedule names the dataset by id only

    def _quicksight_dashboard(self, principal_arn: str) -> None:
        """The dashboard of queries/dashboard.py over the datasets, and an analysis of the same definition that the
        principal can save a copy of and edit (CloudFormation owns both: a deploy replaces edits made in place)."""
        stage = self._config.stage
        column_types = {
            view.name: {name: QUICKSIGHT_TYPES[type_] for name, type_ in view_columns(view)} for view in queries.views()
        }
        arns = {name: data_set.attr_arn for name, data_set in self.quicksight_data_sets.items()}
        definition = dashboard_definition(DASHBOARD, arns, column_types)
        resource_id = f"modlake-{stage}-moderation"
        name = f"{DASHBOARD.title} ({stage})"
        enabled = "ENABLED"
        self.quicksight_dashboard = quicksight.CfnDashboard(
            self,
            "QuickSightDashboard",
            aws_account_id=self._account,
            dashboard_id=resource_id,
            name=name,
            permissions=[
                quicksight.CfnDashboard.ResourcePermissionProperty(
                    principal=principal_arn, actions=list(QUICKSIGHT_DASHBOARD_ACTIONS)
                )
            ],
            dashboard_publish_options=quicksight.CfnDashboard.DashboardPublishOptionsProperty(
                ad_hoc_filtering_option=quicksight.CfnDashboard.AdHocFilteringOptionProperty(
                    availability_status=enabled
                ),
                export_to_csv_option=quicksight.CfnDashboard.ExportToCSVOptionProperty(availability_status=enabled),
                sheet_controls_option=quicksight.CfnDashboard.SheetControlsOptionProperty(visibility_state="EXPANDED"),
            ),
            validation_strategy=quicksight.CfnDashboard.ValidationStrategyProperty(mode="STRICT"),
        )
        # The typed Definition property is a deep tree of classes; the API-shaped dict goes in as an override.
        self.quicksight_dashboard.add_property_override("Definition", definition)
        self.quicksight_analysis = quicksight.CfnAnalysis(
            self,
            "QuickSightAnalysis",
            aws_account_id=self._account,
            analysis_id=resource_id,
            name=name,
            permissions=[
                quicksight.CfnAnalysis.ResourcePermissionProperty(
                    principal=principal_arn, actions=list(QUICKSIGHT_ANALYSIS_ACTIONS)
                )
            ],
            validation_strategy=quicksight.CfnAnalysis.ValidationStrategyProperty(mode="STRICT"),
        )
        self.quicksight_analysis.add_property_override("Definition", definition)
        self.quicksight_dashboard_url = (
            f"https://{self._config.region}.quicksight.aws.amazon.com/sn/dashboards/{resource_id}"
        )


def _construct_id(name: str, kind: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + kind


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


def _column(column: Mapping[str, Any]) -> glue_cfn.CfnTable.ColumnProperty:
    return glue_cfn.CfnTable.ColumnProperty(name=column["Name"], type=column["Type"], comment=column["Comment"])
