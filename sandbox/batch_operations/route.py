"""The Batch Operations job APIs on the local endpoint: S3 Control's REST-XML, signed for "s3", under /v20180820/jobs.

Requests signed for "s3" are offered to this route first; it answers only S3 Control job paths (which carry the
`x-amz-account-id` header no S3 request has) and returns None for everything else, so S3 and moto's other S3 Control
APIs go on to moto. A request is decoded with the model (headers, URI, query string, XML body), checked with
`validate_request` as AWS checks it (its violations are S3's `InvalidRequest`), answered by the service, and written
back as the model's XML; errors are S3 Control's `<ErrorResponse>` document.
"""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any
from urllib.parse import parse_qs

from sandbox.batch_operations.service import BatchOperationsService, BatchSettings, Invoker
from sandbox.endpoint import LocalEndpoint
from sandbox.protocol import (
    XML_CONTENT_TYPE,
    RequestContext,
    ServiceError,
    operation_model,
    response_problems,
    rest_operation,
    rest_xml_document,
    rest_xml_error,
    rest_xml_request,
    validate_request,
)
from sandbox.stack.calls import AwsCall

logger = logging.getLogger(__name__)

SERVICE = "s3control"
JOBS_PATH = "/v20180820/jobs"
_ACCOUNT_HEADER = "HTTP_X_AMZ_ACCOUNT_ID"
_NAMESPACE = operation_model(SERVICE, "CreateJob").input_shape.serialization["xmlNamespace"]["uri"]
_INTERNAL_ERROR = "We encountered an internal error. Please try again."

Answer = tuple[int, dict[str, str], bytes]


class JobsRoute:
    """Answers S3 Control job requests for a BatchOperationsService (an endpoint Route)."""

    def __init__(self, service: BatchOperationsService, *, check_responses: bool = False) -> None:
        self._service = service
        self._check_responses = check_responses

    def __call__(self, environ: dict[str, Any], context: RequestContext) -> Answer | None:
        path = environ.get("PATH_INFO", "")
        if _ACCOUNT_HEADER not in environ or not (path == JOBS_PATH or path.startswith(JOBS_PATH + "/")):
            return None
        headers = {
            "Content-Type": XML_CONTENT_TYPE,
            "x-amz-request-id": context.request_id,
            "x-amz-id-2": base64.b64encode(secrets.token_bytes(48)).decode("ascii"),
        }
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            found = rest_operation(SERVICE, method, path)
            if found is None:
                raise ServiceError(
                    "MethodNotAllowed", "The specified method is not allowed against this resource.", 405
                )
            model, labels = found
            if model.name not in self._service.operations():
                raise ServiceError(
                    "NotImplemented", f"The local S3 Batch Operations service does not implement {model.name}.", 501
                )
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            request = rest_xml_request(model, _headers(environ), _body(environ), labels, query)
            try:
                validate_request(model, request)
            except ServiceError as error:  # S3 Control answers model violations with S3's InvalidRequest
                raise ServiceError("InvalidRequest", error.message) from error
            response = self._service.handle(model.name, request, context)
            if self._check_responses:
                problems = response_problems(model, response)
                if problems:
                    raise RuntimeError(f"{SERVICE}.{model.name} response breaks the model: {problems}")
        except ServiceError as error:
            logger.info("%s %s → %s: %s", method, path, error.code, error.message)
            return error.status, headers, rest_xml_error(error, context.request_id, headers["x-amz-id-2"])
        except Exception:  # a bug of ours: S3's internal error, logged with the request
            logger.exception("%s %s failed", method, path)
            failure = ServiceError("InternalError", _INTERNAL_ERROR, 500)
            return 500, headers, rest_xml_error(failure, context.request_id, headers["x-amz-id-2"])
        return 200, headers, rest_xml_document(model.output_shape, response, _NAMESPACE)


def serve_batch_operations(
    endpoint: LocalEndpoint, invoker: Invoker, settings: BatchSettings | None = None
) -> BatchOperationsService:
    """Serve the Batch Operations job APIs on `endpoint`, running tasks with `invoker` (closed with the endpoint).

    The service's S3 calls go through the endpoint's clients and its invocations to the same `clients.on_call`,
    both as the job's role.
    """

    def record(call: AwsCall) -> None:
        if endpoint.clients.on_call is not None:
            endpoint.clients.on_call(call)

    service = BatchOperationsService(endpoint.clients, invoker, settings or BatchSettings(), record=record)
    endpoint.add(service)
    endpoint.add_route("s3", JobsRoute(service, check_responses=endpoint.check_responses))
    return service


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        name[5:].replace("_", "-").lower(): str(value) for name, value in environ.items() if name.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return headers


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""
