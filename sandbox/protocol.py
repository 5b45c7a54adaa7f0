"""What the local AWS services share: the AWS JSON 1.1 and REST-XML wire formats, AWS's error shapes, model validation.

Each local service (Rekognition, Athena) is a `JsonService`: it gets an operation name, the decoded request
and a `RequestContext`, and returns the response as a dict or raises `ServiceError`. Requests are checked
against botocore's service model the way AWS checks them (required members, lengths, patterns, enums,
ranges) and answer `ValidationException` in AWS's words, because botocore checks none of the patterns or
enums on the client side. Responses can be checked against the same model, so a local service cannot
return a member, type or enum value AWS would not.

REST-XML services (S3 Control) reuse all of that: `rest_operation` finds the operation a method and path name,
`rest_xml_request` decodes headers, URI labels, query string and XML body into the same input dict a JSON request
gives (botocore's own REST-XML parser reads the body, as if the request were a response of the input shape), and
`rest_xml_document` / `rest_xml_error` write the model's XML and the `<ErrorResponse>` error document.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Protocol
from xml.etree import ElementTree

import botocore.session
from botocore.awsrequest import HeadersDict
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.parsers import ResponseParserError, RestXMLParser
from botocore.utils import parse_timestamp

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class RequestContext:
    """Who sent a request and where: the SigV4 scope's region and access key (moto's account comes from it)."""

    region: str
    access_key: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Whose permissions a call our service makes would need in AWS: "" for the caller's own, "role:<arn>" for a
    # role the service assumes, "service:<name>" for the service's own bookkeeping (no caller permission).
    principal: str = ""

    def acting_as(self, principal: str) -> RequestContext:
        """This context for calls made with another identity (see `principal`)."""
        return replace(self, principal=principal)


class ServiceError(Exception):
    """An AWS error response: its code (`__type`), message, HTTP status and any extra members of the error shape."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON error document AWS JSON 1.1 services send (botocore reads `__type` and `Message`)."""
        return {"__type": self.code, "Message": self.message, **self.extra}


ClientFactory = Callable[[str, RequestContext], Any]
"""Makes a boto3 client for another local service (S3, SNS, Glue, …) with the caller's region and account."""


