"""Rekognition Video content moderation: starting jobs and reading every results page."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions.common.adapters.clients import error_code
from functions.common.errors import PaginationExpired, RekognitionBusy, VideoRejected
from functions.common.models import ContentType, RawDetection, ResultsPage, VideoMetadata, VideoRef

BUSY_CODES = frozenset({"LimitExceededException", "ProvisionedThroughputExceededException", "ThrottlingException"})
# Input Rekognition will never accept: record SKIPPED. Request problems: record FAILED.
SKIP_CODES = frozenset({"VideoTooLargeException", "InvalidS3ObjectException"})
FAIL_CODES = frozenset({"InvalidParameterException", "IdempotentParameterMismatchException"})


def _optional_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _detection(item: dict[str, Any]) -> RawDetection:
    label = item.get("ModerationLabel", {})
    level = label.get("TaxonomyLevel")
    return RawDetection(
        timestamp_ms=int(item.get("Timestamp", 0)),
        name=str(label.get("Name", "")),
        parent_name=str(label.get("ParentName", "")),
        taxonomy_level=int(level) if level is not None else None,
        confidence=float(label.get("Confidence", 0.0)),
        start_timestamp_ms=_optional_int(item.get("StartTimestampMillis")),
        end_timestamp_ms=_optional_int(item.get("EndTimestampMillis")),
        duration_ms=_optional_int(item.get("DurationMillis")),
        content_types=tuple(
            ContentType(str(c.get("Name", "")), float(c.get("Confidence", 0.0))) for c in item.get("ContentTypes", [])
        ),
    )


class RekognitionModeration:
    """StartContentModeration with an SNS channel, and GetContentModeration one page at a time."""

    def __init__(self, rekognition: Any, topic_arn: str = "", role_arn: str = "") -> None:
        self.rekognition = rekognition
        self.topic_arn = topic_arn
        self.role_arn = role_arn

    def start(self, video: VideoRef, *, token: str, job_tag: str, min_confidence: float) -> str:
        s3_object: dict[str, str] = {"Bucket": video.bucket, "Name": video.key}
        if video.version_id:
            s3_object["Version"] = video.version_id
        try:
            response = self.rekognition.start_content_moderation(
                Video={"S3Object": s3_object},
                MinConfidence=float(min_confidence),
                ClientRequestToken=token,
                NotificationChannel={"SNSTopicArn": self.topic_arn, "RoleArn": self.role_arn},
                JobTag=job_tag,
            )
        except ClientError as error:
            raise _translate(error) from error
        return str(response["JobId"])

    def results_page(self, job_id: str, *, next_token: str | None, max_results: int, aggregate_by: str) -> ResultsPage:
        args: dict[str, Any] = {
            "JobId": job_id,
            "MaxResults": max_results,
            "SortBy": "TIMESTAMP",
            "AggregateBy": aggregate_by,
        }
        if next_token:
            args["NextToken"] = next_token
        try:
            response = self.rekognition.get_content_moderation(**args)
        except ClientError as error:
            if error_code(error) == "InvalidPaginationTokenException":
                raise PaginationExpired(f"job {job_id}: {error}") from error
            raise _translate(error) from error
        return ResultsPage(
            job_status=str(response.get("JobStatus", "")),
            status_message=response.get("StatusMessage"),
            detections=tuple(_detection(item) for item in response.get("ModerationLabels", [])),
            metadata=VideoMetadata.from_rekognition(response.get("VideoMetadata") or {}),
            model_version=response.get("ModerationModelVersion"),
            next_token=response.get("NextToken") or None,
        )


def _translate(error: ClientError) -> Exception:
    """Our exception for a Rekognition error code; anything unknown stays a ClientError (retried)."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    if code in BUSY_CODES:
        return RekognitionBusy(code, message)
    if code in SKIP_CODES:
        return VideoRejected(code, message, skip=True)
    if code in FAIL_CODES:
        return VideoRejected(code, message, skip=False)
    return error
