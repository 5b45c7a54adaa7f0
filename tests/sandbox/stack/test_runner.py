"""The event runner behaves like Lambda's SQS event source mapping: batches within the batching window, partial
batch responses, whole-batch retries after a function error, the queue's visibility timeout and redrive to the
DLQ, timeouts that kill the execution environment, and failed cold starts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.endpoint import LocalEndpoint
from sandbox.stack.provision import EventSourceMapping, FunctionSpec
from sandbox.stack.runner import FunctionHost, SqsEventSource
from tests.sandbox.endpoint_clients import endpoint_client

REGION = "us-east-1"
VISIBILITY_SECONDS = 3  # longer than the batching window, so a batch never meets its own message twice
MAX_RECEIVES = 2


@dataclass
class Harness:
    """A queue with a DLQ, a test function fed by a mapping on it, and the function's batch log."""

    sqs: Any
    queue_url: str
    dead_letter_url: str
    host: FunctionHost
    source: SqsEventSource
    batch_log: Path

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def batches(self) -> list[list[dict[str, Any]]]:
        if not self.batch_log.exists():
            return []
        return [json.loads(line)["records"] for line in self.batch_log.read_text().splitlines()]

    def dead_letters(self) -> list[str]:
        found = self.sqs.receive_message(
            QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
        )
        return sorted(m["Body"] for m in found.get("Messages", []))

    def depth(self) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[name]) for name in names)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


