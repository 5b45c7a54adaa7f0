"""The `modlake` command installed without the sandbox extra: it works against a deployed stack, and `demo` and
`up` say in one line what to install. Each command runs in a subprocess where the sandbox's packages (and the
Lambda layers') cannot be imported, as on a machine that installed only boto3, typer and rich."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

import cli
from cli.sandbox_commands import INSTALL_HINT, sandbox_runs
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.models import VideoRef
from functions.common.table_design import create_table_request

# What the sandbox extra and the Lambda layers bring; the issue names the first seven.
NOT_INSTALLED = (
    "moto", "flask", "duckdb", "sqlglot", "av", "cv2", "onnxruntime",
    "werkzeug", "nudenet", "numpy", "pyarrow", "pandas", "awswrangler", "aws_lambda_powertools",
    "aws_cdk", "constructs", "cdk_nag", "jsii",
)  # fmt: skip
OUR_HEAVY_PACKAGES = ("sandbox", "stacks")
# Runs before the CLI: those packages raise ModuleNotFoundError as if absent, and at exit the top-level modules
# that were loaded are written to a file (so a package imported behind a try/except still shows).
WITHOUT_SANDBOX = """
import atexit, importlib.abc, json, sys
blocked = set(json.loads(sys.argv.pop(1)))
loaded_file = sys.argv.pop(1)
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
atexit.register(lambda: open(loaded_file, "w").write(json.dumps(sorted({m.split(".")[0] for m in sys.modules}))))
from cli import main
main()
"""
STACK = "modlake-light"
TABLE = "modlake-light-videos"
BUCKET = "modlake-light-media"


def run_without_sandbox(
    tmp_path: Path, *args: str, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`modlake ARGS` in a fresh interpreter without the sandbox's packages; returns the run and what it loaded."""
    loaded = tmp_path / "loaded.json"
    command = [sys.executable, "-c", WITHOUT_SANDBOX, json.dumps(NOT_INSTALLED), str(loaded), *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    return run, set(json.loads(loaded.read_text())) if loaded.exists() else set()


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto server standing in for AWS, with a deployed-looking stack: its outputs, its table and one video."""
    state = tmp_path_factory.mktemp("state") / "no-local-stack.json"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    try:
        session.client("dynamodb", endpoint_url=url).create_table(**create_table_request(TABLE))
        template = {
            "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {"VideosTableName": {"Value": TABLE}, "MediaBucketName": {"Value": BUCKET}},
        }
        session.client("cloudformation", endpoint_url=url).create_stack(
            StackName=STACK, TemplateBody=json.dumps(template)
        )
        store = DynamoVideoStore(session.client("dynamodb", endpoint_url=url), TABLE)
        video = VideoRef(BUCKET, "uploads/light.mp4", "v1", "etag", 1024, datetime(2026, 11, 30, tzinfo=UTC))
        store.mark_in_progress(video, "job-light", 50.0, datetime(2026, 11, 30, 0, 1, tzinfo=UTC))
        yield {
            "PATH": "/usr/bin:/bin",
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "MODLAKE_LOCAL_STATE": str(state),
            "COLUMNS": "200",
        }
    finally:
        # moto's backends live in this process: forget this module's resources before the next server starts
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        opener.open(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
        server.stop()


def test_status_against_a_deployed_stack_loads_none_of_the_sandbox(tmp_path: Path, aws: dict[str, str]) -> None:
    # Given a deployed stack with one video, and a modlake without the sandbox's packages
    # When the operator asks for its status
    run, loaded = run_without_sandbox(tmp_path, "--stack", STACK, "status", env=aws)
    # Then it answers from the stack's table
    assert run.returncode == 0, run.stderr
    assert "uploads/light.mp4" in run.stdout and "IN_PROGRESS" in run.stdout
    # And it loaded none of the sandbox's (or the Lambda layers') packages, nor our sandbox and stacks
    assert loaded, "the subprocess did not report what it loaded"
    assert not loaded & {*NOT_INSTALLED, *OUR_HEAVY_PACKAGES}
    assert {"boto3", "typer", "rich", "cli", "functions"} <= loaded


def test_help_loads_none_of_the_sandbox(tmp_path: Path, aws: dict[str, str]) -> None:
    # Given a modlake without the sandbox's packages
    # When it shows its help
    run, loaded = run_without_sandbox(tmp_path, "--help", env=aws)
    # Then every command is listed, demo and up included, and nothing heavy was loaded
    assert run.returncode == 0, run.stderr
    for command in ("upload", "status", "labels", "query", "digest", "dashboard", "review", "demo", "up"):
        assert command in run.stdout
    assert loaded and not loaded & {*NOT_INSTALLED, *OUR_HEAVY_PACKAGES}


@pytest.mark.parametrize("command", ["demo", "up"])
def test_sandbox_commands_say_in_one_line_what_to_install(tmp_path: Path, aws: dict[str, str], command: str) -> None:
    # Given a modlake without the sandbox's packages
    # When a sandbox command is used
    run, _ = run_without_sandbox(tmp_path, command, env=aws)
    # Then it exits 1 with one line naming the command, the missing package and what to install
    assert run.returncode == 1
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"modlake: `modlake {command}` runs the local sandbox")
    assert "(no module " in line and line.endswith(INSTALL_HINT)
    assert run.stdout == ""


def test_a_missing_module_of_our_own_is_a_bug_not_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given cli.sandbox_runs itself cannot be imported (a broken checkout, not a missing extra)
    monkeypatch.setitem(sys.modules, "cli.sandbox_runs", None)
    monkeypatch.delattr(cli, "sandbox_runs", raising=False)  # an earlier import left it on the package
    # When demo loads it
    # Then the import error surfaces as it is, instead of advice to install the sandbox
    with pytest.raises(ModuleNotFoundError, match="cli.sandbox_runs"):
        sandbox_runs("demo")
