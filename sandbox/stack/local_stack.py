"""The whole modlake stack on one machine: the local endpoint, the provisioned template, and the event runner.

`LocalStack` is what `modlake up` and `modlake demo` run and what the end-to-end tests drive: uploads to its
media bucket flow through EventBridge, the start queue, start_moderation, our Rekognition, SNS, the collect queue
and collect_results into DynamoDB and the Parquet lake, and `lambda.invoke` on the endpoint runs send_digest.
The template's function URLs are served on the endpoint (sandbox/function_urls.py): AWS_IAM ones verify SigV4 and
hold the caller (an IAM user or role session made on the endpoint, a function's role, or the local operator, whose
keys OPERATOR_ACCESS_KEY and the CLI's modlake-cli are allowed everything) to its identity policies.

With a fault plan (SandboxSettings.faults) the endpoint gives that share of the functions' own calls, and only
theirs, each service's throttling or 5xx error; `fault_report()` says per service how many calls the functions
made, how many requests the endpoint received, which were faulted and how many botocore retried.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from functions.common.adapters.clients import LOCAL_SECRET_KEY, local_endpoint_client
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.models import VideoStatus
from sandbox.batch_operations import BatchOperationsService, function_name, serve_batch_operations
from sandbox.endpoint import HEALTH_PATH
from sandbox.faults import FaultPlan
from sandbox.function_urls import (
    CLI_ACCESS_KEY,
    FUNCTION_URL_PATH,
    CallerDirectory,
    FunctionUrls,
    operator_caller,
    role_session_caller,
)
from sandbox.protocol import RequestContext
from sandbox.rekognition.classifier import FrameClassifier
from sandbox.rekognition.service import RekognitionService, RekognitionSettings
from sandbox.serve import EndpointSettings, build_endpoint
from sandbox.stack.calls import AwsCall
from sandbox.stack.provision import Deployment, Provisioner
from sandbox.stack.queue_waits import cap_queue_waits
from sandbox.stack.runner import DEFAULT_ENVIRONMENTS, EventRunner, FunctionHost, Invocation, SqsEventSource
from sandbox.stack.schedules import DEFAULT_SPEEDUP, ScheduleRunner
from sandbox.stack.template import LOCAL_ACCOUNT, PROJECT_ROOT, cached_template

LOCAL_STAGE = "local"
LOCAL_STACK_NAME = "modlake-local"
LOCAL_REGION = "us-east-1"
OPERATOR_ACCESS_KEY = "modlake-operator"  # the stack's own clients; moto maps every unknown key to its default account
DEFAULT_WORK_DIR = PROJECT_ROOT / "build" / "local-stack"
TEMPLATE_CACHE = PROJECT_ROOT / "build" / "cdk-local"
_INVOKE_PATH = "/2015-03-31/functions/"
MOTO_RESET_PATH = "/moto-api/reset"
_QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class SandboxSettings:
    """How to run the local stack."""

    work_dir: Path = DEFAULT_WORK_DIR
    port: int = 0  # 0: any free port
    classifier: str | FrameClassifier = "palette"  # "nudenet" for the real model
    rekognition: RekognitionSettings = field(default_factory=RekognitionSettings)
    context: Mapping[str, Any] = field(default_factory=dict)  # CDK context overrides on top of cdk.json
    environments_per_function: int = DEFAULT_ENVIRONMENTS  # for mappings without a maximum concurrency
    check_responses: bool = False  # tests: fail on any response our services send that breaks the API model
    record_calls: bool = False  # keep every AWS call the functions make (the permission test); off for `up`
    schedule_speedup: float = DEFAULT_SPEEDUP  # schedule rules fire this much faster than their rate() says
    faults: FaultPlan = field(default_factory=FaultPlan)  # the share of the functions' calls that gets AWS's errors
    # No message waits on a queue longer than this: its delay, or its invisibility after a receive (None: AWS's
    # times). Under faults a failed message then comes back in seconds, not after 6 or 90 minutes (queue_waits.py).
    max_queue_wait: int | None = None


@dataclass(frozen=True)
class ServiceFaults:
    """One service under a fault plan: the functions' calls to it, the requests those sent, what was faulted."""

    calls: int  # API calls the functions made (as their runtimes recorded them)
    requests: int  # requests the endpoint received from the functions: each call's first request and its retries
    faults: int  # requests answered with an injected error
    retries: int  # requests botocore re-sent (counted per call in the functions' runtimes)
    codes: Mapping[str, int] = field(default_factory=dict)  # injected errors by code

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the fault benchmark prints it)."""
        return {
            "calls": self.calls,
            "requests": self.requests,
            "faults": self.faults,
            "retries": self.retries,
            "codes": dict(self.codes),
        }


class LocalStack:
    """Start with `start()` (or `with LocalStack(...) as stack:`); stop with `stop()`.

    One at a time per process: moto's accounts are process-wide, and starting a stack empties them.
    """

    def __init__(self, settings: SandboxSettings | None = None, progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._progress = progress or (lambda message: None)
        self._calls: list[AwsCall] = []
        self._calls_lock = threading.Lock()
        self._callers: dict[str, str] = {}  # access key → function logical id
        self._clients: dict[str, Any] = {}
        self.runner = EventRunner()
        self.schedules: ScheduleRunner | None = None
        self.deployment: Deployment | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        """Serve the endpoint, provision the template on it, start the event runner."""
        work_dir = Path(self.settings.work_dir)
        self._progress("starting the local AWS endpoint")
        self.endpoint = build_endpoint(
            EndpointSettings(
                port=self.settings.port,
                classifier=self.settings.classifier,
                rekognition=self.settings.rekognition,
                work_dir=work_dir / "endpoint",
                check_responses=self.settings.check_responses,
                faults=self.settings.faults,
            )
        )
        # Faults apply to the functions' own calls only: not to the operator, the CLI, tests or the pollers
        self.endpoint.faults.faulted_callers = self._callers.__contains__
        self.endpoint.clients.on_call = self._record_on_behalf
        self.endpoint.add_route("lambda", self._invoke_route)
        serve_batch_operations(self.endpoint, self._invoke_for_batch)  # S3 Batch Operations jobs run our functions
        self.endpoint.start()
        try:
            cap_queue_waits(self.settings.max_queue_wait)  # process-wide, as moto's queues are; stop() lifts it
            # moto keeps its state per process, not per endpoint: a new stack starts from an empty account.
            loopback = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
            loopback.open(urllib.request.Request(self.endpoint.url + MOTO_RESET_PATH, method="POST")).close()
            self._progress("synthesizing the CDK stack (cached after the first run)")
            template = cached_template(TEMPLATE_CACHE, **self._context())
            self._progress("provisioning the stack's resources on the endpoint")
            self.deployment = Provisioner(
                template,
                self.client,
                stack_name=LOCAL_STACK_NAME,
                region=LOCAL_REGION,
                account=LOCAL_ACCOUNT,
                endpoint_url=self.endpoint.url,
            ).provision()
            self._verify_digest_sender()
            self._start_functions(work_dir / "logs")
            self._serve_function_urls()
            self.schedules = ScheduleRunner(
                self.deployment.scheduled_targets,
                lambda: self.client("sqs"),
                self.settings.schedule_speedup,
                wanted=lambda target: self._videos().count_in_status(VideoStatus.QUEUED) > 0,
            )
            self.schedules.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the runner's pollers and environments, then the endpoint (whatever the runner does)."""
        try:
            if self.schedules is not None:
                self.schedules.stop()
            self.runner.stop()
        finally:
            endpoint = getattr(self, "endpoint", None)
            if endpoint is not None:
                endpoint.shutdown()
            cap_queue_waits(None)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what callers use -------------------------------------------------------------------------------------
    @property
    def outputs(self) -> dict[str, str]:
        """The stack's CloudFormation outputs, resolved to the local resources."""
        assert self.deployment is not None, "start() first"
        return self.deployment.outputs

    @property
    def stack_name(self) -> str:
        """The local stack's CloudFormation name."""
        return LOCAL_STACK_NAME

    @property
    def region(self) -> str:
        """The region the local stack's resources live in."""
        return LOCAL_REGION

    @property
    def health_url(self) -> str:
        """The endpoint's health check: HTTP 200 while it serves."""
        return self.endpoint.url + HEALTH_PATH

    @property
    def rekognition(self) -> RekognitionService:
        """The endpoint's Rekognition service (its stats show how many jobs ran at once)."""
        service = self.endpoint.service("rekognition")
        assert isinstance(service, RekognitionService)
        return service

    @property
    def batch_operations(self) -> BatchOperationsService:
        """The endpoint's S3 Batch Operations service (LambdaInvoke jobs run the stack's functions)."""
        service = self.endpoint.service("s3control")
        assert isinstance(service, BatchOperationsService)
        return service

    def client(self, service: str) -> Any:
        """A boto3 client on the endpoint, as the operator (not as any function)."""
        if service not in self._clients:
            self._clients[service] = local_endpoint_client(
                service, self.endpoint.url, LOCAL_REGION, OPERATOR_ACCESS_KEY
            )
        return self._clients[service]

    def calls(self) -> list[AwsCall]:
        """Every AWS call the functions made so far (with record_calls): directly, and through our services."""
        with self._calls_lock:
            return list(self._calls)

    def fault_report(self) -> dict[str, ServiceFaults]:
        """Per service (by signing name) the functions called: their calls, requests, retries and injected faults."""
        calls: Counter[str] = Counter()
        sent: Counter[str] = Counter()
        for host in self.runner.hosts.values():
            calls.update(host.calls_made)
            sent.update(host.requests_sent)
        received = self.endpoint.faults.counts()
        report = {}
        for service in sorted(set(calls) | set(received)):
            counts = received.get(service)
            report[service] = ServiceFaults(
                calls=calls[service],
                requests=counts.requests if counts else 0,
                faults=counts.faults if counts else 0,
                retries=sent[service] - calls[service],
                codes=dict(counts.codes) if counts else {},
            )
        return report

    def invoke(self, function_name: str, payload: Any) -> Invocation:
        """Run a function synchronously (what Lambda Invoke with RequestResponse does)."""
        host = self.runner.host_named(function_name)
        if host is None:
            raise KeyError(f"no function {function_name!r} in the local stack")
        return host.invoke(payload)

    def settle(self, timeout: float = 120.0, poll: float = 0.5) -> bool:
        """Wait until nothing is queued, in flight, running, being moderated, waiting for a Rekognition slot or in a
        working batch job (a Suspended job waits for its confirmation, not for us); False if the timeout passed."""
        deadline = time.monotonic() + timeout
        quiet_checks = 0
        while time.monotonic() < deadline:
            quiet_checks = quiet_checks + 1 if self._quiet() else 0
            if quiet_checks >= 3:  # quiet three times in a row: no message was between two hops
                return True
            time.sleep(poll)
        return False

    def queue_depths(self) -> dict[str, int]:
        """Messages (visible, in flight and delayed) per queue of the stack, by the queue's local name."""
        assert self.deployment is not None
        sqs = self.client("sqs")
        depths = {}
        for logical_id, resource in self.deployment.template["Resources"].items():
            if resource["Type"] == "AWS::SQS::Queue":
                url = self.deployment.physical_id(logical_id)
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_QUEUE_COUNTS))["Attributes"]
                depths[url.rsplit("/", 1)[1]] = sum(int(attributes[name]) for name in _QUEUE_COUNTS)
        return depths

    # --- internals ----------------------------------------------------------------------------------------------
    def _context(self) -> dict[str, Any]:
        return {"stage": LOCAL_STAGE, "region": LOCAL_REGION, **self.settings.context}

    def _verify_digest_sender(self) -> None:
        """What an operator does once in SES before deploying with digest_sender (no CloudFormation resource)."""
        assert self.deployment is not None
        sender = self.deployment.function_named("send_digest").environment.get("DIGEST_SENDER", "")
        if sender:
            self.client("sesv2").create_email_identity(EmailIdentity=sender)

    def _start_functions(self, log_dir: Path) -> None:
        assert self.deployment is not None
        aws_environment = {
            "AWS_ENDPOINT_URL": self.endpoint.url,
            "AWS_REGION": LOCAL_REGION,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_CONFIG_FILE": os.devnull,  # nothing from the operator's ~/.aws leaks into a function
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        concurrency = {m.function_logical_id: m.maximum_concurrency for m in self.deployment.event_source_mappings}
        for logical_id, spec in self.deployment.functions.items():
            environments = concurrency.get(logical_id) or self.settings.environments_per_function
            host = FunctionHost(
                spec,
                aws_environment=aws_environment,
                log_path=log_dir / f"{spec.name}.log",
                max_environments=environments,
                on_calls=self._record,
            )
            self._callers[host.access_key] = logical_id
            self.runner.hosts[logical_id] = host
        for mapping in self.deployment.event_source_mappings:
            host = self.runner.hosts[mapping.function_logical_id]
            pollers = mapping.maximum_concurrency or self.settings.environments_per_function
            source = SqsEventSource(mapping, host, self.client("sqs"), LOCAL_REGION, pollers, on_calls=self._record)
            self.runner.sources.append(source)
        self.runner.start()

    def _serve_function_urls(self) -> None:
        """Serve the template's function URLs, knowing the operator's and the functions' keys as callers."""
        assert self.deployment is not None
        callers = CallerDirectory(LOCAL_ACCOUNT)
        for key in (OPERATOR_ACCESS_KEY, CLI_ACCESS_KEY):
            callers.add(operator_caller(key, LOCAL_ACCOUNT, LOCAL_SECRET_KEY))
        for host in self.runner.hosts.values():
            role = host.spec.role_logical_id
            role_arn = self.deployment.resolver.get_att(role, "Arn")
            statements = self.deployment.policy_statements(role)
            callers.add(role_session_caller(host.access_key, LOCAL_SECRET_KEY, role_arn, host.spec.name, statements))
        self.function_urls = FunctionUrls(self._invoke_for_url, callers)
        for url in self.deployment.function_urls.values():
            self.function_urls.add(url)
        self.endpoint.add_path_route(FUNCTION_URL_PATH, self.function_urls)

    def _invoke_for_url(self, name: str, event: dict[str, Any]) -> tuple[Any, Mapping[str, Any] | None]:
        """A function URL request's invocation of a stack function (the synchronous Invoke the endpoint answers)."""
        invocation = self.invoke(name, event)
        return invocation.result, invocation.error

    def _record(self, calls: list[AwsCall]) -> None:
        if not self.settings.record_calls:
            return
        with self._calls_lock:
            self._calls.extend(calls)

    def _record_on_behalf(self, call: AwsCall) -> None:
        """A call our Rekognition or Athena made for a caller: attributed to the function whose key signed the
        request, or to the role the service assumed; the services' own bookkeeping is not recorded."""
        principal = self._callers.get(call.caller)
        if principal is None and call.caller.startswith("role:") and self.deployment is not None:
            principal = self.deployment.role_with_arn(call.caller.removeprefix("role:"))
        if principal is not None:
            self._record([replace(call, caller=principal)])

    def _quiet(self) -> bool:
        if self.runner.busy() or self.rekognition.stats.in_progress or self.batch_operations.busy():
            return False
        assert self.deployment is not None
        sqs = self.client("sqs")
        for mapping in self.deployment.event_source_mappings:
            attributes = sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=list(_QUEUE_COUNTS))
            if any(int(attributes["Attributes"][name]) for name in _QUEUE_COUNTS):
                return False
        return self._videos().count_in_status(VideoStatus.QUEUED) == 0  # a waiting video has no message

    def _videos(self) -> DynamoVideoStore:
        """The stack's videos table, read as the operator."""
        assert self.deployment is not None
        return DynamoVideoStore(self.client("dynamodb"), self.outputs["VideosTableName"])

    def _invoke_for_batch(self, function_arn: str, payload: dict[str, Any]) -> tuple[Any, Mapping[str, Any] | None]:
        """A batch job's invocation of a stack function; a function not in the stack is Lambda's 404."""
        host = self.runner.host_named(function_name(function_arn))
        if host is None:
            return None, {
                "errorType": "ResourceNotFoundException",
                "errorMessage": f"Function not found: {function_arn}",
                "statusCode": 404,
            }
        invocation = host.invoke(payload)
        return invocation.result, invocation.error

    def _list_functions(self) -> tuple[int, dict[str, str], bytes]:
        """Lambda's ListFunctions for the stack's functions (one page): their handler, limits and environment."""
        functions = [
            {
                "FunctionName": host.spec.name,
                "FunctionArn": f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{host.spec.name}",
                "Runtime": "python3.13",
                "Handler": host.spec.handler,
                "Timeout": host.spec.timeout_seconds,
                "MemorySize": host.spec.memory_mb,
                "Environment": {"Variables": dict(host.spec.environment)},
            }
            for host in self.runner.hosts.values()
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps({"Functions": functions}).encode()

    def _invoke_route(
        self, environ: dict[str, Any], context: RequestContext
    ) -> tuple[int, dict[str, str], bytes] | None:
        """Lambda's Invoke API for the stack's functions (other Lambda requests go on to moto)."""
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "GET" and path.rstrip("/") == _INVOKE_PATH.rstrip("/"):
            return self._list_functions()
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(_INVOKE_PATH):
            return None
        name, _, rest = urllib.parse.unquote(path[len(_INVOKE_PATH) :]).partition("/")
        name = function_name(name)  # an ARN (maybe qualified) or a name
        host = self.runner.host_named(name)
        if rest != "invocations" or host is None:
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        payload = json.loads(raw) if raw.strip() else {}
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if invocation_type == "DryRun":
            return 204, headers, b""
        if invocation_type == "Event":
            threading.Thread(target=host.invoke, args=(payload,), daemon=True).start()
            return 202, headers, b""
        invocation = host.invoke(payload)
        if invocation.failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
            return 200, headers, json.dumps(invocation.error).encode()
        return 200, headers, json.dumps(invocation.result).encode()
