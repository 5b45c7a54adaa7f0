"""Every AWS API call a function makes, recorded as it is made, so tests can hold each one against IAM."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.stack.template import LOCAL_ACCOUNT

BINARY_PLACEHOLDER = "<binary>"


@dataclass(frozen=True)
class AwsCall:
    """One API call: the botocore service and operation, its request parameters, and who made it where."""

    service: str  # botocore service name, e.g. "s3", "dynamodb", "sesv2"
    operation: str  # botocore operation name, e.g. "PutObject"
    params: Mapping[str, Any]  # the request parameters, JSON-safe (bytes and streams replaced)
    region: str
    account: str
    caller: str = ""  # the function (or principal) the call was made as
    response: Mapping[str, Any] = field(default_factory=dict)  # a few response fields the IAM check needs
    requests: int = 1  # HTTP requests the call sent: 1, plus botocore's retries (0: refused before sending)

    @property
    def retries(self) -> int:
        """How many times botocore re-sent the call's request."""
        return max(0, self.requests - 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (worker processes send calls to the runner this way)."""
        return {
            "service": self.service,
            "operation": self.operation,
            "params": dict(self.params),
            "region": self.region,
            "account": self.account,
            "caller": self.caller,
            "response": dict(self.response),
            "requests": self.requests,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AwsCall:
        """Inverse of as_dict."""
        return cls(**data)


# Response fields kept because a later call's resource depends on them (Athena ids → their workgroup).
_KEPT_RESPONSE_FIELDS = {("athena", "StartQueryExecution"): ("QueryExecutionId",)}


def json_safe(value: Any) -> Any:
    """Parameters with bytes, streams and other non-JSON values replaced by a placeholder."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes | bytearray) or hasattr(value, "read"):
        return BINARY_PLACEHOLDER
    return str(value)


def kept_response(service: str, operation: str, response: Mapping[str, Any]) -> dict[str, Any]:
    """The response fields a permission check needs later (empty for most calls)."""
    return {name: response[name] for name in _KEPT_RESPONSE_FIELDS.get((service, operation), ()) if name in response}


def record_calls(client: Any, caller: str, sink: Callable[[AwsCall], None]) -> None:
    """Report every call this boto3 client makes to `sink` (as `caller`), before it is sent."""
    service = client.meta.service_model.service_name
    region = client.meta.region_name

    def on_call(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        sink(AwsCall(service, model.name, json_safe(params), region, LOCAL_ACCOUNT, caller))

    client.meta.events.register(f"provide-client-params.{client.meta.service_model.service_id.hyphenize()}", on_call)
