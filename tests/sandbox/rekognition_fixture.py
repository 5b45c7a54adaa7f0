"""A media bucket, a Rekognition completion topic and a queue subscribed to it, on a running local endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.clips import Scene, write_clip
from sandbox.endpoint import LocalEndpoint
from tests.sandbox.endpoint_clients import endpoint_client

BUCKET = "modlake-media"
TOPIC = "AmazonRekognitionModlakeJobs"
ROLE_ARN = "arn:aws:iam::123456789012:role/modlake-rekognition"


class RekognitionSandbox:
    """What a user's code needs around Rekognition: clips uploaded to S3, jobs started, completions received."""

    def __init__(self, endpoint: LocalEndpoint, work_dir: Path) -> None:
        self.endpoint = endpoint
        self.work_dir = work_dir
        self.s3 = endpoint_client(endpoint, "s3")
        self.rekognition = endpoint_client(endpoint, "rekognition")
        sns, self.sqs = endpoint_client(endpoint, "sns"), endpoint_client(endpoint, "sqs")
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName="rekognition-done")["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])
        self._received: dict[str, dict[str, Any]] = {}

    def upload_clip(self, key: str, scenes: Sequence[Scene], **clip_options: Any) -> str:
        """Generate a clip of these scenes, upload it, and return the S3 version id."""
        path = write_clip(self.work_dir / Path(key).name, scenes, **clip_options)
        return self.upload_bytes(key, path.read_bytes())

    def upload_bytes(self, key: str, body: bytes) -> str:
        """Upload any bytes under `key`; returns the version id."""
        return str(self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"])

    def start(self, key: str, version: str | None = None, **options: Any) -> str:
        """StartContentModeration for an object of the media bucket, completion to the sandbox topic."""
        s3_object = {"Bucket": BUCKET, "Name": key, **({"Version": version} if version else {})}
        response = self.rekognition.start_content_moderation(
            Video={"S3Object": s3_object},
            NotificationChannel={"SNSTopicArn": self.topic_arn, "RoleArn": ROLE_ARN},
            **options,
        )
        return str(response["JobId"])

    def completion(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The Rekognition completion message for a job, as it arrives on the queue subscribed to the topic."""
        deadline = time.monotonic() + timeout
        while job_id not in self._received:
            if time.monotonic() > deadline:
                raise AssertionError(f"no completion message for job {job_id} within {timeout} s")
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in response.get("Messages", []):
                envelope = json.loads(message["Body"])
                assert envelope["TopicArn"] == self.topic_arn
                payload = json.loads(envelope["Message"])
                self._received[payload["JobId"]] = payload
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return self._received[job_id]

    def all_labels(self, job_id: str, page_size: int = 1000, **options: Any) -> list[dict[str, Any]]:
        """Every ModerationLabels entry of a job, page by page (there is no botocore paginator)."""
        labels: list[dict[str, Any]] = []
        request: dict[str, Any] = {"JobId": job_id, "MaxResults": page_size, **options}
        while True:
            page = self.rekognition.get_content_moderation(**request)
            assert page["JobStatus"] == "SUCCEEDED"
            assert page["VideoMetadata"]["Codec"] == "h264"  # on every page, as AWS sends it
            labels.extend(page["ModerationLabels"])
            if "NextToken" not in page:
                return labels
            request["NextToken"] = page["NextToken"]
