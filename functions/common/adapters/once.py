"""Once-per-key execution on Powertools idempotency, with its records in the videos table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from functions.common.table_design import PARTITION_KEY, SORT_KEY

DIGEST_PARTITION = "DIGEST"  # the stack lets send_digest write only items under this partition key
REMEMBER_SECONDS = 400 * 24 * 3600  # a day's digest stays "sent" for over a year


def digest_persistence(table_name: str, dynamodb: Any) -> DynamoDBPersistenceLayer:
    """Idempotency records as items pk=DIGEST, sk=<key hash> of the single table (no GSI key attributes)."""
    return DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr=PARTITION_KEY,
        sort_key_attr=SORT_KEY,
        static_pk_value=DIGEST_PARTITION,
        status_attr="idempotency_status",  # not `status`: that name is the by_status index key
        boto3_client=dynamodb,
    )


class IdempotentOnce:
    """Runs work once per key: a second call gets the first call's result; a failed call leaves no record."""

    def __init__(self, persistence: BasePersistenceLayer, config: IdempotencyConfig | None = None) -> None:
        self.persistence = persistence
        self.config = config or IdempotencyConfig(expires_after_seconds=REMEMBER_SECONDS)

    def run_once(self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        ran = False

        def body(request: dict[str, str]) -> dict[str, Any]:
            nonlocal ran
            ran = True
            return work()

        once = idempotent_function(
            data_keyword_argument="request",
            persistence_store=self.persistence,
            config=self.config,
            key_prefix="digest",
        )(body)
        result = once(request=dict(key))
        return dict(result), ran
