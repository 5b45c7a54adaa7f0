"""Which AWS failures are worth trying again later (S3 Batch Operations' TemporaryFailure, for example)."""

from __future__ import annotations

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

from functions.common.adapters.clients import error_code

# Error codes AWS services use for "slow down" or "try again": the throttling and transient codes botocore's
# standard retry mode retries (botocore.retries.standard), kept here as data because botocore's lists are private.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalError",
        "ServiceUnavailable",
    }
)


def is_transient(error: Exception) -> bool:
    """True for an AWS error worth retrying later: throttling, a 5xx or 429 answer, or a broken connection."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    response = getattr(error, "response", None) or {}
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return error_code(error) in RETRYABLE_CODES or status >= 500 or status == 429
