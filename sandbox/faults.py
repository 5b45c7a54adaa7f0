"""Faults on demand: a fraction of the functions' calls to each named service gets that service's own error.

A `FaultPlan` (`rekognition=0.2,dynamodb=0.2`, and a seed) says how often; `FaultInjector` decides per request,
counts, and answers a faulted request the way the service itself refuses one: a throttle or a 5xx, with the HTTP
status, headers and body its protocol uses (AWS JSON 1.0/1.1 with `__type`, SQS's JSON with its
`x-amzn-query-error` header, S3's REST-XML `<Error>`, the query protocol's `<ErrorResponse>`, SES v2's REST-JSON).
Every error here is one botocore's standard retry mode retries (tests/sandbox/test_faults.py holds each shape
against botocore's parsers and its retry checker), so a faulted request is what a busy AWS region does to the
pipeline: a retry, a backoff, and now and then a call that fails after its last attempt.

The injector faults requests before the service sees them (a throttle's semantics: nothing happened). Decisions are
deterministic per service: the k-th request to a service is faulted, and with which error, by the seed alone.
"""

from __future__ import annotations

import http
import json
import random
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from xml.etree import ElementTree

from sandbox.protocol import service_model

# The services a plan may name, by SigV4 signing name (what the endpoint sees; SES v1 and v2 both sign as "ses").
SERVICES = ("athena", "dynamodb", "events", "rekognition", "s3", "ses", "sns", "sqs")
INTERNAL_HEADER = "x-modlake-internal"  # marks the sandbox's own calls, which are never faulted
INTERNAL_ENVIRON = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")

Answer = tuple[int, list[tuple[str, str]], bytes]


class FaultPlanError(ValueError):
    """A fault plan that names an unknown service or a rate outside 0–1 (the message names which)."""


@dataclass(frozen=True)
class FaultPlan:
    """Which fraction of the functions' calls to each service is faulted, and the seed of the decisions."""

    rates: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    seed: int = 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultPlan:
        """`SERVICE=RATE,…` (e.g. `rekognition=0.2,dynamodb=0.2`); an empty text is the plan without faults."""
        rates: dict[str, float] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            name, equals, value = (piece.strip() for piece in item.partition("="))
            if not equals:
                raise FaultPlanError(f"{item!r} is not SERVICE=RATE (e.g. dynamodb=0.2)")
            if name not in SERVICES:
                raise FaultPlanError(f"unknown service {name!r} (known: {', '.join(SERVICES)})")
            if name in rates:
                raise FaultPlanError(f"service {name!r} is named twice")
            try:
                rate = float(value)
            except ValueError:
                rate = -1.0
            if not 0.0 <= rate <= 1.0:  # also refuses nan
                raise FaultPlanError(f"the rate of {name} must be a number from 0 to 1, got {value!r}")
            rates[name] = rate
        return cls(MappingProxyType(rates), seed)

    @property
    def active(self) -> bool:
        """True when some service gets faults."""
        return any(rate > 0 for rate in self.rates.values())

    def rate(self, service: str) -> float:
        """The fraction of calls to this service (by signing name) that is faulted."""
        return self.rates.get(service, 0.0)

    def describe(self) -> str:
        """One line for announcements: `dynamodb 20%, rekognition 20% (seed 7)`, or `off`."""
        if not self.active:
            return "off"
        shares = ", ".join(f"{name} {rate:.0%}" for name, rate in sorted(self.rates.items()) if rate > 0)
        return f"{shares} (seed {self.seed})"


# --- what each service sends ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WireError:
    """One retryable error of one service: the code botocore parses, its HTTP status and AWS's message."""

    code: str
    status: int
    message: str
    throttling: bool  # a throttle (botocore backs off from 1 s) rather than a server fault (from 25–50 ms)
    wire_type: str = ""  # the `__type` when the protocol namespaces it (JSON 1.0), else the code

    @property
    def fault(self) -> str:
        """The query protocol's <Type>: the caller's fault for a throttle, the service's for a 5xx."""
        return "Receiver" if self.status >= 500 else "Sender"


