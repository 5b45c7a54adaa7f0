"""One local AWS endpoint, like LocalStack's edge port: our Rekognition and Athena, moto for everything else.

A request's SigV4 credential scope names the service it was signed for. Requests signed for a service we
implement, whose `X-Amz-Target` operation that service answers, go to it; every other request goes to moto's
server application, which runs in the same process (so moto's S3, SNS and Glue are the ones our services read
and write through boto3 against this same endpoint). Point boto3 or the AWS CLI at it with
`AWS_ENDPOINT_URL=http://127.0.0.1:4566` and any dummy credentials.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from functions.common.adapters.clients import local_endpoint_client
from sandbox.faults import INTERNAL_ENVIRON, INTERNAL_HEADER, FaultedRequest, FaultInjector, status_line
from sandbox.moto_aws import follow_aws
from sandbox.protocol import (
    JSON_CONTENT_TYPE,
    JsonService,
    RequestContext,
    ServiceError,
    operation_model,
    response_problems,
    to_wire,
    validate_request,
)
from sandbox.stack.calls import AwsCall, record_calls

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 4566
HEALTH_PATH = "/_modlake/health"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCESS_KEY = "test"

logger = logging.getLogger(__name__)

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"X-Amz-Credential=([^%/&]+)(?:%2F|/)\d{8}(?:%2F|/)([^%/&]+)(?:%2F|/)([^%/&]+)")
# The error code each service uses for its own failures (what AWS sends with HTTP 500).
_INTERNAL_ERROR = {"rekognition": "InternalServerError", "athena": "InternalServerException"}

StartResponse = Callable[..., Any]
# A REST route for one service: answers (status, headers, body) for requests it serves, None for the rest.
Route = Callable[[dict[str, Any], "RequestContext"], "tuple[int, dict[str, str], bytes] | None"]
# A path route answers every request under its path prefix, signed or not (function URLs check signatures themselves).
PathRoute = Callable[[dict[str, Any]], "tuple[int, list[tuple[str, str]], bytes]"]


def signing_scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key, region, service) of a SigV4 Authorization header or presigned query; None if unsigned."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or _QUERY_SCOPE.search(environ.get("QUERY_STRING", ""))
    if match is None:
        return None
    access_key, region, service = match.groups()
    return access_key, region, service


class EndpointClients:
    """boto3 clients that call back into this endpoint, as the caller (same region and access key, so same account)."""

    def __init__(self) -> None:
        self.url = ""
        # Told of every call made on a caller's behalf (AwsCall.caller: the caller's access key, or the principal
        # the service acted as, see RequestContext.principal).
        self.on_call: Callable[[AwsCall], None] | None = None
        self._clients: dict[tuple[str, str, str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, context: RequestContext) -> Any:
        """A client for `service` in the caller's region and account, made once and shared (clients are thread-safe)."""
        key = (service, context.region, context.access_key, context.principal)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = local_endpoint_client(service, self.url, context.region, context.access_key)
                client.meta.events.register("before-sign", _mark_internal)  # the sandbox's own calls: never faulted
                record_calls(client, context.principal or context.access_key, self._notify)
                self._clients[key] = client
            return client

    def _notify(self, call: AwsCall) -> None:
        if self.on_call is not None:
            self.on_call(call)


def _mark_internal(request: Any, **_: Any) -> None:
    request.headers[INTERNAL_HEADER] = "1"


