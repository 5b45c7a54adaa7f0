"""`modlake up --faults SERVICE=RATE,… --fault-seed N`: a bad plan is one line before anything starts; a good one
is announced (on the terminal and in the state file other terminals read), reaches the endpoint, and faults only
the functions' calls, never the CLI's."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli import app
from cli.announcement import STATE_FILE_VARIABLE, RunningStack
from cli.sandbox_commands import FAULT_SERVICES
from cli.sandbox_runs import _print_running
from sandbox.faults import SERVICES
from tests.cli.conftest import error_line
from tests.sandbox.stack.pipeline import modlake_up


def test_the_cli_offers_the_services_the_sandbox_faults() -> None:
    # The CLI cannot import the sandbox to list them, so it keeps its own copy: this keeps the two equal
    assert FAULT_SERVICES == SERVICES
    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--faults" in result.stdout and "--fault-seed" in result.stdout


@pytest.mark.parametrize(
    ("plan", "named"),
    [("dynamo=0.2", "'dynamo'"), ("s3=0.2,sqs=2", "sqs"), ("rekognition", "'rekognition'")],
)
def test_a_bad_fault_plan_is_one_line_naming_it_before_the_stack_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: str, named: str
) -> None:
    monkeypatch.setenv(STATE_FILE_VARIABLE, str(tmp_path / "state.json"))
    # When `modlake up` is given a plan that names an unknown service or a rate outside 0-1
    result = CliRunner().invoke(app, ["up", "--port", "0", "--work-dir", str(tmp_path / "stack"), "--faults", plan])
    # Then it fails with one line naming the item, and nothing was started or announced
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert line.startswith("modlake: --faults: ") and named in line
    assert not (tmp_path / "stack").exists() and not (tmp_path / "state.json").exists()


def test_the_running_stack_says_which_faults_are_on() -> None:
    # Given a stack announced with faults, and one without
    faulted = RunningStack(
        "http://127.0.0.1:1", "http://127.0.0.1:1/h", "s", "us-east-1", _outputs(), 1, {"s3": 0.2}, 7
    )
    plain = RunningStack("http://127.0.0.1:1", "http://127.0.0.1:1/h", "s", "us-east-1", _outputs(), 1)
    shown = {}
    for name, running in (("faulted", faulted), ("plain", plain)):
        console = Console(record=True, width=200)
        _print_running(running, console)
        shown[name] = console.export_text()
    # Then the faulted one says so, with its share and seed, and the other says nothing of faults
    assert "faults on: s3 20% of the functions' calls" in shown["faulted"] and "(seed 7)" in shown["faulted"]
    assert "fault" not in shown["plain"]


def _outputs() -> dict[str, str]:
    return dict.fromkeys(("MediaBucketName", "VideosTableName", "GlueDatabaseName", "AthenaWorkGroupName"), "x")


def test_up_with_faults_announces_them_and_faults_only_the_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given `modlake up` faulting every DynamoDB and S3 call of the functions
    with modlake_up(tmp_path, "--faults", "dynamodb=1,s3=1", "--fault-seed", "5") as up:
        running = up.running
        # Then the announcement other terminals read carries the plan, and the endpoint runs it
        assert (running.faults, running.fault_seed) == ({"dynamodb": 1.0, "s3": 1.0}, 5)
        with urllib.request.urlopen(running.health_url, timeout=5) as response:
            assert json.load(response)["faults"]["plan"] == {"dynamodb": 1.0, "s3": 1.0}
        # And the CLI's own DynamoDB reads are not faulted
        monkeypatch.setenv(STATE_FILE_VARIABLE, str(up.state))
        status = CliRunner().invoke(app, ["--local", "status"])
        assert status.exit_code == 0, status.output
        up.process.send_signal(signal.SIGINT)
        stdout, stderr = up.process.communicate(timeout=60)
        assert up.process.returncode == 0, stderr
        # And the terminal said the faults are on
        assert "faults on: dynamodb 100%, s3 100% of the functions' calls" in " ".join(stdout.split())
