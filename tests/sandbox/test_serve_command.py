"""`python -m sandbox serve` as a user runs it: it answers boto3 on its port and stops cleanly on SIGTERM/Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from sandbox.endpoint import HEALTH_PATH

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(port: int, work_dir: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--classifier", "palette"]
    return subprocess.Popen(
        [*command, "--work-dir", str(work_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with urllib.request.urlopen(url + HEALTH_PATH, timeout=1) as response:
                return dict(json.load(response))
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    process = _serve(port, tmp_path)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_boto3_and_stops_cleanly(served: tuple[str, subprocess.Popen[str]], stop_signal: int) -> None:
    url, process = served
    health = _wait_healthy(url, process)
    assert set(health["services"]) == {"rekognition", "athena"}  # type: ignore[arg-type]
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    s3.create_bucket(Bucket="served")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["served"]

    process.send_signal(stop_signal)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"AWS_ENDPOINT_URL={url}" in out
    with pytest.raises(OSError):
        urllib.request.urlopen(url + HEALTH_PATH, timeout=1)


def test_a_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(port, tmp_path)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip().splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: the port is in use"]
