"""One Lambda execution environment: a process that imports a handler once and runs invocations sent to it.

Started by the event runner as `python -m sandbox.stack.worker --requests FD --responses FD` with the function's
environment (its template variables plus the local endpoint's AWS settings), so module-level code runs once per
"container" exactly as on Lambda. Requests and responses are JSON lines on the two pipe descriptors; the handler's
own output (Powertools logs and metrics) goes to stdout/stderr, which the runner points at the function's log.
Every AWS API call the handler makes is recorded and returned with its invocation's response.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from sandbox.stack.calls import AwsCall, json_safe, kept_response
from sandbox.stack.template import LOCAL_ACCOUNT

INIT_ERROR = "Runtime.ImportModuleError"
MARSHAL_ERROR = "Runtime.MarshalError"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline_ms: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation's timeout (what Lambda's context reports)."""
        return max(0, int(self.deadline_ms - time.time() * 1000))


class CallRecorder:
    """Records every botocore API call made in this process (all clients, all sessions)."""

    def __init__(self, caller: str) -> None:
        self.caller = caller
        self.calls: list[AwsCall] = []

    def install(self) -> None:
        """Wrap BaseClient._make_api_call, the one path every boto3 client call takes.

        Each call's HTTP requests are counted by a `before-send` hook on its client (botocore emits it once per
        request sent, first attempt and retries alike), so `AwsCall.requests` is what went over the wire.
        """
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self
        sent = threading.local()  # requests of the call this thread is making
        counted: weakref.WeakSet[Any] = weakref.WeakSet()  # clients whose requests are counted

        def count_request(**_: Any) -> None:
            sent.requests = getattr(sent, "requests", 0) + 1

        def recording(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if client not in counted:
                client.meta.events.register("before-send", count_request, unique_id="modlake-count-requests")
                counted.add(client)
            service = client.meta.service_model.service_name
            params = json_safe(api_params)
            response: dict[str, Any] = {}
            outer, sent.requests = getattr(sent, "requests", 0), 0
            try:
                result = original(client, operation_name, api_params)
                response = kept_response(service, operation_name, result)
                return result
            finally:
                requests, sent.requests = sent.requests, outer
                recorder.calls.append(
                    AwsCall(
                        service,
                        operation_name,
                        params,
                        client.meta.region_name,
                        LOCAL_ACCOUNT,
                        recorder.caller,
                        response,
                        requests,
                    )
                )

        BaseClient._make_api_call = recording

    def drain(self) -> list[dict[str, Any]]:
        """The calls recorded since the last drain, as JSON."""
        calls, self.calls = self.calls, []
        return [call.as_dict() for call in calls]


def _error(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """Lambda's error payload shape."""
    return {
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error),
    }


def load_handler(path: str) -> Callable[[Any, Any], Any]:
    """functions.x.handler.handler → the callable (importing the module runs its cold-start code)."""
    module_name, _, attribute = path.rpartition(".")
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return handler


def serve(requests: IO[str], responses: IO[str], handler_path: str, recorder: CallRecorder) -> None:
    """Answer invocation requests until the runner closes the request pipe."""
    init_error: dict[str, Any] | None = None
    try:
        handler = load_handler(handler_path)
    except Exception as error:  # reported on every invocation, as Lambda reports a failed init
        init_error = _error(error, INIT_ERROR)
        traceback.print_exc()
    responses.write(json.dumps({"ready": True}) + "\n")  # the init phase is over; its own timeout stops here
    responses.flush()
    for line in requests:
        request = json.loads(line)
        context = LambdaContext(
            function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
            invoked_function_arn=request.get("function_arn", ""),
            aws_request_id=request.get("request_id") or str(uuid.uuid4()),
            deadline_ms=float(request["deadline_ms"]),
        )
        reply: dict[str, Any]
        if init_error is not None:
            reply = {"error": init_error}
        else:
            try:
                reply = {"result": handler(request["event"], context)}
            except Exception as error:
                traceback.print_exc()
                reply = {"error": _error(error)}
        sys.stdout.flush()
        sys.stderr.flush()
        reply["calls"] = recorder.drain()
        try:
            line = json.dumps(reply)
        except (TypeError, ValueError) as error:  # the handler returned something JSON cannot carry
            line = json.dumps({"error": _error(error, MARSHAL_ERROR), "calls": reply["calls"]})
        responses.write(line + "\n")
        responses.flush()
        if init_error is not None:
            return  # this environment never initialised: the runner starts a new one for the next invocation


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.stack.worker")
    parser.add_argument("--requests", type=int, required=True, help="file descriptor to read requests from")
    parser.add_argument("--responses", type=int, required=True, help="file descriptor to write responses to")
    parser.add_argument("--handler", required=True, help="module.attribute of the handler")
    parser.add_argument("--caller", required=True, help="who the recorded calls are attributed to")
    args = parser.parse_args(argv)
    recorder = CallRecorder(args.caller)
    recorder.install()
    with (
        os.fdopen(args.requests, "r", encoding="utf-8") as requests,
        os.fdopen(args.responses, "w", encoding="utf-8") as responses,
    ):
        serve(requests, responses, args.handler, recorder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
