"""Lambda function URLs on the local endpoint: SigV4 verified, the caller's identity policy evaluated, AWS's events.

A function URL is served at `<endpoint>/_function_url/<url-id>/` (what the local stack's Fn::GetAtt <Url>.FunctionUrl
resolves to); the path after the id is the event's rawPath. With AuthType AWS_IAM a request must carry a SigV4
signature for the service `lambda` that verifies with the secret of its access key (recomputed with botocore's own
signer over the request as received), within 5 minutes of its X-Amz-Date, and its caller's policies must allow
lambda:InvokeFunctionUrl on the function (sandbox/iam.py); anything else is AWS's 403 `{"Message":"Forbidden"}`.
With AuthType NONE nothing is checked. The request becomes Lambda's payload format 2.0 event, and the function's
answer (statusCode, headers, cookies, body, isBase64Encoded; or any other JSON value, meaning 200) the response.

Callers are the access keys `CallerDirectory` knows: fixed ones (the stack's functions as their roles, the local
operator) and the IAM users and assumed-role sessions made through the endpoint's IAM and STS APIs (moto's).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandbox.iam import Permission, is_allowed, is_denied

logger = logging.getLogger(__name__)

FUNCTION_URL_PATH = "/_function_url/"
INVOKE_ACTION = "lambda:InvokeFunctionUrl"
AUTH_TYPE_KEY = "lambda:FunctionUrlAuthType"
SIGNING_NAME = "lambda"
MAX_CLOCK_SKEW = timedelta(minutes=5)
FORBIDDEN = b'{"Message":"Forbidden"}'  # AWS's body for every refused function URL request
BAD_GATEWAY = b"Internal Server Error"  # AWS's 502 body when the function fails or answers nonsense
ALLOW_EVERYTHING: tuple[Mapping[str, Any], ...] = ({"Effect": "Allow", "Action": "*", "Resource": "*"},)
OPERATOR_USER = "modlake-operator"  # the local operator's IAM user name (userArn …:user/modlake-operator)
CLI_ACCESS_KEY = "modlake-cli"  # cli.target.LOCAL_ACCESS_KEY (the sandbox never imports cli; a test keeps them equal)

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;._-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|javascript|xml|x-www-form-urlencoded)|.*\+(json|xml))$")
_CORS_METHODS = "Access-Control-Request-Method"

Clock = Callable[[], datetime]
# Runs the function on one event: (its result, Lambda's error payload or None).
Invoker = Callable[[str, dict[str, Any]], tuple[Any, Mapping[str, Any] | None]]
# An answer as the endpoint sends it: status, header pairs (Set-Cookie may repeat), body.
Answer = tuple[int, list[tuple[str, str]], bytes]


def url_id_for(*parts: str) -> str:
    """A URL id like AWS's (32 lowercase letters and digits), the same for the same stack, region and logical id."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def local_function_url(endpoint_url: str, url_id: str) -> str:
    """The local form of a function URL: `<endpoint>/_function_url/<url-id>/` (AWS's ends in a slash too)."""
    return f"{endpoint_url.rstrip('/')}{FUNCTION_URL_PATH}{url_id}/"


@dataclass(frozen=True)
class FunctionUrlConfig:
    """One AWS::Lambda::Url: its id, the function it invokes, its AuthType, its Cors, and the function's resource
    policy statements for lambda:InvokeFunctionUrl (from AWS::Lambda::Permission, Principal kept)."""

    url_id: str
    function_name: str
    function_arn: str
    auth_type: str  # AWS_IAM or NONE
    region: str
    account: str
    cors: Mapping[str, Any] = field(default_factory=dict)
    resource_statements: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Caller:
    """A signed request's identity: its credentials and the identity-policy statements IAM holds it to."""

    access_key: str
    secret_key: str
    arn: str  # userArn in the event: the user, the assumed-role session, the function's role
    user_id: str  # userId and callerId in the event: AIDA… for a user, AROA…:<session> for a role session
    account: str
    statements: tuple[Mapping[str, Any], ...]
    principal_arn: str = ""  # aws:PrincipalArn: the role for a role session, else arn
    session_token: str | None = None
    expires: datetime | None = None

    @property
    def principal(self) -> str:
        """aws:PrincipalArn (the role of a role session, else the caller's own ARN)."""
        return self.principal_arn or self.arn


class Forbidden(Exception):
    """A request the function URL refuses with 403 (the reason is logged, never sent: AWS says only Forbidden)."""


