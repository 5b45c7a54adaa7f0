"""Running local endpoints for tests that talk to them through boto3, as a user's code would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.endpoint import LocalEndpoint
from sandbox.faults import FaultPlan
from sandbox.rekognition.classifier import FrameClassifier
from sandbox.rekognition.service import RekognitionSettings
from sandbox.serve import EndpointSettings, build_endpoint

EndpointFactory = Callable[..., LocalEndpoint]


@pytest.fixture
def start_endpoint(tmp_path: Path) -> Iterator[EndpointFactory]:
    """Start endpoints (port 0, responses checked against botocore's model) that stop when the test ends."""
    started: list[LocalEndpoint] = []

    def start(classifier: str | FrameClassifier = "palette", faults: str = "", **rekognition: object) -> LocalEndpoint:
        """An endpoint with this classifier, Rekognition limits (RekognitionSettings' fields) and fault plan."""
        settings = EndpointSettings(
            port=0,
            classifier=classifier,
            rekognition=RekognitionSettings(**rekognition),  # type: ignore[arg-type]
            work_dir=tmp_path / f"endpoint-{len(started)}",
            check_responses=True,
            faults=FaultPlan.parse(faults) if faults else FaultPlan(),
        )
        endpoint = build_endpoint(settings).start()
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.shutdown()