@dataclass(frozen=True)
class FaultedRequest:
    """What shapes a faulted answer: the service it was signed for, its method, path and X-Amz-Target."""

    service: str
    method: str = "POST"
    path: str = "/"
    target: str = ""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def from_environ(cls, service: str, environ: Mapping[str, Any]) -> FaultedRequest:
        """The request a WSGI environ describes."""
        return cls(
            service=service,
            method=str(environ.get("REQUEST_METHOD", "POST")),
            path=str(environ.get("PATH_INFO", "/")),
            target=str(environ.get("HTTP_X_AMZ_TARGET", "")),
        )


class _Protocol:
    """How one protocol puts an error on the wire."""

    def speaks(self, request: FaultedRequest) -> bool:
        """True when the request uses this protocol (a service may take two, as SQS and SES do)."""
        return True

    def answer(self, error: WireError, request: FaultedRequest) -> Answer:
        raise NotImplementedError


@dataclass(frozen=True)
class _AwsJson(_Protocol):
    """AWS JSON 1.0/1.1: `{"__type": …, "message": …}` and x-amzn-RequestId; SQS adds x-amzn-query-error."""

    version: str
    message_key: str = "message"
    query_compatible: bool = False  # SQS: the former query protocol's code and fault in a header
    crc32: bool = False  # DynamoDB signs every body with a CRC32 header, errors included
    extra: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # further members by error code

    def speaks(self, request: FaultedRequest) -> bool:
        return bool(request.target)

    def answer(self, error: WireError, request: FaultedRequest) -> Answer:
        document = {"__type": error.wire_type or error.code, self.message_key: error.message}
        body = json.dumps({**document, **self.extra.get(error.code, {})}).encode()
        headers = [("Content-Type", f"application/x-amz-json-{self.version}"), ("x-amzn-RequestId", request.request_id)]
        if self.query_compatible:
            headers.append(("x-amzn-query-error", f"{error.code};{error.fault}"))
        if self.crc32:
            headers.append(("x-amz-crc32", str(zlib.crc32(body))))
        return error.status, headers, body


@dataclass(frozen=True)
class _Query(_Protocol):
    """The query protocol (SNS, SES v1, SQS's form requests): `<ErrorResponse><Error><Type/><Code/>…`."""

    namespace: str

    def speaks(self, request: FaultedRequest) -> bool:
        return not request.target and not request.path.startswith("/v2/")

    def answer(self, error: WireError, request: FaultedRequest) -> Answer:
        root = ElementTree.Element("ErrorResponse", {"xmlns": self.namespace})
        detail = ElementTree.SubElement(root, "Error")
        ElementTree.SubElement(detail, "Type").text = error.fault
        ElementTree.SubElement(detail, "Code").text = error.code
        ElementTree.SubElement(detail, "Message").text = error.message
        ElementTree.SubElement(root, "RequestId").text = request.request_id
        body = ElementTree.tostring(root, encoding="unicode").encode()
        return error.status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request.request_id)], body


@dataclass(frozen=True)
class _RestJson(_Protocol):
    """REST-JSON (SES v2 under /v2/): the code in x-amzn-ErrorType, `{"message": …}` in the body."""

    prefix: str

    def speaks(self, request: FaultedRequest) -> bool:
        return request.path.startswith(self.prefix)

    def answer(self, error: WireError, request: FaultedRequest) -> Answer:
        body = json.dumps({"message": error.message}).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request.request_id),
            ("x-amzn-ErrorType", error.code),
        ]
        return error.status, headers, body


class _S3Xml(_Protocol):
    """S3's REST-XML `<Error>` with RequestId and HostId (also in headers); a HEAD answer has no body, as on S3."""

    def answer(self, error: WireError, request: FaultedRequest) -> Answer:
        request_id = uuid.UUID(request.request_id).hex[:16].upper()
        host_id = uuid.uuid4().hex + uuid.uuid4().hex
        headers = [("x-amz-request-id", request_id), ("x-amz-id-2", host_id)]
        if request.method == "HEAD":
            return error.status, headers, b""
        root = ElementTree.Element("Error")
        for name, text in (("Code", error.code), ("Message", error.message), ("RequestId", request_id)):
            ElementTree.SubElement(root, name).text = text
        ElementTree.SubElement(root, "HostId").text = host_id
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode").encode()
        return error.status, [("Content-Type", "application/xml"), *headers], body


