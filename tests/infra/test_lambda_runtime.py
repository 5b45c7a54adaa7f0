"""requirements.txt, the layer table (stacks/lambda_layers.json), the twin's pins and the stack say the same thing."""

from __future__ import annotations

import re

import pytest
from packaging.utils import canonicalize_name

from stacks.lambda_runtime import lambda_runtime
from tests.helpers import pinned_versions
from tests.infra.synth import Synth
from tests.twin.lambda_packages import LAMBDA_REQUIREMENTS, ROOT

RUNTIME = lambda_runtime()


def _requirements() -> dict[str, str]:
    return pinned_versions(ROOT / "requirements.txt")


def test_the_tests_pin_the_versions_the_layers_ship() -> None:
    # Given requirements.txt (what the main test environment installs)
    pins = _requirements()
    # Then awswrangler is the release whose layer the stack deploys, Powertools the version whose layer the SSM
    # parameter names, and pyarrow the one that layer ships
    assert pins["awswrangler"] == RUNTIME.pandas_version
    assert pins["aws-lambda-powertools"] == RUNTIME.powertools_version
    assert pins["pyarrow"] == RUNTIME.layer_packages["pyarrow"]


def test_the_twin_pins_exactly_the_layers_packages_and_the_runtimes_sdk() -> None:
    # Given the twin's Lambda packages / Then the layer table's versions are the ones pinned
    twin = pinned_versions(LAMBDA_REQUIREMENTS)
    for name, version in {**RUNTIME.layer_packages, **RUNTIME.runtime_sdk}.items():
        assert twin[canonicalize_name(name)] == version, name
    assert twin["aws-lambda-powertools"] == RUNTIME.powertools_version
    # And nothing a layer leaves out: no awswrangler, no test tools
    assert not {"awswrangler", "moto", "pytest", "duckdb"} & set(twin)


def test_the_powertools_parameter_is_the_exact_version_for_the_runtime_and_architecture() -> None:
    assert RUNTIME.powertools_parameter == (
        f"/aws/service/powertools/python/{RUNTIME.architecture}/{RUNTIME.runtime}/{RUNTIME.powertools_version}"
    )


def test_every_layer_row_is_for_its_region_runtime_and_architecture() -> None:
    # Given the AWS SDK for pandas rows copied from the release's layers.rst
    name = f"AWSSDKPandas-Python{RUNTIME.runtime.removeprefix('python').replace('.', '')}-Arm64"
    assert RUNTIME.architecture == "arm64"
    for region, arn in RUNTIME.pandas_layer_arns.items():
        # Then each ARN lives in its own region and names the runtime's arm64 layer
        match = re.fullmatch(r"arn:aws(?:-cn)?:lambda:([a-z0-9-]+):(\d{12}):layer:([\w-]+):(\d+)", arn)
        assert match is not None, arn
        assert (match[1], match[3]) == (region, name)
    # And the common version is the one most regions have (its exceptions are listed in the README)
    versions = [arn.rsplit(":", 1)[1] for arn in RUNTIME.pandas_layer_arns.values()]
    assert max(set(versions), key=versions.count) == "14"


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_the_stack_deploys_the_runtime_and_layers_of_the_table(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given the synthesized stack
    synth: Synth = request.getfixturevalue(synth_name)
    parameters = synth.json["Parameters"]
    for _, function in synth.modlake_functions().items():
        properties = function["Properties"]
        # Then every function runs the table's runtime and architecture
        assert (properties["Runtime"], properties["Architectures"]) == (RUNTIME.runtime, [RUNTIME.architecture])
        # And takes Powertools from the public SSM parameter of the pinned version, resolved at deploy time
        powertools, pandas = properties["Layers"]
        parameter = parameters[powertools["Ref"]]
        assert parameter == {"Type": "AWS::SSM::Parameter::Value<String>", "Default": RUNTIME.powertools_parameter}
        # And the region's AWS SDK for pandas layer from the table
        assert pandas == RUNTIME.pandas_layer_arn(synth.config.region)
