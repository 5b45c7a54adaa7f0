"""Runs the stack's functions the way Lambda does: execution environments, and SQS event source mappings.

`FunctionHost` keeps up to N worker processes (execution environments) per function; an invocation takes an idle
one or starts a new one (a cold start), and one that exceeds the function's timeout is killed, as Lambda does.

`SqsEventSource` is Lambda's SQS event source mapping: pollers (as many as the mapping's maximum concurrency)
long-poll the queue, gather up to BatchSize messages within MaximumBatchingWindowInSeconds, invoke the function
with Lambda's SQS event, then delete what succeeded. With ReportBatchItemFailures only the listed messages stay;
a function error keeps the whole batch. Kept messages reappear after the queue's visibility timeout, and SQS
moves a message to the dead-letter queue once its receive count passes the redrive policy's maxReceiveCount.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sandbox.faults import signing_name
from sandbox.stack.calls import AwsCall, json_safe
from sandbox.stack.provision import EventSourceMapping, FunctionSpec
from sandbox.stack.template import PROJECT_ROOT
from sandbox.stack.worker import INIT_ERROR

logger = logging.getLogger(__name__)

SQS_MAX_RECEIVE = 10  # ReceiveMessage returns at most 10 messages
LONG_POLL_SECONDS = 1  # short enough that stop() is prompt
DEFAULT_ENVIRONMENTS = 2  # execution environments per function when its mapping sets no maximum concurrency
STOP_GRACE_SECONDS = 5.0  # how long stop() lets a running batch finish
CLOSE_GRACE_SECONDS = 2.0  # how long closed environments get to exit before they are killed
WORKER_START_TIMEOUT = 120.0  # the init phase (imports and cold-start code), apart from the function's timeout


@dataclass(frozen=True)
class Invocation:
    """One invocation's outcome: the handler's result or Lambda's error payload, and the AWS calls it made."""

    function: str
    result: Any = None
    error: Mapping[str, Any] | None = None
    calls: tuple[AwsCall, ...] = ()

    @property
    def failed(self) -> bool:
        """True when the handler raised, failed to initialise, crashed or timed out."""
        return self.error is not None


def access_key_for(function_name: str) -> str:
    """A distinct access key per function, so calls our local services make on its behalf can be attributed."""
    return "AKIA" + hashlib.sha256(function_name.encode()).hexdigest()[:16].upper()