class JsonService(Protocol):
    """One local AWS JSON 1.1 service behind the endpoint."""

    service_name: str  # botocore's name and the SigV4 signing name: "rekognition", "athena"

    def operations(self) -> frozenset[str]:
        """The operations this service answers itself (others go to moto, if moto has them)."""
        ...

    def handle(self, operation: str, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        """Answer one validated request, or raise ServiceError."""
        ...

    def close(self) -> None:
        """Stop background work (jobs, queries) at shutdown."""
        ...


class PageTokens:
    """Opaque, tamper-proof NextTokens: an offset and its issue time, signed with the listing they page through.

    A token is only good for the scope it was made for (a job and its sort order, a query's results, …), by the
    service instance that made it, and for `lifetime_seconds`; anything else reads as None.
    """

    _BODY = struct.Struct(">QQ")  # offset, issued (epoch seconds)

    def __init__(self, clock: Callable[[], float], lifetime_seconds: float | None = None) -> None:
        self._clock = clock
        self._lifetime = lifetime_seconds
        self._secret = secrets.token_bytes(32)

    def make(self, scope: str, offset: int) -> str:
        """The NextToken for `offset` within `scope`."""
        body = self._BODY.pack(offset, int(self._clock()))
        return base64.urlsafe_b64encode(body + self._mac(scope, body)).decode().rstrip("=")

    def read(self, token: str, scope: str) -> int | None:
        """The offset a token holds if this instance made it for `scope` and it has not expired; else None."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        size = self._BODY.size
        body, mac = raw[:size], raw[size:]
        if len(body) != size or not hmac.compare_digest(mac, self._mac(scope, body)):
            return None
        offset, issued = self._BODY.unpack(body)
        if self._lifetime is not None and self._clock() - issued > self._lifetime:
            return None
        return int(offset)

    def _mac(self, scope: str, body: bytes) -> bytes:
        return hmac.new(self._secret, scope.encode() + b"\n" + body, hashlib.sha256).digest()[:16]


@cache
def service_model(service_name: str) -> ServiceModel:
    """botocore's model of an AWS service (cached: loading one takes tens of milliseconds)."""
    return botocore.session.get_session().get_service_model(service_name)


def operation_model(service_name: str, operation: str) -> OperationModel:
    """One operation's model; an unknown operation is AWS's UnknownOperationException."""
    model = service_model(service_name)
    if operation not in model.operation_names:
        raise ServiceError("UnknownOperationException", f"Unknown operation {operation}")
    return model.operation_model(operation)


def to_wire(value: Any) -> Any:
    """A response value as JSON 1.1 sends it: timestamps as epoch seconds, everything else as is."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def validate_request(operation: OperationModel, request: Mapping[str, Any]) -> None:
    """Check a request the way AWS does; raise ValidationException listing every violation in AWS's words."""
    problems: list[str] = []
    if operation.input_shape is not None:
        _check(operation.input_shape, request, "", problems, output=False)
    if problems:
        count = len(problems)
        noun = "validation error" if count == 1 else "validation errors"
        raise ServiceError("ValidationException", f"{count} {noun} detected: " + "; ".join(problems))


def request_problems(
    operation: OperationModel, request: Mapping[str, Any], *, strict: bool = True, unions: Collection[str] = ()
) -> list[str]:
    """Every violation of the model in a request; strict adds unknown members and unions without exactly one member."""
    # Strict is for requests built by code (the stack's QuickSight definition): AWS ignores a member it does not know,
    # so a misspelt visual would silently vanish, and it refuses a union (botocore's `union` trait, a documented
    # "union type structure", or a shape named in `unions`) with two members only when the request runs.
    problems: list[str] = []
    if operation.input_shape is not None:
        rules = _Strict(frozenset(unions)) if strict else None
        _check(operation.input_shape, request, "", problems, output=False, strict=rules)
    return problems


def response_problems(operation: OperationModel, response: Mapping[str, Any]) -> list[str]:
    """What in a response the service model does not allow (unknown members, wrong types, bad enums); [] if none."""
    problems: list[str] = []
    if operation.output_shape is not None:
        _check(operation.output_shape, response, "", problems, output=True)
    return problems


@dataclass(frozen=True)
class _Strict:
    """The strict request checks: unknown members, and exactly one member in each union structure."""

    unions: frozenset[str]

    def is_union(self, shape: StructureShape) -> bool:
        return bool(
            shape.metadata.get("union")
            or _UNION_DOCUMENTATION in (shape.documentation or "")
            or shape.name in self.unions
        )


_UNION_DOCUMENTATION = "This is a union type structure"


def _member_path(parent: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{parent}.{camel}" if parent else camel


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def _violation(value: Any, path: str, rule: str) -> str:
    """One violation as AWS words it: "Value 'x' at 'a.b' failed to satisfy constraint: Member must …"."""
    return f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must {rule}"


def _check(
    shape: Shape, value: Any, path: str, problems: list[str], *, output: bool, strict: _Strict | None = None
) -> None:
    if value is None:
        return
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        _check_structure(shape, value, path, problems, output=output, strict=strict)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list | tuple):
            problems.append(f"Value at '{path}' failed to satisfy constraint: Member must be a list")
            return
        _check_size(shape, len(value), path, value, problems, "length")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}.member", problems, output=output, strict=strict)
    elif isinstance(shape, MapShape):
        if not isinstance(value, Mapping):
            problems.append(f"Value at '{path}' failed to satisfy constraint: Member must be a map")
            return
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", problems, output=output, strict=strict)
            _check(shape.value, item, f"{path}.{key}", problems, output=output, strict=strict)
    elif kind == "string":
        _check_string(shape, value, path, problems)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(_violation(value, path, "be a number"))
            return
        _check_size(shape, value, path, value, problems, "value")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(_violation(value, path, "be a number"))
            return
        _check_size(shape, value, path, value, problems, "value")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(_violation(value, path, "be a boolean"))
    elif kind == "timestamp" and not isinstance(value, datetime | date | int | float):
        problems.append(_violation(value, path, "be a timestamp"))


