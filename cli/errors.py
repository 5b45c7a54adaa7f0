"""The CLI's expected failures, and the one place that turns exceptions into `modlake: <message>` lines."""

from __future__ import annotations

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from functions.common.adapters.clients import error_code
from functions.common.errors import QueryFailed

EXIT_USAGE = 1  # the user can fix the command line or the input
EXIT_UNREACHABLE = 2  # modlake cannot reach the stack: credentials, region, stack or endpoint

NO_CREDENTIALS = (
    "no AWS credentials found: configure a profile (aws configure, AWS_PROFILE) or set AWS_ACCESS_KEY_ID, "
    "or use --local for the local stack"
)
NO_REGION = "no AWS region: pass --region or set AWS_DEFAULT_REGION"
# ClientError codes by which AWS rejects who is calling (rather than what was asked).
_REJECTED_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    }
)


class CliError(Exception):
    """An expected failure: printed as one line on stderr, exit code `exit_code`, no traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class Unreachable(CliError):
    """The stack cannot be reached: no credentials, no such stack, endpoint not answering."""

    exit_code = EXIT_UNREACHABLE


def as_cli_error(error: BaseException) -> CliError | None:
    """The one-line form of an expected failure; None for anything else (a bug keeps its traceback)."""
    if isinstance(error, CliError):
        return error
    if isinstance(error, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return Unreachable(NO_CREDENTIALS if isinstance(error, NoCredentialsError) else f"AWS credentials: {error}")
    if isinstance(error, SSOError | TokenRetrievalError):
        return Unreachable(f"AWS credentials: {error} (run `aws sso login`?)")
    if isinstance(error, NoRegionError):
        return CliError(NO_REGION)
    if isinstance(error, ProfileNotFound):
        return CliError(str(error))
    if isinstance(error, ConnectionError):
        return Unreachable(f"cannot reach the endpoint: {error}")
    if isinstance(error, HTTPClientError):  # a read timeout, or the connection dropped (the stack stopped)
        return Unreachable(f"the endpoint stopped answering: {error}")
    if isinstance(error, QueryFailed | S3UploadFailedError):  # the latter: boto3's managed transfer wraps S3 errors
        return CliError(str(error))
    if isinstance(error, ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if code in _REJECTED_CREDENTIALS:
            return Unreachable(f"AWS rejected the credentials ({code}): {message}")
        return CliError(f"{error.operation_name} failed: {code}: {message}")
    return None
