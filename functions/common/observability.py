"""Structured logging, metrics, tracing and the per-record wrapper every queue-fed function uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger()
metrics = Metrics()
# X-Ray (tracing is ACTIVE on every function): the handler's subsegment carries the ColdStart and Service
# annotations, and patching botocore gives every AWS call its own subsegment (service, operation, table, queue).
# Off outside Lambda (Powertools checks LAMBDA_TASK_ROOT) and in the sandbox (POWERTOOLS_TRACE_DISABLED).
tracer = Tracer(patch_modules=("botocore",))

Handler = Callable[[Any, Any], Any]


def entry_point(handler: Handler) -> Handler:
    """What every handler is wrapped in: Lambda's context in each log line (cleared per invocation), the handler's
    X-Ray subsegment (no response in it: responses can hold keys and labels), and the metrics flushed at the end."""
    traced = tracer.capture_lambda_handler(metrics.log_metrics(handler), capture_response=False)
    return logger.inject_lambda_context(traced, clear_state=True)


def count(name: str, value: int = 1) -> None:
    """One business metric (videos started, flagged, …) in the modlake namespace."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def process_batch(event: dict[str, Any], context: Any, handle: Callable[[SQSRecord], None]) -> dict[str, Any]:
    """Run `handle` on each SQS record; failures are logged with the message and reported one by one.

    A failed record goes back to its queue (and to the DLQ after maxReceiveCount); the rest of the
    batch is deleted. Even a batch where every record failed returns a normal partial response.
    """
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def logged(record: SQSRecord) -> None:
        try:
            handle(record)
        except Exception as error:
            logger.exception(
                "message failed; it will be retried, then dead-lettered",
                message_id=record.message_id,
                receive_count=record.attributes.approximate_receive_count,
                body=record.body[:2000],
                error=str(error),
            )
            count("MessagesFailed")
            raise

    response = process_partial_response(event=event, record_handler=logged, processor=processor, context=context)
    return dict(response)