@dataclass(frozen=True)
class ServiceFaults:
    """One protocol of a service and the retryable errors it sends through it."""

    protocol: _Protocol
    errors: tuple[WireError, ...]


_DYNAMODB = "com.amazonaws.dynamodb.v20120810#"
_RATE_EXCEEDED = "Rate exceeded"
_SQS_THROTTLED = "The request was denied due to request throttling."
_SQS_FAILURE = "The request processing has failed because of an unknown error, exception or failure."
# Per service, the errors it sends for "slow down" and "try again", by protocol (the first that speaks a request).
# Rekognition's LimitExceededException is not among them: it refuses a job over the concurrent-job limit, which is
# the pipeline's own business (the local Rekognition raises it when its limit is reached), not a transient fault.
CATALOG: Mapping[str, tuple[ServiceFaults, ...]] = MappingProxyType(
    {
        "rekognition": (
            ServiceFaults(
                _AwsJson("1.1", message_key="Message"),
                (
                    WireError("ProvisionedThroughputExceededException", 400, "Provisioned rate exceeded.", True),
                    WireError(
                        "ThrottlingException",
                        500,  # a fault in Rekognition's model: AWS sends it with HTTP 500
                        "Amazon Rekognition is temporarily unable to process the request. Try your call again.",
                        True,
                    ),
                    WireError(
                        "InternalServerError",
                        500,
                        "Amazon Rekognition experienced a service issue. Try your call again.",
                        False,
                    ),
                ),
            ),
        ),
        "dynamodb": (
            ServiceFaults(
                _AwsJson("1.0", crc32=True),
                (
                    WireError(
                        "ProvisionedThroughputExceededException",
                        400,
                        "The level of configured provisioned throughput for the table was exceeded. "
                        "Consider increasing your provisioning level with the UpdateTable API.",
                        True,
                        _DYNAMODB + "ProvisionedThroughputExceededException",
                    ),
                    WireError(
                        "ThrottlingException",
                        400,
                        "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
                        "scaling your table or index so please try again shortly.",
                        True,
                        _DYNAMODB + "ThrottlingException",
                    ),
                    WireError(
                        "InternalServerError", 500, "Internal server error", False, _DYNAMODB + "InternalServerError"
                    ),
                ),
            ),
        ),
        "s3": (
            ServiceFaults(
                _S3Xml(),
                (
                    WireError("SlowDown", 503, "Please reduce your request rate.", True),
                    WireError("InternalError", 500, "We encountered an internal error. Please try again.", False),
                ),
            ),
        ),
        "sqs": (
            ServiceFaults(
                _AwsJson("1.0", query_compatible=True),
                (
                    WireError("RequestThrottled", 400, _SQS_THROTTLED, True, "com.amazonaws.sqs#RequestThrottled"),
                    WireError("InternalFailure", 500, _SQS_FAILURE, False, "com.amazon.coral.service#InternalFailure"),
                ),
            ),
            ServiceFaults(
                _Query("http://queue.amazonaws.com/doc/2012-11-05/"),
                (
                    WireError("RequestThrottled", 400, _SQS_THROTTLED, True),
                    WireError("InternalFailure", 500, _SQS_FAILURE, False),
                ),
            ),
        ),
        "sns": (
            ServiceFaults(
                _Query("http://sns.amazonaws.com/doc/2010-03-31/"),
                (
                    WireError("Throttling", 400, _RATE_EXCEEDED, True),
                    WireError("InternalError", 500, "Internal Error", False),  # SNS's InternalErrorException
                ),
            ),
        ),
        "events": (
            ServiceFaults(
                _AwsJson("1.1"),
                (
                    WireError("ThrottlingException", 400, _RATE_EXCEEDED, True),
                    WireError("InternalException", 500, "Internal service error.", False),
                ),
            ),
        ),
        "athena": (
            ServiceFaults(
                _AwsJson("1.1", message_key="Message"),
                (
                    WireError("ThrottlingException", 400, _RATE_EXCEEDED, True),
                    WireError(
                        "InternalServerException",
                        500,
                        "Internal service error: the request could not be completed. Try again.",
                        False,
                    ),
                ),
            ),
        ),
        "ses": (
            ServiceFaults(  # SES API v2 (what send_digest uses): REST-JSON under /v2/
                _RestJson("/v2/"),
                (
                    WireError("TooManyRequestsException", 429, "Too many requests have been made.", True),
                    WireError("InternalServiceErrorException", 500, "An internal error occurred. Try again.", False),
                ),
            ),
            ServiceFaults(  # SES API v1: the query protocol
                _Query("http://ses.amazonaws.com/doc/2010-12-01/"),
                (
                    WireError("Throttling", 400, "Maximum sending rate exceeded.", True),
                    WireError("InternalFailure", 500, "An internal failure occurred. Try again.", False),
                ),
            ),
        ),
    }
)