class CallerDirectory:
    """Access key → Caller: fixed callers first, then the IAM users and role sessions made on the endpoint."""

    def __init__(self, account: str) -> None:
        self._account = account
        self._fixed: dict[str, Caller] = {}
        self._lock = threading.Lock()

    def add(self, caller: Caller) -> None:
        """Know this caller by its access key (the stack's functions, the local operator)."""
        with self._lock:
            self._fixed[caller.access_key] = caller

    def find(self, access_key: str) -> Caller | None:
        """The caller that owns the access key, or None when no one does."""
        with self._lock:
            fixed = self._fixed.get(access_key)
        return fixed if fixed is not None else moto_caller(access_key, self._account)


def moto_caller(access_key: str, account: str) -> Caller | None:
    """An IAM user's or assumed-role session's access key, as moto's IAM and STS hold them (with their policies)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    iam = iam_backends[account]["aws"]
    user = iam.get_user_from_access_key_id(access_key)
    if user is not None:
        key = next(k for k in user.access_keys if k.access_key_id == access_key)
        if key.status != "Active":
            return None
        documents = [*user.policies.values(), *(_default_document(p) for p in user.managed_policies.values())]
        for group in iam.get_groups_for_user(user.name):
            documents += [*group.policies.values(), *(_default_document(p) for p in group.managed_policies.values())]
        return Caller(access_key, key.secret_access_key, user.arn, user.id, account, _statements(documents))
    session = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
    if session is None:
        return None
    role = next((r for r in iam.roles.values() if r.arn == session.role_arn), None)
    documents = (
        [] if role is None else [*role.policies.values(), *map(_default_document, role.managed_policies.values())]
    )
    return Caller(
        access_key,
        session.secret_access_key,
        session.arn,
        session.user_id,
        account,
        _statements(documents),
        principal_arn=session.role_arn,
        session_token=session.session_token,
        expires=session.expiration.replace(tzinfo=UTC),
    )


def _default_document(policy: Any) -> Any:
    """A managed policy's default version's document."""
    return next(version.document for version in policy.versions if version.is_default)


def _statements(documents: Iterable[Any]) -> tuple[Mapping[str, Any], ...]:
    """Every statement of the policy documents (JSON text or parsed; one statement or a list)."""
    found: list[Mapping[str, Any]] = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        statement = parsed.get("Statement", [])
        found += statement if isinstance(statement, list) else [statement]
    return tuple(found)


# --- the request as received ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UrlRequest:
    """An HTTP request to a function URL, as it arrived: the raw (still percent-encoded) path and query."""

    method: str
    path: str  # the whole raw path, /_function_url/<id>/… included (what the client signed)
    query: str
    headers: tuple[tuple[str, str], ...]  # lower-cased names, in arrival order
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> UrlRequest:
        """Read a WSGI request (its body too) without decoding its path or query."""
        raw_uri = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"))
        path, _, query = raw_uri.partition("?")
        headers = [
            (name[5:].replace("_", "-").lower(), str(value)) for name, value in environ.items() if name[:5] == "HTTP_"
        ]
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name):
                headers.append((name.replace("_", "-").lower(), str(environ[name])))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        return cls(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=path,
            query=query or str(environ.get("QUERY_STRING", "")),
            headers=tuple(headers),
            body=body,
            source_ip=str(environ.get("REMOTE_ADDR", "127.0.0.1")),
            protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
        )

    def header(self, name: str) -> str | None:
        """A header's value (repeated headers joined by commas, as AWS joins them), or None."""
        values = [value for key, value in self.headers if key == name.lower()]
        return ",".join(values) if values else None


def verify_signature(request: UrlRequest, callers: CallerDirectory, region: str, now: datetime) -> Caller:
    """The caller whose secret the request's SigV4 signature verifies with; Forbidden otherwise (see module doc)."""
    authorization = request.header("authorization")
    if authorization is None:
        raise Forbidden("unsigned request (no Authorization header)")
    match = _AUTHORIZATION.fullmatch(authorization.strip())
    if match is None:
        raise Forbidden("the Authorization header is not a SigV4 (AWS4-HMAC-SHA256) signature")
    if match["service"] != SIGNING_NAME or match["region"] != region:
        raise Forbidden(f"signed for {match['service']} in {match['region']}, not {SIGNING_NAME} in {region}")
    caller = callers.find(match["key"])
    if caller is None:
        raise Forbidden(f"no caller has the access key {match['key']}")
    if caller.expires is not None and caller.expires <= now:
        raise Forbidden(f"the session of {caller.arn} expired at {caller.expires.isoformat()}")
    if caller.session_token is not None and request.header("x-amz-security-token") != caller.session_token:
        raise Forbidden(f"a missing or wrong X-Amz-Security-Token for {caller.arn}")
    amz_date = request.header("x-amz-date") or ""
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise Forbidden(f"X-Amz-Date {amz_date!r} is not a SigV4 timestamp") from None
    if abs(now - signed_at) > MAX_CLOCK_SKEW or match["date"] != amz_date[:8]:
        raise Forbidden(f"signed at {amz_date} with scope date {match['date']}: more than 5 minutes from now")
    signed_names = match["headers"].split(";")
    if "host" not in signed_names or any(request.header(name) is None for name in signed_names):
        raise Forbidden(f"SignedHeaders {match['headers']} names host, and only headers the request has")
    declared_hash = request.header("x-amz-content-sha256")
    if declared_hash is not None and declared_hash != hashlib.sha256(request.body).hexdigest():
        raise Forbidden("X-Amz-Content-SHA256 is not the hash of the body received")
    expected = _signature(request, signed_names, caller, region, amz_date)
    if not hmac.compare_digest(expected, match["signature"]):
        raise Forbidden(f"the signature does not verify with the secret of {caller.access_key}")
    return caller


