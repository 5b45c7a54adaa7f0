"""`python -m sandbox serve --faults SERVICE=RATE,… --fault-seed N`: the plan reaches the endpoint and is
announced; a bad plan is refused before anything listens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.endpoint import HEALTH_PATH
from sandbox.serve import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("plan", "named"), [("lambda=0.1", "'lambda'"), ("sqs=1.5", "sqs"), ("s3", "'s3'")])
def test_a_bad_plan_is_refused_naming_it(plan: str, named: str, capsys: pytest.CaptureFixture[str]) -> None:
    # When serve is given a plan with an unknown service, a rate outside 0-1 or no rate
    code = main(["serve", "--port", "0", "--faults", plan])
    # Then it exits 2 with one line naming the item
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: --faults: ") and named in error


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_faults_the_planned_share_of_requests_and_says_so(tmp_path: Path) -> None:
    # Given the endpoint served with every S3 request faulted
    port = _free_port()
    command = [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--classifier", "palette"]
    process = subprocess.Popen(
        [*command, "--work-dir", str(tmp_path), "--faults", "s3=1", "--fault-seed", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                with urllib.request.urlopen(url + HEALTH_PATH, timeout=1) as response:
                    health = json.load(response)
                break
            except OSError:
                assert time.monotonic() < deadline, "serve never became healthy"
                time.sleep(0.2)
        assert (health["faults"]["plan"], health["faults"]["seed"]) == ({"s3": 1.0}, 3)
        # When a boto3 client calls S3 (one attempt) and SQS
        config = Config(retries={"mode": "standard", "total_max_attempts": 1})
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        with pytest.raises(ClientError) as refused:
            session.client("s3", endpoint_url=url, config=config).list_buckets()
        session.client("sqs", endpoint_url=url, config=config).list_queues()
        # Then S3 answered with one of its own retryable errors, SQS as usual
        assert refused.value.response["Error"]["Code"] in {"SlowDown", "InternalError"}
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        # And the banner said which faults were on
        assert "faults on: s3 100% (seed 3)" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
