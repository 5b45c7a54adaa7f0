"""Lambda entry point: the review API's function URL (payload format 2.0, AuthType AWS_IAM) through Powertools."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types

from functions.common.adapters.clients import client
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.adapters.s3 import S3LakeObjects, S3MediaObjects
from functions.common.lake import LakeWriter
from functions.common.observability import count, entry_point, logger
from functions.common.settings import ReviewSettings
from functions.review_api.logic import Answer, ApiError, ReviewDeps, lookup_video, record_verdict, review_queue

settings = ReviewSettings.from_env()  # a missing variable fails the cold start, not a request


def build_deps(settings: ReviewSettings) -> ReviewDeps:
    """Adapters for the real AWS services, built once per container."""
    return ReviewDeps(
        store=DynamoVideoStore(client("dynamodb"), settings.videos_table),
        lake=LakeWriter(S3LakeObjects(client("s3"), settings.analytics_bucket)),
        tags=S3MediaObjects(client("s3")) if settings.quarantine.tags else None,
        quarantine=settings.quarantine,
    )


deps = build_deps(settings)
app = LambdaFunctionUrlResolver()


def _json(answer: Answer) -> Response[str]:
    return Response(
        status_code=answer.status, content_type=content_types.APPLICATION_JSON, body=json.dumps(answer.body)
    )


@app.get("/videos")
def get_video() -> Response[str]:
    """A video's latest version (or the one named): status, flag, categories, verdict."""
    params = app.current_event.query_string_parameters or {}
    logger.append_keys(bucket=params.get("bucket"), key=params.get("key"))
    return _json(lookup_video(params, deps))


@app.get("/review-queue")
def get_review_queue() -> Response[str]:
    """Flagged videos awaiting a verdict, oldest first."""
    return _json(review_queue(app.current_event.query_string_parameters or {}, deps))


@app.post("/videos/<video_id>/verdicts")
def post_verdict(video_id: str) -> Response[str]:
    """Record the caller's verdict on a flagged video (a replay answers the stored one)."""
    logger.append_keys(video_id=video_id)
    request_context = app.current_event.raw_event.get("requestContext")
    return _json(record_verdict(video_id, app.current_event.decoded_body, request_context, deps))


@app.exception_handler(ApiError)
def refused(error: ApiError) -> Response[str]:
    """Every refusal: logged with the object it concerns, answered with its status and message."""
    logger.warning(
        "review API request refused",
        status=error.status,
        reason=error.message,
        method=app.current_event.http_method,
        path=app.current_event.path,
        **error.concerns,
    )
    count(f"ReviewApi{error.status}")
    return _json(Answer(error.status, {"message": error.message}))


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one function URL request."""
    return app.resolve(event, context)
