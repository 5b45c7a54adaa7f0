"""One place that decides how every modlake Lambda function is built."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Duration, IgnoreMode, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.lambda_runtime import lambda_runtime

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CODE_DIRECTORIES = ("functions", "glue", "queries")
METRICS_NAMESPACE = "modlake"
# AWS recommends a queue visibility timeout of at least six times the consuming function's timeout.
VISIBILITY_PER_TIMEOUT = 6

# Glob patterns (matched against each path and, without a slash, its base name): drop everything at the
# top level, then keep the code directories. Ignored directories are never walked, so .venv and
# node_modules cost nothing when the asset is hashed.
CODE_EXCLUDES = [
    "*",
    ".*",
    *(pattern for name in CODE_DIRECTORIES for pattern in (f"!{name}", f"!{name}/**")),
    "__pycache__",
    "*.pyc",
]


def settings_environment(**settings: Any) -> dict[str, str]:
    """A function's settings as environment variables: upper-case names, JSON lists and objects, plain numbers."""
    return {name.upper(): _environment_value(value) for name, value in settings.items()}


def _environment_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return json.dumps(list(value), separators=(",", ":"))
    if isinstance(value, Mapping):
        return json.dumps(dict(value), separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def business_metric(folder: str, metric_name: str, *, period: Duration) -> cloudwatch.Metric:
    """A count the function in functions/<folder> emits through Powertools (dimension service = the folder)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": folder},
        statistic=cloudwatch.Stats.SUM,
        period=period,
        label=f"{metric_name} ({folder})",
    )


def queue_visibility_timeout(function_timeout: Duration) -> Duration:
    """Visibility timeout for a queue consumed by a function with this timeout."""
    return Duration.seconds(function_timeout.to_seconds() * VISIBILITY_PER_TIMEOUT)


class LambdaFactory(Construct):
    """Builds functions from one shared code asset with the same runtime, logging, tracing and layers."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.code = lambda_.Code.from_asset(str(PROJECT_ROOT), exclude=CODE_EXCLUDES, ignore_mode=IgnoreMode.GLOB)
        runtime = lambda_runtime()
        self.runtime = lambda_.Runtime(runtime.runtime, lambda_.RuntimeFamily.PYTHON)
        self.architecture = lambda_.Architecture.custom(runtime.architecture)
        # The Powertools layer of exactly the pinned version, resolved when CloudFormation deploys (an SSM-typed
        # stack parameter on AWS's public parameter), so it cannot drift from requirements.txt.
        powertools_layer_arn = ssm.StringParameter.value_for_string_parameter(self, config.powertools_layer_parameter)
        self.layers = [
            lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", powertools_layer_arn),
            lambda_.LayerVersion.from_layer_version_arn(self, "PandasLayer", config.pandas_layer_arn),
        ]

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        folder: str,
        description: str,
        timeout: Duration,
        memory_size: int,
        environment: Mapping[str, str],
    ) -> lambda_.Function:
        """A function whose handler is functions/<folder>/handler.py, with its own log group and role."""
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=self._config.log_retention,
            removal_policy=self._config.removal_policy,
        )
        # An explicit role with write access to its own log group only, instead of the managed
        # AWSLambdaBasicExecutionRole policy (which allows writing to every log group).
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"modlake {folder} function",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            construct_id,
            description=description,
            code=self.code,
            handler=f"functions.{folder}.handler.handler",
            runtime=self.runtime,
            architecture=self.architecture,
            timeout=timeout,
            memory_size=memory_size,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            layers=self.layers,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": folder,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        Validations.of(function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="Python 3.13 on purpose: the AWS SDK for pandas and Powertools managed layers are built for it",
            )
        )
        return function