class LocalEndpoint:
    """The HTTP server: binds on construction (so `url` is known), serves on `start()` or `serve_forever()`.

    `faults` decides which requests get a service's throttling or 5xx error instead of an answer (none unless a
    plan says so) and counts the requests of the callers it applies to; the sandbox's own calls never reach it.
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = DEFAULT_PORT,
        *,
        check_responses: bool = False,
        faults: FaultInjector | None = None,
    ) -> None:
        self.clients = EndpointClients()
        self.check_responses = check_responses
        self.faults = faults or FaultInjector()
        self._services: dict[str, JsonService] = {}
        self._routes: dict[str, Route] = {}
        self._path_routes: dict[str, PathRoute] = {}
        follow_aws()  # where moto's S3 events differ from AWS's, ours follow AWS
        self._moto = DomainDispatcherApplication(create_backend_app)
        # Bind here, so a port in use is an OSError for the caller (werkzeug would print and exit the process).
        with socket.create_server((host, port)) as listener:
            self._server: BaseWSGIServer = make_server(
                host,
                listener.getsockname()[1],
                self._app,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),
            )
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._closed = False
        self.clients.url = self.url

    @property
    def url(self) -> str:
        """http://host:port of the bound socket (the real port when 0 was asked for)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, service: JsonService) -> None:
        """Serve this service's operations for requests signed with its name."""
        self._services[service.service_name] = service

    def add_route(self, signing_name: str, route: Route) -> None:
        """Offer requests signed for this service to `route` first (e.g. Lambda Invoke for the local stack)."""
        self._routes[signing_name] = route

    def add_path_route(self, prefix: str, route: PathRoute) -> None:
        """Give every request whose path starts with `prefix` to `route` (function URLs: /_function_url/)."""
        self._path_routes[prefix] = route

    def service(self, name: str) -> JsonService:
        """The local service registered under this signing name (tests and the CLI read its state)."""
        return self._services[name]

    def start(self) -> LocalEndpoint:
        """Serve from a background thread (tests, the CLI's sandbox); returns self."""
        self._serving.set()
        self._thread = threading.Thread(target=self.serve_forever, name="modlake-endpoint", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until stop_serving() or shutdown() is called from another thread."""
        self._serving.set()
        try:
            self._server.serve_forever()
        finally:
            self._serving.clear()

    def stop_serving(self) -> None:
        """Make serve_forever() return (safe from a signal-handling thread; a no-op when not serving)."""
        if self._serving.is_set():
            self._server.shutdown()

    def shutdown(self) -> None:
        """Stop accepting requests, stop the services' background work and release the port (once)."""
        with self._shutdown_lock:
            if self._closed:
                return
            self._closed = True
        self.stop_serving()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for service in self._services.values():
            service.close()
        self._server.server_close()

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- the WSGI application ---------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return self._health(start_response)
        for prefix, path_route in self._path_routes.items():
            if str(environ.get("PATH_INFO", "")).startswith(prefix):
                return self._path_call(path_route, environ, start_response)
        scope = signing_scope(environ)
        if scope is not None and INTERNAL_ENVIRON not in environ:
            faulted = self.faults.inject(FaultedRequest.from_environ(scope[2], environ), scope[0])
            if faulted is not None:
                error, (fault_status, fault_headers, fault_body) = faulted
                logger.info("%s: injected %s (%d) for %s", scope[2], error.code, fault_status, scope[0])
                _drain(environ)
                start_response(status_line(fault_status), [*fault_headers, ("Content-Length", str(len(fault_body)))])
                return [fault_body]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if scope is not None and "." in target:
            access_key, region, signing_name = scope
            service = self._services.get(signing_name)
            operation = target.rsplit(".", 1)[1]
            if service is not None and operation in service.operations():
                context = RequestContext(region=region, access_key=access_key)
                return self._json_call(service, operation, environ, context, start_response)
        if scope is not None and scope[2] in self._routes:
            access_key, region, signing_name = scope
            context = RequestContext(region=region, access_key=access_key)
            answer = self._routes[signing_name](environ, context)
            if answer is not None:
                status, headers, body = answer
                reason = {200: "OK", 202: "Accepted", 204: "No Content"}.get(status, "Error")
                start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
                return [body]
        result: Iterable[bytes] = self._moto(environ, start_response)
        return result

    def _path_call(self, route: PathRoute, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, headers, body = route(environ)
        except Exception:  # a bug of ours: the 500 a broken route would give, logged with the request
            logger.exception("%s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            status, headers, body = 500, [("Content-Type", "text/plain")], b"Internal Server Error"
        start_response(_status_text(status), [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        body = {
            "status": "running",
            "services": {name: sorted(s.operations()) for name, s in self._services.items()},
            "faults": self.faults.report(),
        }
        return _respond(start_response, 200, "application/json", body, "")

    def _json_call(
        self,
        service: JsonService,
        operation: str,
        environ: dict[str, Any],
        context: RequestContext,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        try:
            request = _json_body(environ)
            model = operation_model(service.service_name, operation)
            validate_request(model, request)
            response = service.handle(operation, request, context)
            if self.check_responses:
                problems = response_problems(model, response)
                if problems:
                    raise RuntimeError(f"{service.service_name}.{operation} response breaks the model: {problems}")
        except ServiceError as error:
            logger.info("%s.%s → %s: %s", service.service_name, operation, error.code, error.message)
            return _respond(start_response, error.status, JSON_CONTENT_TYPE, error.body(), context.request_id)
        except Exception as error:  # a bug of ours: AWS's internal error shape, logged with the request
            logger.exception("%s.%s failed", service.service_name, operation)
            code = _INTERNAL_ERROR.get(service.service_name, "InternalFailure")
            failure = ServiceError(code, f"{type(error).__name__}: {error}", status=500)
            return _respond(start_response, 500, JSON_CONTENT_TYPE, failure.body(), context.request_id)
        return _respond(start_response, 200, JSON_CONTENT_TYPE, to_wire(response), context.request_id)


def _status_text(status: int) -> str:
    """`404 Not Found`; a status with no standard phrase (a function may answer 499) gets a plain one."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status {status}"


def _drain(environ: dict[str, Any]) -> None:
    """Read a refused request's body, so the connection is ready for the client's retry."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):
        environ["wsgi.input"].read()


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw.strip():
        return {}
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise ServiceError("SerializationException", f"the request body is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ServiceError("SerializationException", "the request body must be a JSON object")
    return document


def _respond(
    start_response: StartResponse, status: int, content_type: str, body: Any, request_id: str
) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}.get(status, "Error")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
    if request_id:
        headers.append(("x-amzn-RequestId", request_id))
    start_response(f"{status} {reason}", headers)
    return [payload]


def default_work_dir() -> Path:
    """Where the local services keep downloads and mirrors when no directory is given (under the repo's build/)."""
    return Path("build") / "local-endpoint"