def faults_for(request: FaultedRequest) -> ServiceFaults | None:
    """The protocol and errors that fit a request to its service; None for a service without a catalog entry."""
    return next((entry for entry in CATALOG.get(request.service, ()) if entry.protocol.speaks(request)), None)


def signing_name(service: str) -> str:
    """The SigV4 signing name of a botocore service ("sesv2" → "ses"), the name plans and counters use."""
    return str(service_model(service).signing_name)


# --- deciding and counting --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceCounts:
    """One service's requests from the callers faults apply to, and the faults they got, by error code."""

    requests: int = 0
    faults: int = 0
    codes: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "faults": self.faults, "codes": dict(self.codes)}


def _everyone(access_key: str) -> bool:
    return True


class FaultInjector:
    """Decides, per request, whether it is faulted; counts requests and faults per service (thread-safe).

    `faulted_callers` tells the callers faults apply to by access key: every caller of a bare endpoint, only the
    functions in the local stack. Requests marked with INTERNAL_HEADER (the sandbox's own services) are not
    offered here at all.
    """

    def __init__(self, plan: FaultPlan | None = None, faulted_callers: Callable[[str], bool] = _everyone) -> None:
        self.plan = plan or FaultPlan()
        self.faulted_callers = faulted_callers
        self._lock = threading.Lock()
        self._random: dict[str, random.Random] = {}
        self._requests: Counter[str] = Counter()
        self._codes: dict[str, Counter[str]] = {}

    def use(self, plan: FaultPlan) -> None:
        """Fault by another plan from now on (counts and each service's sequence of decisions go on)."""
        with self._lock:
            self.plan = plan

    def inject(self, request: FaultedRequest, access_key: str) -> tuple[WireError, Answer] | None:
        """The error and answer for a request that is faulted; None for one that goes on to its service."""
        if not self.faulted_callers(access_key):
            return None
        with self._lock:
            rate = self.plan.rate(request.service)
            entry = faults_for(request) if rate > 0 else None
            self._requests[request.service] += 1
            if entry is None:
                return None
            rng = self._random.get(request.service)
            if rng is None:
                rng = self._random[request.service] = random.Random(f"{self.plan.seed}/{request.service}")
            if rng.random() >= rate:
                return None
            error = entry.errors[rng.randrange(len(entry.errors))]
            self._codes.setdefault(request.service, Counter())[error.code] += 1
        return error, entry.protocol.answer(error, request)

    def counts(self) -> dict[str, ServiceCounts]:
        """Requests and faults so far, per service that had any request."""
        with self._lock:
            codes = {service: dict(self._codes.get(service, {})) for service in self._requests}
            return {
                service: ServiceCounts(requests, sum(codes[service].values()), codes[service])
                for service, requests in sorted(self._requests.items())
            }

    def report(self) -> dict[str, Any]:
        """The plan and the counts as JSON (the endpoint's health route shows it)."""
        return {
            "plan": dict(self.plan.rates),
            "seed": self.plan.seed,
            "services": {service: counts.as_dict() for service, counts in self.counts().items()},
        }


def status_line(status: int) -> str:
    """`503 Service Unavailable`: the status line for a faulted answer."""
    return f"{status} {http.HTTPStatus(status).phrase}"
