"""What the deployed functions run on (stacks/lambda_layers.json): one table for the stack, the twin and the tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LAYER_TABLE = Path(__file__).with_name("lambda_layers.json")


@dataclass(frozen=True)
class LambdaRuntime:
    """The runtime, the AWS SDK for pandas layer (per region) and the Powertools layer (by its public SSM parameter)."""

    runtime: str
    architecture: str
    pandas_version: str
    pandas_layer_arns: Mapping[str, str]
    layer_packages: Mapping[str, str]
    arrow_codecs: tuple[str, ...]
    powertools_version: str
    powertools_parameter: str
    runtime_sdk: Mapping[str, str]

    def pandas_layer_arn(self, region: str) -> str | None:
        """The AWS SDK for pandas layer published for this region (None where the table has no row)."""
        return self.pandas_layer_arns.get(region)


@cache
def lambda_runtime() -> LambdaRuntime:
    """The layer table, read once."""
    table = json.loads(LAYER_TABLE.read_text())
    pandas, powertools = table["aws_sdk_pandas"], table["powertools"]
    return LambdaRuntime(
        runtime=table["runtime"],
        architecture=table["architecture"],
        pandas_version=pandas["version"],
        pandas_layer_arns=dict(pandas["layer_arns"]),
        layer_packages=dict(pandas["packages"]),
        arrow_codecs=tuple(pandas["arrow_codecs"]),
        powertools_version=powertools["version"],
        powertools_parameter=powertools["ssm_parameter"],
        runtime_sdk={name: version for name, version in table["runtime_sdk"].items() if name != "source"},
    )