def _signature(request: UrlRequest, signed_names: Sequence[str], caller: Caller, region: str, amz_date: str) -> str:
    """The signature botocore's SigV4 signer computes for this request (signed headers only, the body as received)."""
    headers = {name: request.header(name) or "" for name in signed_names}
    url = f"http://{headers['host']}{request.path}" + (f"?{request.query}" if request.query else "")
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(caller.access_key, caller.secret_key, caller.session_token), SIGNING_NAME, region)
    canonical = signer.canonical_request(aws_request)
    signature: str = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    return signature


def authorize(caller: Caller, url: FunctionUrlConfig) -> None:
    """Raise Forbidden unless the caller's identity policy or the function's resource policy allows
    lambda:InvokeFunctionUrl on the function and neither explicitly denies it (IAM's same-account rule)."""
    permission = Permission(
        INVOKE_ACTION,
        url.function_arn,
        {
            AUTH_TYPE_KEY: (url.auth_type,),
            "aws:PrincipalArn": (caller.principal,),
            "aws:PrincipalAccount": (caller.account,),
            "aws:SecureTransport": ("false",),
        },
    )
    resource = [s for s in url.resource_statements if _names_caller(s.get("Principal"), caller)]
    if is_denied(caller.statements, permission) or is_denied(resource, permission):
        raise Forbidden(f"{caller.arn}: {INVOKE_ACTION} on {url.function_arn} is explicitly denied")
    if not (is_allowed(caller.statements, permission) or is_allowed(resource, permission)):
        raise Forbidden(f"{caller.arn}: no policy allows {INVOKE_ACTION} on {url.function_arn}")


def _names_caller(principal: Any, caller: Caller) -> bool:
    """Whether a resource policy's Principal (AWS::Lambda::Permission's: *, an account, an ARN) is the caller."""
    values = principal.get("AWS", []) if isinstance(principal, Mapping) else principal
    for value in values if isinstance(values, list) else [values]:
        text = str(value)
        if text == "*" or text in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            return True
        if text in (caller.arn, caller.principal):
            return True
    return False


