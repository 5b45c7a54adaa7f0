"""Expected failures: one `modlake: …` line on stderr, no traceback, exit 1 (input) or 2 (cannot reach)."""

from __future__ import annotations

from pathlib import Path

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from moto import mock_aws
from rich.console import Console

import cli.target as target_module
from cli.announcement import RunningStack
from cli.application import report_error
from cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError, as_cli_error
from cli.target import Target
from functions.common.errors import QueryFailed
from tests.cli.conftest import error_line, modlake, mp4_bytes


@pytest.fixture
def no_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """No announced local stack, whatever runs on this machine."""
    monkeypatch.setattr(target_module, "running_stack", lambda: None)


def test_no_credentials_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_local_stack: None
) -> None:
    # Given no credentials anywhere boto3 looks (environment, shared files, instance metadata)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # When a command needs the deployed stack
    result = modlake(None, "--stack", "modlake-dev", "--region", "eu-west-1", "status")
    # Then it says so in one line and exits 2
    assert result.exit_code == EXIT_UNREACHABLE
    assert error_line(result).startswith("modlake: no AWS credentials found:")
    assert "Traceback" not in result.output


def test_stack_not_found_is_one_line_and_exit_2(no_local_stack: None) -> None:
    # Given an account without the stack
    with mock_aws():
        # When the CLI looks it up
        result = modlake(None, "--stack", "modlake-prod", "--region", "eu-west-1", "status")
    # Then CloudFormation's ValidationError becomes one line naming stack and region
    assert result.exit_code == EXIT_UNREACHABLE
    assert error_line(result).startswith("modlake: stack modlake-prod not found in eu-west-1:")


def test_local_without_a_running_stack(no_local_stack: None) -> None:
    # Given no local stack announced
    # When --local is asked for
    result = modlake(None, "--local", "status")
    # Then the message says how to start one
    assert result.exit_code == EXIT_UNREACHABLE
    assert error_line(result) == ("modlake: no local stack is running: start one with `modlake up` (or `make demo`)")


def test_local_stack_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an announced local stack whose endpoint is gone (port 9: nothing listens)
    announced = RunningStack(
        endpoint_url="http://127.0.0.1:9",
        health_url="http://127.0.0.1:9/_modlake/health",
        stack_name="modlake-local",
        region="us-east-1",
        pid=1,
    )
    monkeypatch.setattr(target_module, "running_stack", lambda: announced)
    # When --local is asked for
    result = modlake(None, "--local", "status")
    # Then the real health check fails and the message names the endpoint
    assert result.exit_code == EXIT_UNREACHABLE
    assert error_line(result) == (
        "modlake: the local stack at http://127.0.0.1:9 is not answering: restart it with `modlake up`"
    )


def test_both_stack_and_local_is_a_usage_error() -> None:
    # When both target options are given
    result = modlake(None, "--stack", "s", "--local", "status")
    # Then it is refused as input
    assert result.exit_code == EXIT_USAGE
    assert error_line(result) == "modlake: use either --stack or --local, not both"


def test_a_bad_option_value_exits_1(target: Target) -> None:
    # When click rejects an option value
    result = modlake(target, "status", "--limit", "0")
    # Then the exit code is the CLI's usage code, not click's 2
    assert result.exit_code == EXIT_USAGE


@pytest.mark.parametrize("kind", ["missing file", "directory"])
def test_missing_path_and_directory(tmp_path: Path, kind: str) -> None:
    # Given a path that is not a file
    path = tmp_path / "missing.mp4" if kind == "missing file" else tmp_path
    # When it is uploaded (no stack needed: files are checked first)
    result = modlake(None, "upload", str(path))
    # Then one line names it
    assert result.exit_code == EXIT_USAGE
    expected = f"no such file: {path}" if kind == "missing file" else f"{path} is a directory: upload takes video files"
    assert error_line(result) == f"modlake: {expected}"


def test_unknown_named_query(target: Target) -> None:
    # When the argument is neither a named query nor SQL
    result = modlake(target, "query", "daily_volumes")
    # Then the line lists the named queries
    assert result.exit_code == EXIT_USAGE
    line = error_line(result)
    assert line.startswith("modlake: unknown named query 'daily_volumes': pass SQL, or one of ")
    assert "daily_volume," in line


