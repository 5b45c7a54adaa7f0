"""modlake's own exceptions: adapters turn AWS error codes into these, logic decides what they mean."""

from __future__ import annotations


class ModlakeError(Exception):
    """Base of every error modlake raises on purpose."""


class MalformedMessage(ModlakeError):
    """A queue message modlake cannot parse; it fails alone and reaches the DLQ after retries."""


class UnexpectedBucket(ModlakeError):
    """An event for a bucket this stack does not watch (a misrouted rule or queue)."""


class UnknownJob(ModlakeError):
    """A completion message for a job modlake has no record of (yet)."""


class RekognitionBusy(ModlakeError):
    """No capacity now (concurrent-job limit or TPS throttling): the video waits and is retried."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code

    @property
    def is_job_limit(self) -> bool:
        """True when the account's concurrent-job limit is reached (a slot frees only when a job ends)."""
        return self.code == "LimitExceededException"


class VideoRejected(ModlakeError):
    """Rekognition refuses this video for good (too large, unreadable, bad parameters)."""

    def __init__(self, code: str, message: str, *, skip: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.skip = skip  # True: the input is unsuitable (SKIPPED); False: the request failed (FAILED)


class PaginationExpired(ModlakeError):
    """GetContentModeration's NextToken is no longer valid (tokens live 24 hours)."""


class WriteIncomplete(ModlakeError):
    """DynamoDB kept returning UnprocessedItems after every retry."""


class ReadIncomplete(ModlakeError):
    """DynamoDB kept returning UnprocessedKeys after every retry."""


class QueryFailed(ModlakeError):
    """An Athena query ended FAILED or CANCELLED, or could not finish in the time left."""

    def __init__(self, query: str, state: str, reason: str) -> None:
        super().__init__(f"query {query} {state}: {reason}")
        self.query = query
        self.state = state
        self.reason = reason