def _check_structure(
    shape: StructureShape, value: Any, path: str, problems: list[str], *, output: bool, strict: _Strict | None
) -> None:
    if not isinstance(value, Mapping):
        problems.append(f"Value at '{path}' failed to satisfy constraint: Member must be a structure")
        return
    if strict is not None and strict.is_union(shape):
        present = [name for name, item in value.items() if item is not None]
        if len(present) != 1:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must set exactly one member of union "
                f"{shape.name}, got {len(present)} ({', '.join(present) or 'none'})"
            )
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(
                f"Value null at '{_member_path(path, name)}' failed to satisfy constraint: Member must not be null"
            )
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            # AWS ignores unknown request members (strict reports them); a response must not invent any
            if output or strict is not None:
                problems.append(f"Member '{_member_path(path, name)}' is not in the service model")
            continue
        _check(member, item, _member_path(path, name), problems, output=output, strict=strict)


def _check_string(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(_violation(value, path, "be a string"))
        return
    _check_size(shape, len(value), path, value, problems, "length")
    enum = shape.enum
    if enum and value not in enum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(enum)}]"
        )
    pattern = shape.metadata.get("pattern")
    if pattern and not _compiled(pattern).search(value):
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )


def _check_size(shape: Shape, size: float, path: str, value: Any, problems: list[str], what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    shown = value if what == "value" or isinstance(value, str) else f"{len(value)} items"
    if low is not None and size < low:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must have {what} greater than or equal to {_number(low)}"
        )
    if high is not None and size > high:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must have {what} less than or equal to {_number(high)}"
        )


def _number(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else str(limit)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """AWS patterns are Java regexes; the ones in these models are also valid Python (\\p{…} classes aside)."""
    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(".*", re.DOTALL)  # a pattern Python cannot read constrains nothing here


# --- REST-XML -------------------------------------------------------------------------------------------------------
XML_CONTENT_TYPE = "application/xml"
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_URI_LABEL = re.compile(r"\\\{(\w+)(\\\+)?\\\}")  # a label as re.escape leaves it: \{Name\} or \{Name\+\}
MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"


@cache
def _rest_routes(service_name: str) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, path pattern, operation) of every operation, the most literal path first."""
    model = service_model(service_name)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = str(http["requestUri"]).split("?", 1)[0]
        pattern = _URI_LABEL.sub(
            lambda label: f"(?P<{label[1]}>{'.+' if label[2] else '[^/]+'})", re.escape(path.rstrip("/") or "/")
        )
        literal = len(_URI_LABEL.sub("", re.escape(path)))
        routes.append((literal, str(http["method"]), re.compile(pattern), name))
    routes.sort(key=lambda route: -route[0])
    return tuple((method, pattern, name) for _, method, pattern, name in routes)


def rest_operation(service_name: str, method: str, path: str) -> tuple[OperationModel, dict[str, str]] | None:
    """The REST operation a method and (decoded) path name, with its URI labels; None if no operation has them."""
    for route_method, pattern, name in _rest_routes(service_name):
        match = pattern.fullmatch(path.rstrip("/") or "/")
        if match is not None and route_method == method:
            return service_model(service_name).operation_model(name), match.groupdict()
    return None


def rest_xml_request(
    operation: OperationModel,
    headers: Mapping[str, str],
    body: bytes,
    uri_labels: Mapping[str, str],
    query: Mapping[str, list[str]],
) -> dict[str, Any]:
    """A REST-XML request as the operation's input dict: header, URI, query string and body members, typed.

    A body that is not XML of the input shape is S3's MalformedXML; a query value of the wrong type InvalidArgument.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    parser = RestXMLParser(timestamp_parser=lambda text: parse_timestamp(text).astimezone(UTC))
    wire_headers = HeadersDict()
    for name, value in headers.items():
        wire_headers[name] = value
    try:
        parsed: dict[str, Any] = parser.parse({"headers": wire_headers, "body": body, "status_code": 200}, shape)
    except (ResponseParserError, ValueError, TypeError, AttributeError) as error:
        raise ServiceError("MalformedXML", MALFORMED_XML) from error
    parsed.pop("ResponseMetadata", None)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in uri_labels:
            parsed[name] = uri_labels[wire_name]
        elif location == "querystring" and wire_name in query:
            parsed[name] = _query_value(member, wire_name, query[wire_name])
    return parsed


def _query_value(shape: Shape, name: str, values: list[str]) -> Any:
    if isinstance(shape, ListShape):
        return [_scalar(shape.member, name, value) for value in values]
    return _scalar(shape, name, values[-1])


def _scalar(shape: Shape, name: str, text: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "timestamp":
            return parse_timestamp(text).astimezone(UTC)
    except (ValueError, TypeError, OverflowError) as error:
        raise ServiceError("InvalidArgument", f"Invalid value for the {name} query parameter: {text!r}") from error
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ServiceError("InvalidArgument", f"Invalid value for the {name} query parameter: {text!r}")
        return text == "true"
    return text


def rest_xml_document(shape: StructureShape, value: Mapping[str, Any], namespace: str | None = None) -> bytes:
    """A response of this output shape as REST-XML: `<ShapeName xmlns=…>` with members in model order."""
    root = ElementTree.Element(shape.name, {"xmlns": namespace} if namespace else {})
    _xml_fill(shape, value, root)
    return _XML_DECLARATION + ElementTree.tostring(root, encoding="unicode").encode()


def rest_xml_error(error: ServiceError, request_id: str, host_id: str = "") -> bytes:
    """The error document S3 Control sends: `<ErrorResponse><Error><Code/><Message/></Error><RequestId/>…`."""
    root = ElementTree.Element("ErrorResponse")
    detail = ElementTree.SubElement(root, "Error")
    ElementTree.SubElement(detail, "Code").text = error.code
    ElementTree.SubElement(detail, "Message").text = error.message
    for name, extra in error.extra.items():
        ElementTree.SubElement(detail, name).text = str(extra)
    ElementTree.SubElement(root, "RequestId").text = request_id
    ElementTree.SubElement(root, "HostId").text = host_id
    return _XML_DECLARATION + ElementTree.tostring(root, encoding="unicode").encode()


def _xml_fill(shape: Shape, value: Any, element: ElementTree.Element) -> None:
    if isinstance(shape, StructureShape):
        for name, member in shape.members.items():
            item = value.get(name)
            if item is None or member.serialization.get("location"):
                continue  # header, URI and query members are not in the body
            tag = member.serialization.get("name", name)
            if isinstance(member, ListShape) and member.serialization.get("flattened"):
                for entry in item:
                    _xml_fill(member.member, entry, ElementTree.SubElement(element, tag))
            else:
                _xml_fill(member, item, ElementTree.SubElement(element, tag))
    elif isinstance(shape, ListShape):
        tag = shape.member.serialization.get("name", "member")
        for entry in value:
            _xml_fill(shape.member, entry, ElementTree.SubElement(element, tag))
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            entry = ElementTree.SubElement(element, "entry")
            _xml_fill(shape.key, key, ElementTree.SubElement(entry, shape.key.serialization.get("name", "key")))
            _xml_fill(shape.value, item, ElementTree.SubElement(entry, shape.value.serialization.get("name", "value")))
    else:
        element.text = _xml_text(shape, value)


def _xml_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        moment = value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    return str(value)