def test_bad_param(target: Target) -> None:
    # When a --param has no "="
    result = modlake(target, "query", "daily_volume", "--param", "day_from")
    # Then it is refused before Athena is called
    assert result.exit_code == EXIT_USAGE
    assert error_line(result) == "modlake: bad --param 'day_from': expected NAME=VALUE"


def test_unknown_video_key(target: Target) -> None:
    # When a key modlake never saw is asked for
    result = modlake(target, "status", "uploads/nothing.mp4")
    # Then the line names the key and the bucket
    assert result.exit_code == EXIT_USAGE
    assert error_line(result) == (
        "modlake: no video with key 'uploads/nothing.mp4' in s3://modlake-test-media "
        "(see `modlake status` for the known keys)"
    )


def test_an_aws_error_is_one_line(target: Target) -> None:
    # Given outputs naming a table that does not exist
    broken = Target(target.stack_name, target.region, {**target.outputs, "VideosTableName": "gone"})
    # When the status is read
    result = modlake(broken, "status")
    # Then the ClientError becomes one line with the operation and code
    assert result.exit_code == EXIT_USAGE
    assert error_line(result).startswith("modlake: Query failed: ResourceNotFoundException:")


def test_a_missing_output_says_the_stack_is_incomplete(target: Target) -> None:
    # Given a stack without the videos table output
    partial = Target(target.stack_name, target.region, {"MediaBucketName": "m"})
    # When the status is read
    result = modlake(partial, "status")
    # Then the line names the missing output
    assert result.exit_code == EXIT_UNREACHABLE
    assert "has no output VideosTableName" in error_line(result)


def test_a_bug_keeps_its_traceback(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a command that hits an unexpected error
    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr("cli.commands.list_videos", broken)
    # When it runs
    result = modlake(target, "status")
    # Then the exception is not turned into a one-liner
    assert isinstance(result.exception, ZeroDivisionError)
    assert "modlake: " not in result.stderr


def test_error_conversion_table() -> None:
    # Given the exceptions the CLI expects
    client_error = ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "Query")
    cases = {
        NoCredentialsError(): EXIT_UNREACHABLE,
        EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"): EXIT_UNREACHABLE,
        ReadTimeoutError(endpoint_url="http://127.0.0.1:4566/"): EXIT_UNREACHABLE,
        client_error: EXIT_UNREACHABLE,
        QueryFailed("daily_volume", "FAILED", "TABLE_NOT_FOUND"): EXIT_USAGE,
        CliError("x"): EXIT_USAGE,
        S3UploadFailedError("Failed to upload a.mp4: AccessDenied"): EXIT_USAGE,
    }
    # When each is converted
    # Then each gets its exit code, and anything else stays a bug
    assert {error: as_cli_error(error).exit_code for error in cases} == cases  # type: ignore[union-attr]
    assert as_cli_error(KeyError("k")) is None


def test_a_non_video_is_refused_before_anything_is_uploaded(target: Target, tmp_path: Path) -> None:
    # Given a real video and a text file named like one
    good = tmp_path / "good.mp4"
    good.write_bytes(mp4_bytes())
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello, not a video")
    # When both are uploaded
    result = modlake(target, "upload", str(good), str(fake))
    # Then the sniff refuses the text file and nothing reaches the bucket
    assert result.exit_code == EXIT_USAGE
    assert error_line(result) == (
        f"modlake: {fake} is not a video: it does not start like an MP4 or MOV file (no ISO-BMFF box)"
    )
    assert "Contents" not in target.client("s3").list_objects_v2(Bucket=target.outputs["MediaBucketName"])


def test_a_file_with_another_suffix_is_refused(target: Target, tmp_path: Path) -> None:
    # Given an MP4 saved as .avi
    clip = tmp_path / "clip.avi"
    clip.write_bytes(mp4_bytes())
    # When it is uploaded
    result = modlake(target, "upload", str(clip))
    # Then the suffix check names the suffixes the stack takes
    assert result.exit_code == EXIT_USAGE
    assert error_line(result) == f"modlake: {clip} is not a video: its suffix is not one of mp4, mov, m4v"


def test_a_multi_line_message_is_printed_on_one_line() -> None:
    # Given a message with line breaks and markup-like text (as Athena reasons can have)
    console = Console(record=True, width=40)
    # When it is reported
    report_error("query x FAILED:\n  line 1: [bold] is not a column\n", console)
    # Then one unwrapped line comes out, markup untouched
    assert console.export_text() == "modlake: query x FAILED: line 1: [bold] is not a column\n"