class _Environment:
    """One worker process (a Lambda execution environment) and its two pipes."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], log: IO[bytes]) -> None:
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox.stack.worker",
                "--requests",
                str(request_read),
                "--responses",
                str(response_write),
                "--handler",
                spec.handler,
                "--caller",
                spec.logical_id,
            ],
            env=dict(environment),
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(request_read, response_write),
        )
        os.close(request_read)
        os.close(response_write)
        self._requests = os.fdopen(self._request_write, "w", encoding="utf-8")
        self._responses = os.fdopen(self._response_read, "r", encoding="utf-8")
        self._reply: dict[str, Any] | None = None
        self._ready = False

    def ready(self, timeout: float) -> bool:
        """Wait for the worker's init phase (imports, cold-start code) to end; False if it died or took too long."""
        if not self._ready:
            self._ready = bool(self._receive(timeout))
        return self._ready

    def invoke(self, request: Mapping[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one request and wait for its reply; None if the process died or the timeout passed."""
        try:
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
        except (OSError, ValueError):  # the worker died while idle (or was closed): Lambda starts a fresh one
            return None
        return self._receive(timeout)

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        self._reply = None
        reader = threading.Thread(target=self._read_reply, daemon=True)
        reader.start()
        reader.join(timeout)
        return self._reply

    def _read_reply(self) -> None:
        try:
            line = self._responses.readline()
        except (OSError, ValueError):  # killed and closed while waiting
            return
        if line:
            self._reply = json.loads(line)

    def kill(self) -> None:
        """Stop the process (timeout, crash, or shutdown) and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self._requests, self._responses):
            with contextlib.suppress(OSError):
                stream.close()

    def close_requests(self) -> None:
        """No more requests: an idle worker exits at once, a busy one after its invocation."""
        with contextlib.suppress(OSError):
            self._requests.close()

    def close(self, deadline: float) -> None:
        """Wait until the monotonic deadline for the worker to exit after close_requests(), then kill it."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        self.kill()


class FunctionHost:
    """Invokes one function in up to `max_environments` worker processes at once."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        aws_environment: Mapping[str, str],
        log_path: Path,
        max_environments: int,
        on_calls: Callable[[list[AwsCall]], None] | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        self.spec = spec
        self._environment = {
            **_base_environment(),
            **spec.environment,
            **aws_environment,
            "AWS_ACCESS_KEY_ID": access_key_for(spec.name),
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
        }
        self._timeout = timeout_seconds if timeout_seconds is not None else spec.timeout_seconds
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self._idle: list[_Environment] = []
        self._all: list[_Environment] = []
        self._slots = threading.BoundedSemaphore(max_environments)
        self._lock = threading.Lock()
        self._on_calls = on_calls
        self._closed = False
        self.errors = 0
        self.cold_starts = 0
        self.in_flight = 0
        # The handler's AWS calls and the HTTP requests they sent (retries included), by SigV4 signing name
        self.calls_made: Counter[str] = Counter()
        self.requests_sent: Counter[str] = Counter()

    @property
    def access_key(self) -> str:
        """The access key this function's environments sign their requests with."""
        return self._environment["AWS_ACCESS_KEY_ID"]

    def invoke(self, event: Any) -> Invocation:
        """Run the handler on one event in a free environment (waiting for one if all are busy)."""
        with self._slots:
            environment = self._take()
            with self._lock:
                self.in_flight += 1
            try:
                reply = None
                if environment.ready(WORKER_START_TIMEOUT):
                    reply = environment.invoke(
                        {
                            "event": event,
                            "deadline_ms": time.time() * 1000 + self._timeout * 1000,
                            "request_id": str(uuid.uuid4()),
                            "function_arn": self.spec.arn,
                        },
                        timeout=self._timeout,
                    )
            finally:
                with self._lock:
                    self.in_flight -= 1
            if reply is None:
                self._discard(environment)
                outcome = Invocation(self.spec.name, error=self._lost_error(environment))
            else:
                failed_init = (reply.get("error") or {}).get("errorType") == INIT_ERROR
                with self._lock:
                    keep = not self._closed and not failed_init  # Lambda retries a failed init in a new one
                    if keep:
                        self._idle.append(environment)
                if not keep:
                    self._discard(environment)
                calls = tuple(AwsCall.from_dict(call) for call in reply.get("calls", []))
                outcome = Invocation(self.spec.name, reply.get("result"), reply.get("error"), calls)
        with self._lock:
            self.errors += outcome.failed
            for call in outcome.calls:
                service = signing_name(call.service)
                self.calls_made[service] += 1
                self.requests_sent[service] += call.requests
        if outcome.failed:
            logger.warning("%s failed: %s", self.spec.name, outcome.error)
        if self._on_calls is not None and outcome.calls:
            self._on_calls(list(outcome.calls))
        return outcome

    def _discard(self, environment: _Environment) -> None:
        """Kill an environment that timed out, died or outlived close(); it never serves again."""
        environment.kill()
        with self._lock:
            if environment in self._all:
                self._all.remove(environment)

    def _lost_error(self, environment: _Environment) -> dict[str, str]:
        """Lambda's error for an invocation without a reply: a timeout, or the runtime exiting."""
        code = environment.process.returncode
        if code is not None and code != -signal.SIGKILL:
            return {"errorType": "Runtime.ExitError", "errorMessage": f"the runtime exited with status {code}"}
        return {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {self._timeout:.2f} seconds"}

    def _take(self) -> _Environment:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.spec.name} is shut down")
            while self._idle:
                environment = self._idle.pop()
                if environment.process.poll() is None:
                    return environment
                self._all.remove(environment)  # died while idle: Lambda would not reuse it either
            self.cold_starts += 1
            environment = _Environment(self.spec, self._environment, self._log)
            self._all.append(environment)
            return environment

    def close(self) -> None:
        """Stop every environment of this function."""
        with self._lock:
            self._closed = True
            environments, self._all, self._idle = list(self._all), [], []
        for environment in environments:
            environment.close_requests()
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS  # one grace period for all of them, not one each
        for environment in environments:
            environment.close(deadline)
        self._log.close()


class SqsEventSource:
    """Lambda's SQS event source mapping for one queue and function (see the module docstring)."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        host: FunctionHost,
        sqs: Any,
        region: str,
        concurrency: int,
        on_calls: Callable[[list[AwsCall]], None] | None = None,
    ) -> None:
        self.mapping = mapping
        self._host = host
        self._sqs = sqs
        self._region = region
        self._on_calls = on_calls
        self._stop = threading.Event()
        self.pollers = concurrency
        self._threads = [
            threading.Thread(target=self._poll, name=f"poller-{host.spec.name}-{n}", daemon=True)
            for n in range(concurrency)
        ]
        self.in_flight = 0  # batches being delivered (their messages are invisible on the queue until deleted)
        self.delivered = 0  # messages handed to the function
        self.kept = 0  # of those, the ones it failed: back on the queue after the visibility timeout
        self._lock = threading.Lock()

    def start(self) -> None:
        """Check the queue as CreateEventSourceMapping does, then start the pollers."""
        request = {"QueueUrl": self.mapping.queue_url, "AttributeNames": ["All"]}
        self._sqs.get_queue_attributes(**request)
        self._record_call("GetQueueAttributes", request)
        for thread in self._threads:
            thread.start()

    def _record_call(self, operation: str, params: Mapping[str, Any]) -> None:
        """Lambda polls and deletes with the function's execution role: those calls count as the function's."""
        if self._on_calls is not None:
            account = self.mapping.queue_arn.split(":")[4]
            caller = self.mapping.function_logical_id
            self._on_calls([AwsCall("sqs", operation, json_safe(params), self._region, account, caller)])

    def signal_stop(self) -> None:
        """Ask the pollers to stop after their current receive or batch (returns at once)."""
        self._stop.set()

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop polling; a batch still running after the grace period ends when its environment is killed."""
        self._stop.set()
        for thread in self._threads:
            if thread.ident is not None:  # started (a failed start stops a mapping that never polled)
                thread.join(timeout=grace_seconds)

    def join(self, timeout: float) -> None:
        """Wait for the pollers to return (after their host's environments were closed)."""
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(timeout=timeout)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._gather()
                if batch:
                    self._deliver(batch)
            except Exception:  # keep polling, as Lambda does; the error is in the log with the queue
                logger.exception("polling %s failed", self.mapping.queue_url)
                self._stop.wait(1)

    def _gather(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, waiting at most the batching window after the first one arrives."""
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        while not self._stop.is_set() and len(batch) < self.mapping.batch_size:
            wait = LONG_POLL_SECONDS
            if window_ends is not None:
                remaining = window_ends - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(wait, max(0, int(remaining)))
            request = {
                "QueueUrl": self.mapping.queue_url,
                "MaxNumberOfMessages": min(SQS_MAX_RECEIVE, self.mapping.batch_size - len(batch)),
                "WaitTimeSeconds": wait,
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            }
            messages = self._sqs.receive_message(**request).get("Messages", [])
            if messages:  # empty polls are not recorded: thousands of identical calls would say nothing more
                self._record_call("ReceiveMessage", request)
            elif wait == 0:
                self._stop.wait(0.05)  # the window's last fraction of a second: poll, but not in a tight loop
            batch.extend(messages)
            if messages and window_ends is None:
                window_ends = time.monotonic() + self.mapping.batching_window_seconds
            if batch and self.mapping.batching_window_seconds == 0:
                break
        return batch

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self.in_flight += 1
        try:
            invocation = self._host.invoke({"Records": [self._record(message) for message in batch]})
            failed_ids = self._failed_ids(invocation, batch)
            with self._lock:
                self.delivered += len(batch)
                self.kept += len(failed_ids)
            done = [m for m in batch if m["MessageId"] not in failed_ids]
            for start in range(0, len(done), SQS_MAX_RECEIVE):
                chunk = done[start : start + SQS_MAX_RECEIVE]
                request = {
                    "QueueUrl": self.mapping.queue_url,
                    "Entries": [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
                }
                self._sqs.delete_message_batch(**request)
                self._record_call("DeleteMessageBatch", request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _failed_ids(self, invocation: Invocation, batch: list[dict[str, Any]]) -> set[str]:
        """Which messages stay on the queue: all after a function error, else the reported item failures."""
        every = {m["MessageId"] for m in batch}
        if invocation.failed:
            return every
        if not self.mapping.report_batch_item_failures:
            return set()
        result = invocation.result if isinstance(invocation.result, dict) else {}
        failures = result.get("batchItemFailures", [])
        ids = {str(f.get("itemIdentifier", "")) for f in failures if isinstance(f, dict)}
        if ids - every or any(not i for i in ids):
            # Lambda treats a response naming an unknown or empty id as a failure of the whole batch.
            logger.warning("%s reported unknown batch item failures %s", self._host.spec.name, sorted(ids - every))
            return every
        return ids

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """An SQS message as Lambda puts it in the event's Records."""
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                name: attributes[name]
                for name in (
                    "ApproximateReceiveCount",
                    "SentTimestamp",
                    "SenderId",
                    "ApproximateFirstReceiveTimestamp",
                    "MessageGroupId",
                    "MessageDeduplicationId",
                    "SequenceNumber",
                )
                if name in attributes
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": _base64(value.get("BinaryValue")),
                    "stringListValues": value.get("StringListValues", []),
                    "binaryListValues": [_base64(v) for v in value.get("BinaryListValues", [])],
                    "dataType": value.get("DataType"),
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.queue_arn,
            "awsRegion": self._region,
        }


@dataclass
class EventRunner:
    """Every function of a deployment with its event source mappings, started and stopped together."""

    hosts: dict[str, FunctionHost] = field(default_factory=dict)  # by function logical id
    sources: list[SqsEventSource] = field(default_factory=list)

    def host_named(self, function_name: str) -> FunctionHost | None:
        """The host of the function with this physical name (what Lambda Invoke names)."""
        return next((h for h in self.hosts.values() if h.spec.name == function_name), None)

    def start(self) -> None:
        """Start polling every mapped queue."""
        for source in self.sources:
            source.start()

    def busy(self) -> bool:
        """True while any poller holds messages or any function is running."""
        return any(s.in_flight for s in self.sources) or any(h.in_flight for h in self.hosts.values())

    def stop(self) -> None:
        """Stop the pollers, then the execution environments, promptly: a batch still running after a short grace
        period is cut off (its messages stay on the queue, as after a Lambda timeout)."""
        try:
            for source in self.sources:
                source.signal_stop()  # all at once, then wait for each
            for source in self.sources:
                source.stop()
        finally:
            for host in self.hosts.values():
                host.close()
            for source in self.sources:
                source.join(timeout=LONG_POLL_SECONDS + 5)


def _base64(value: bytes | None) -> str | None:
    """Binary message attributes as Lambda delivers them: base64 text."""
    return None if value is None else base64.b64encode(value).decode("ascii")


def _base_environment() -> dict[str, str]:
    """What a worker inherits from this process: only the interpreter's essentials, like a fresh container."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
    environment = {name: os.environ[name] for name in keep if name in os.environ}
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment
