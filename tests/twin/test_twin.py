"""The Lambda twin is what Lambda has: its Python, the layers' packages at their versions, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from stacks.lambda_runtime import lambda_runtime
from tests.helpers import pinned_versions
from tests.twin.lambda_packages import LAMBDA_PACKAGES, LAMBDA_REQUIREMENTS, ROOT

CLOSURE_SCRIPT = Path(__file__).with_name("import_closure.py")


def _closure() -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-I", "-S", str(CLOSURE_SCRIPT), str(ROOT), str(LAMBDA_PACKAGES)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(completed.stdout))


def test_the_twin_runs_the_python_of_the_lambda_runtime() -> None:
    # Given the runtime the stack deploys / Then the twin's interpreter is that Python (unless told there is none)
    wanted = lambda_runtime().runtime.removeprefix("python")
    if os.environ.get("MODLAKE_TWIN_PYTHON") == "fallback":
        pytest.skip(f"no Python {wanted} on this machine: the twin runs on {sys.version.split()[0]} (see README)")
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == wanted


def test_the_functions_see_lambdas_packages_first_at_the_layer_versions() -> None:
    # Given the packages pinned for the twin (the layers' and the runtime's)
    pins = pinned_versions(LAMBDA_REQUIREMENTS)
    # Then each one this process imports is that version, loaded from the twin's Lambda directory (first on the
    # path), even where a test tool installed another version of it beside pytest
    for name in ("pyarrow", "pandas", "numpy", "aws-lambda-powertools", "boto3", "botocore"):
        distribution = metadata.distribution(name)
        assert distribution.version == pins[name], name
        assert Path(str(distribution.locate_file(""))).resolve() == LAMBDA_PACKAGES.resolve(), name


def test_every_module_of_the_code_asset_imports_with_only_lambdas_packages() -> None:
    # When every module of functions/, glue/ and queries/ is imported with only the standard library, the asset
    # and Lambda's packages on the path
    closure = _closure()
    # Then all import, handlers included (at cold start, with their settings)
    assert closure["failures"] == {}
    imported = set(closure["imported"])  # type: ignore[arg-type]
    assert {"functions.start_moderation.handler", "functions.collect_results.handler"} <= imported
    assert {"functions.send_digest.handler", "functions.queue_backfill.handler"} <= imported
    # And nothing outside them was loaded: no test tool and no package the layers do not ship
    loaded = set(closure["top_level_modules"])  # type: ignore[arg-type]
    assert not loaded & {"moto", "awswrangler", "duckdb", "sqlglot", "av", "pytest", "werkzeug", "flask"}


def test_the_closure_check_sees_a_package_lambda_lacks() -> None:
    # Given the same isolated path / When a module needs a package only the test tools have
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = [{str(LAMBDA_PACKAGES)!r}]; import moto"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it fails to import: the isolation the closure test relies on is real
    assert completed.returncode != 0
    assert "No module named 'moto'" in completed.stderr


def test_the_lambda_directory_holds_exactly_the_pinned_packages() -> None:
    # Given the twin's Lambda directory / Then it holds the pinned distributions and no other (no awswrangler)
    installed = {
        canonicalize_name(metadata.Distribution.at(path).metadata["Name"])
        for path in LAMBDA_PACKAGES.glob("*.dist-info")
    }
    assert installed == set(pinned_versions(LAMBDA_REQUIREMENTS))
    assert "awswrangler" not in installed
