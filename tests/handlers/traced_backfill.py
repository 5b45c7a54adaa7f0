"""queue_backfill invoked once as Lambda invokes it with tracing active; run by test_tracing.py in its own process.

X-Ray's SDK decides at import whether it runs in Lambda (LAMBDA_TASK_ROOT) and sends what it records to the
daemon address over UDP, so the test starts this with Lambda's variables and reads the datagrams it receives.
"""

from __future__ import annotations

import importlib
import json

import boto3
from moto import mock_aws

from functions.common.table_design import create_table_request
from tests.fakes import movie_bytes
from tests.handlers.conftest import LAKE_BUCKET, TABLE, LambdaContext
from tests.handlers.test_backfill_handler import KEY, SCHEMA_2
from tests.helpers import MEDIA_BUCKET, load_event


def main() -> None:
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (MEDIA_BUCKET, LAKE_BUCKET):
            s3.create_bucket(Bucket=bucket)
        boto3.client("dynamodb").create_table(**create_table_request(TABLE))
        s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=movie_bytes())
        handler = importlib.import_module("functions.queue_backfill.handler")
        response = handler.handler(load_event(SCHEMA_2), LambdaContext())
    print(json.dumps(response))


if __name__ == "__main__":
    main()