# --- the event and the response ---------------------------------------------------------------------------------------
def function_url_event(
    request: UrlRequest, url: FunctionUrlConfig, caller: Caller | None, now: datetime, request_id: str = ""
) -> dict[str, Any]:
    """Lambda's payload format 2.0 event for a function URL request, as AWS documents it."""
    prefix = f"{FUNCTION_URL_PATH}{url.url_id}"
    raw_path = request.path[len(prefix) :] or "/"
    headers: dict[str, str] = {}
    for name, value in request.headers:
        if name != "cookie":
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    cookies = [c.strip() for v in (request.header("cookie") or "").split(",") for c in v.split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in parse_qsl(request.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    host = headers.get("host", "")
    context: dict[str, Any] = {
        "accountId": "anonymous" if caller is None else url.account,
        "apiId": url.url_id,
        "authentication": None,
        "domainName": host,
        "domainPrefix": url.url_id,
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id or str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if caller is not None:
        context["authorizer"] = {
            "iam": {
                "accessKey": caller.access_key,
                "accountId": caller.account,
                "callerId": caller.user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": caller.arn,
                "userId": caller.user_id,
            }
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": request.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    binary = bool(request.body) and not _TEXT_TYPES.match((headers.get("content-type") or "").split(";")[0].strip())
    if request.body:
        event["body"] = base64.b64encode(request.body).decode() if binary else request.body.decode("utf-8", "replace")
    event["pathParameters"] = None
    event["isBase64Encoded"] = binary
    event["stageVariables"] = None
    return event


def http_answer(result: Any) -> Answer:
    """The HTTP response for a function's result: its statusCode, headers, cookies and body, or any other JSON value
    as a 200 application/json body (AWS's rule for function URLs); a malformed statusCode is AWS's 502."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        return 200, [("Content-Type", "application/json")], json.dumps(result).encode()
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return 502, [("Content-Type", "text/plain")], BAD_GATEWAY
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers += [("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or []]
    body = result.get("body")
    text = body if isinstance(body, str) else "" if body is None else json.dumps(body)
    payload = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode()
    return status, headers, payload


# --- CORS -------------------------------------------------------------------------------------------------------------
def _allowed_origin(cors: Mapping[str, Any], origin: str | None) -> str | None:
    origins = [str(o) for o in cors.get("AllowOrigins", [])]
    if origin is None or not origins:
        return None
    return "*" if "*" in origins else origin if origin in origins else None


def _cors_headers(cors: Mapping[str, Any], origin: str | None, *, preflight: bool) -> list[tuple[str, str]]:
    """The Access-Control-* headers Lambda adds for an allowed origin (none for any other)."""
    allowed = _allowed_origin(cors, origin)
    if allowed is None:
        return []
    headers = [("Access-Control-Allow-Origin", allowed)]
    if cors.get("AllowCredentials"):
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if preflight:
        if cors.get("AllowMethods"):
            headers.append(("Access-Control-Allow-Methods", ",".join(map(str, cors["AllowMethods"]))))
        if cors.get("AllowHeaders"):
            headers.append(("Access-Control-Allow-Headers", ",".join(map(str, cors["AllowHeaders"]))))
        if cors.get("MaxAge") is not None:
            headers.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
    elif cors.get("ExposeHeaders"):
        headers.append(("Access-Control-Expose-Headers", ",".join(map(str, cors["ExposeHeaders"]))))
    return headers


# --- serving ----------------------------------------------------------------------------------------------------------
class FunctionUrls:
    """Every function URL of a stack, answered on the endpoint (mount with `LocalEndpoint.add_path_route`)."""

    def __init__(self, invoke: Invoker, callers: CallerDirectory, clock: Clock | None = None) -> None:
        self._invoke = invoke
        self.callers = callers
        self._clock = clock or (lambda: datetime.now(UTC))
        self._urls: dict[str, FunctionUrlConfig] = {}

    def add(self, url: FunctionUrlConfig) -> None:
        """Serve this URL."""
        self._urls[url.url_id] = url

    def __call__(self, environ: dict[str, Any]) -> Answer:
        """Answer one request under /_function_url/: 404 for an unknown id, 403 when refused, else the function's."""
        request = UrlRequest.from_environ(environ)
        url_id = request.path[len(FUNCTION_URL_PATH) :].split("/", 1)[0]
        url = self._urls.get(url_id)
        if url is None:
            return 404, [("Content-Type", "application/json")], b'{"Message":null}'
        origin = request.header("origin")
        if request.method == "OPTIONS" and url.cors and request.header(_CORS_METHODS) is not None:
            return 200, _cors_headers(url.cors, origin, preflight=True), b""  # Lambda answers preflights itself
        now = self._clock()
        caller = None
        if url.auth_type == "AWS_IAM":
            try:
                caller = verify_signature(request, self.callers, url.region, now)
                authorize(caller, url)
            except Forbidden as refusal:
                logger.info("function URL %s: 403: %s", url.function_name, refusal)
                return 403, [("Content-Type", "application/json")], FORBIDDEN
        result, error = self._invoke(url.function_name, function_url_event(request, url, caller, now))
        if error is not None:
            logger.warning("function URL %s: the function failed: %s", url.function_name, error)
            return 502, [("Content-Type", "text/plain")], BAD_GATEWAY
        status, headers, body = http_answer(result)
        return status, [*headers, *_cors_headers(url.cors, origin, preflight=False)], body


def operator_caller(access_key: str, account: str, secret_key: str) -> Caller:
    """The local operator (the CLI, the local stack's own clients): an IAM user whose identity policy allows all."""
    user_id = "AIDA" + hashlib.sha256(f"{account}/{OPERATOR_USER}".encode()).hexdigest()[:17].upper()
    arn = f"arn:aws:iam::{account}:user/{OPERATOR_USER}"
    return Caller(access_key, secret_key, arn, user_id, account, ALLOW_EVERYTHING)


def role_session_caller(
    access_key: str, secret_key: str, role_arn: str, session: str, statements: Sequence[Mapping[str, Any]]
) -> Caller:
    """A function's credentials, as Lambda gives them: a session of its execution role named after the function."""
    account, role_name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    role_id = "AROA" + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()
    arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}"
    return Caller(
        access_key, secret_key, arn, f"{role_id}:{session}", account, tuple(statements), principal_arn=role_arn
    )