HarnessFactory = Callable[..., Harness]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[HarnessFactory]:
    endpoint = LocalEndpoint(port=0).start()
    started: list[Harness] = []

    def build(
        handler: str = "tests.sandbox.stack.handlers.batch_handler",
        *,
        batch_size: int = 5,
        window: int = 1,
        report_failures: bool = True,
        timeout: int = 5,
    ) -> Harness:
        sqs = endpoint_client(endpoint, "sqs", REGION)
        name = f"queue-{uuid.uuid4().hex[:12]}"  # moto's state outlives the endpoint: never reuse a queue name
        dead_letter_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVES}
        queue_url = sqs.create_queue(
            QueueName=name,
            Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        batch_log = tmp_path / f"{name}-batches.jsonl"
        spec = FunctionSpec(
            "TestFunction", f"test-function-{name}", handler, {"BATCH_LOG": str(batch_log)}, timeout, 128, ""
        )
        host = FunctionHost(
            spec,
            aws_environment={"AWS_ENDPOINT_URL": endpoint.url, "AWS_DEFAULT_REGION": REGION},
            log_path=tmp_path / f"{name}.log",
            max_environments=1,
        )
        mapping = EventSourceMapping(
            "TestFunction",
            queue_url,
            f"arn:aws:sqs:{REGION}:123456789012:{name}",
            batch_size,
            window,
            report_failures,
            None,
        )
        source = SqsEventSource(mapping, host, sqs, REGION, concurrency=1)
        source.start()
        built = Harness(sqs, queue_url, dead_letter_url, host, source, batch_log)
        started.append(built)
        return built

    yield build
    for built in started:
        built.source.stop()
        built.host.close()
    endpoint.shutdown()


def test_messages_sent_together_arrive_as_one_batch_in_lambdas_record_shape(harness: HarnessFactory) -> None:
    # Given a mapping with batch size 5 and a 1 s batching window
    h = harness()
    # When three messages are sent at once
    h.send("ok", "ok", "ok")
    wait_for(lambda: h.depth() == 0 and bool(h.batches()))
    # Then one invocation got all three, each record as Lambda shapes it
    (batch,) = h.batches()
    assert [r["body"] for r in batch] == ["ok", "ok", "ok"]
    record = batch[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == h.source.mapping.queue_arn
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "md5OfBody", "messageAttributes"} <= set(record)


def test_a_batch_never_exceeds_the_batch_size(harness: HarnessFactory) -> None:
    # Given batch size 2
    h = harness(batch_size=2)
    # When five messages arrive
    h.send(*["ok"] * 5)
    wait_for(lambda: sum(len(b) for b in h.batches()) == 5)
    # Then no invocation got more than two
    assert max(len(b) for b in h.batches()) == 2


def test_reported_failures_return_after_the_visibility_timeout_then_go_to_the_dlq(harness: HarnessFactory) -> None:
    # Given partial batch responses
    h = harness()
    # When one message of a batch keeps failing
    h.send("ok", "fail")
    wait_for(lambda: h.dead_letters() == ["fail"], timeout=40)
    # Then the good one was delivered once, the failing one maxReceiveCount times, then dead-lettered
    deliveries = [r["body"] for batch in h.batches() for r in batch]
    assert deliveries.count("ok") == 1
    assert deliveries.count("fail") == MAX_RECEIVES
    receive_counts = [r["attributes"]["ApproximateReceiveCount"] for b in h.batches() for r in b if r["body"] == "fail"]
    assert receive_counts == ["1", "2"]


def test_a_function_error_keeps_the_whole_batch(harness: HarnessFactory) -> None:
    # Given a batch where one message makes the function raise
    h = harness()
    h.send("ok", "raise")
    # When the runner has retried it until redrive
    wait_for(lambda: len(h.dead_letters()) == 2, timeout=40)
    # Then the innocent message was kept and retried with it: it was never deleted on its own
    deliveries = [r["body"] for batch in h.batches() for r in batch]
    assert deliveries.count("ok") == MAX_RECEIVES
    assert h.host.errors == MAX_RECEIVES


def test_reported_failures_are_ignored_without_report_batch_item_failures(harness: HarnessFactory) -> None:
    # Given a mapping without ReportBatchItemFailures
    h = harness(report_failures=False)
    # When the function reports a failure
    h.send("fail")
    wait_for(lambda: bool(h.batches()) and h.depth() == 0)
    time.sleep(VISIBILITY_SECONDS + 0.5)
    # Then the message was deleted like a success and never came back
    assert len(h.batches()) == 1
    assert h.dead_letters() == []


def test_a_timed_out_invocation_kills_its_environment(harness: HarnessFactory) -> None:
    # Given a function with a 1 s timeout
    h = harness(timeout=1, window=0, batch_size=1)
    # When a message takes longer than that, then another arrives
    timed_out = h.host.invoke({"Records": [{"body": "sleep:5", "messageId": "m1"}]})
    after = h.host.invoke({"Records": [{"body": "ok", "messageId": "m2"}]})
    # Then the first failed as Lambda reports a timeout and the second ran in a fresh environment
    assert timed_out.failed and timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert not after.failed
    assert h.host.cold_starts == 2


def test_a_failed_cold_start_fails_every_invocation_with_lambdas_init_error(harness: HarnessFactory) -> None:
    # Given a handler module that raises on import
    h = harness("tests.sandbox.stack.broken_handler.handler")
    # When it is invoked
    invocation = h.host.invoke({"Records": []})
    # Then the invocation fails with Lambda's init error type and the import's message
    assert invocation.error is not None
    assert invocation.error["errorType"] == "Runtime.ImportModuleError"
    assert "cold start failed" in invocation.error["errorMessage"]


def test_the_handler_sees_its_remaining_time(harness: HarnessFactory) -> None:
    # Given a function with a 5 s timeout
    h = harness(timeout=5)
    # When it runs
    h.host.invoke({"Records": [{"body": "ok", "messageId": "m1"}]})
    # Then its context counts down from the timeout
    remaining = json.loads(h.batch_log.read_text().splitlines()[0])["remaining_ms"]
    assert 3000 < remaining <= 5000


def test_a_failed_cold_start_is_retried_in_a_new_environment(harness: HarnessFactory) -> None:
    # Given a handler whose init fails
    h = harness("tests.sandbox.stack.broken_handler.handler")
    # When it is invoked twice
    h.host.invoke({"Records": []})
    h.host.invoke({"Records": []})
    # Then each invocation got a fresh environment, as Lambda retries a failed init
    assert h.host.cold_starts == 2


def test_a_result_json_cannot_carry_fails_with_lambdas_marshal_error(harness: HarnessFactory) -> None:
    h = harness("tests.sandbox.stack.handlers.unserializable_handler")
    invocation = h.host.invoke({"Records": []})
    assert invocation.error is not None and invocation.error["errorType"] == "Runtime.MarshalError"


def test_an_environment_that_died_while_idle_is_replaced(harness: HarnessFactory) -> None:
    # Given a warm environment that then dies (out of memory, killed)
    h = harness(timeout=5)
    assert not h.host.invoke({"Records": [{"body": "ok", "messageId": "m1"}]}).failed
    (environment,) = h.host._idle
    environment.process.kill()
    environment.process.wait()
    # When the next invocation comes
    invocation = h.host.invoke({"Records": [{"body": "ok", "messageId": "m2"}]})
    # Then it runs in a new environment instead of failing
    assert not invocation.failed
    assert h.host.cold_starts == 2
