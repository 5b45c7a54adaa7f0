"""Function URLs on the local endpoint behave as AWS's: SigV4 verified, identity and resource policies evaluated,
payload format 2.0 events in, the function's statusCode/headers/cookies/body out.

A tiny template (two functions, an AWS_IAM and a NONE URL, an InvokeFunctionUrl permission, an output) is
provisioned with the local stack's Provisioner; a test handler stands in for the functions, run by the Lambda runner.
Requests are signed with botocore's SigV4Auth and sent with urllib, as an upload application would send them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cli.target import LOCAL_ACCESS_KEY
from functions.common.adapters.clients import LOCAL_SECRET_KEY
from sandbox.endpoint import LocalEndpoint
from sandbox.function_urls import (
    CLI_ACCESS_KEY,
    FUNCTION_URL_PATH,
    CallerDirectory,
    FunctionUrlConfig,
    FunctionUrls,
    UrlRequest,
    function_url_event,
    http_answer,
    operator_caller,
)
from sandbox.stack.provision import Deployment, Provisioner
from sandbox.stack.runner import FunctionHost
from sandbox.stack.template import LOCAL_ACCOUNT
from tests.sandbox.endpoint_clients import endpoint_client

REGION = "us-east-1"
STACK = "url-test"
STAND_IN = "tests.sandbox.stack.url_handler.handler"
FORBIDDEN = {"Message": "Forbidden"}
AUDITOR = f"auditor-{uuid.uuid4().hex[:8]}"  # named in the template's InvokeFunctionUrl permission


def template() -> dict[str, Any]:
    """An AWS_IAM URL on ReviewFunction (a resource policy lets AUDITOR in) and a NONE URL with CORS on OpenFunction."""

    def function(role: str) -> dict[str, Any]:
        return {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": "functions.review_api.handler.handler",  # stood in for by STAND_IN
                "Role": {"Fn::GetAtt": [role, "Arn"]},
                "Timeout": 20,
                "MemorySize": 128,
            },
        }

    return {
        "Resources": {
            "ReviewRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "ReviewFunction": function("ReviewRole"),
            "ReviewUrl": {
                "Type": "AWS::Lambda::Url",
                "Properties": {"TargetFunctionArn": {"Fn::GetAtt": ["ReviewFunction", "Arn"]}, "AuthType": "AWS_IAM"},
            },
            "AuditorMayInvoke": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunctionUrl",
                    "FunctionName": {"Ref": "ReviewFunction"},
                    "Principal": f"arn:aws:iam::{LOCAL_ACCOUNT}:user/{AUDITOR}",
                    "FunctionUrlAuthType": "AWS_IAM",
                },
            },
            "OpenRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "OpenFunction": function("OpenRole"),
            "OpenUrl": {
                "Type": "AWS::Lambda::Url",
                "Properties": {
                    "TargetFunctionArn": {"Fn::GetAtt": ["OpenFunction", "Arn"]},
                    "AuthType": "NONE",
                    "Cors": {"AllowOrigins": ["https://review.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 60},
                },
            },
        },
        "Outputs": {
            "ReviewApiUrl": {"Value": {"Fn::GetAtt": ["ReviewUrl", "FunctionUrl"]}},
            "ReviewUrlFunctionArn": {"Value": {"Fn::GetAtt": ["ReviewUrl", "FunctionArn"]}},
            "OpenApiUrl": {"Value": {"Fn::GetAtt": ["OpenUrl", "FunctionUrl"]}},
        },
    }


@dataclass
class UrlStack:
    """The provisioned template on a running endpoint, its functions run by the runner, and what they received."""

    endpoint: LocalEndpoint
    deployment: Deployment
    urls: FunctionUrls
    event_log: Path
    skew: list[timedelta]  # the endpoint's clock offset (a test moves it to make a signature stale)

    @property
    def review_url(self) -> str:
        return self.deployment.outputs["ReviewApiUrl"]

    @property
    def open_url(self) -> str:
        return self.deployment.outputs["OpenApiUrl"]

    @property
    def review_arn(self) -> str:
        return self.deployment.functions["ReviewFunction"].arn

    def events(self) -> list[dict[str, Any]]:
        if not self.event_log.exists():
            return []
        return [json.loads(line) for line in self.event_log.read_text().splitlines()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UrlStack]:
    work = tmp_path_factory.mktemp("function-urls")
    endpoint = LocalEndpoint(port=0).start()
    deployment = Provisioner(
        template(),
        lambda service: endpoint_client(endpoint, service, REGION),
        stack_name=STACK,
        region=REGION,
        account=LOCAL_ACCOUNT,
        endpoint_url=endpoint.url,
    ).provision()
    event_log = work / "events.jsonl"
    hosts = {
        spec.name: FunctionHost(
            replace(spec, handler=STAND_IN, environment={"URL_EVENT_LOG": str(event_log)}),
            aws_environment={"AWS_ENDPOINT_URL": endpoint.url, "AWS_DEFAULT_REGION": REGION},
            log_path=work / f"{spec.name}.log",
            max_environments=1,
        )
        for spec in deployment.functions.values()
    }

    def invoke(name: str, event: dict[str, Any]) -> tuple[Any, Mapping[str, Any] | None]:
        invocation = hosts[name].invoke(event)
        return invocation.result, invocation.error

    skew = [timedelta(0)]
    callers = CallerDirectory(LOCAL_ACCOUNT)
    callers.add(operator_caller(CLI_ACCESS_KEY, LOCAL_ACCOUNT, LOCAL_SECRET_KEY))
    urls = FunctionUrls(invoke, callers, clock=lambda: datetime.now(UTC) + skew[0])
    for url in deployment.function_urls.values():
        urls.add(url)
    endpoint.add_path_route(FUNCTION_URL_PATH, urls)
    yield UrlStack(endpoint, deployment, urls, event_log, skew)
    for host in hosts.values():
        host.close()
    endpoint.shutdown()


# --- clients ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


def send(
    url: str,
    method: str = "GET",
    body: bytes = b"",
    *,
    credentials: Credentials | None = None,
    headers: Mapping[str, str] | None = None,
    sent_body: bytes | None = None,
) -> Reply:
    """Sign (with credentials) as an application would, with botocore's SigV4Auth for `lambda`, and send with urllib;
    `sent_body` replaces the signed body on the wire (a tampered request)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    if credentials is not None:
        SigV4Auth(credentials, "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    wire = urllib.request.Request(
        prepared.url,
        data=body if sent_body is None else sent_body,
        headers=dict(prepared.headers.items()),
        method=method,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(wire, timeout=60) as response:
            return Reply(response.status, list(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, list(error.headers.items()), error.read())


def user(stack: UrlStack, *policies: Mapping[str, Any], name: str | None = None) -> tuple[str, Credentials]:
    """An IAM user made through the endpoint's IAM API, with these inline policies: (its ARN, its credentials)."""
    iam = endpoint_client(stack.endpoint, "iam", REGION)
    name = name or f"user-{uuid.uuid4().hex[:10]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    for number, policy in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"policy-{number}", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def invoke_policy(resource: str, effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    statement = {"Effect": effect, "Action": "lambda:InvokeFunctionUrl", "Resource": resource, **extra}
    return {"Version": "2012-10-17", "Statement": [statement]}


def allowed_user(stack: UrlStack) -> tuple[str, Credentials]:
    condition = {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    return user(stack, invoke_policy(stack.review_arn, Condition=condition))


# --- outputs --------------------------------------------------------------------------------------------------------
def test_the_function_url_output_resolves_to_the_local_url_form(stack: UrlStack) -> None:
    # Given the provisioned template / When its outputs are read
    config = stack.deployment.function_urls["ReviewUrl"]
    # Then Fn::GetAtt <Url>.FunctionUrl is the endpoint's /_function_url/<id>/ and FunctionArn the target function
    assert stack.review_url == f"{stack.endpoint.url}/_function_url/{config.url_id}/"
    assert len(config.url_id) == 32 and config.url_id.isalnum() and config.url_id.islower()
    assert stack.deployment.outputs["ReviewUrlFunctionArn"] == stack.review_arn
    assert (config.auth_type, stack.deployment.function_urls["OpenUrl"].auth_type) == ("AWS_IAM", "NONE")


# --- AWS_IAM ----------------------------------------------------------------------------------------------------------
def test_a_signed_request_by_an_allowed_user_reaches_the_function_with_aws_event(stack: UrlStack) -> None:
    # Given a user whose identity policy allows lambda:InvokeFunctionUrl on the function
    arn, credentials = allowed_user(stack)
    body = json.dumps({"verdict": "approve"}).encode()
    # When it POSTs a signed request with a path, a query, cookies and a JSON body
    reply = send(
        stack.review_url + "videos/v-1/verdicts?bucket=media&key=a%2Fb.mp4&tag=x&tag=y",
        "POST",
        body,
        credentials=credentials,
        headers={"Content-Type": "application/json", "Cookie": "c1=v1; c2=v2", "X-Custom": "Yes"},
    )
    # Then the function's statusCode, headers, cookies and body are the response
    assert reply.status == 201, reply.body
    assert reply.header("x-echo") == "yes"
    assert [value for key, value in reply.headers if key.lower() == "set-cookie"] == [
        "session=abc; Path=/",
        "theme=dark",
    ]
    event = reply.json()
    # And the event is payload format 2.0 with the request as received and the verified caller
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "$default", "/videos/v-1/verdicts")
    assert event["rawQueryString"] == "bucket=media&key=a%2Fb.mp4&tag=x&tag=y"
    assert event["queryStringParameters"] == {"bucket": "media", "key": "a/b.mp4", "tag": "x,y"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "Yes" and "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    assert (json.loads(event["body"]), event["isBase64Encoded"]) == ({"verdict": "approve"}, False)
    assert (event["pathParameters"], event["stageVariables"]) == (None, None)
    context = event["requestContext"]
    assert context["http"]["method"] == "POST" and context["http"]["path"] == "/videos/v-1/verdicts"
    assert (context["routeKey"], context["stage"], context["apiId"]) == (
        "$default",
        "$default",
        context["domainPrefix"],
    )
    assert context["accountId"] == LOCAL_ACCOUNT and isinstance(context["timeEpoch"], int)
    iam = context["authorizer"]["iam"]
    assert iam["userArn"] == arn and iam["accessKey"] == credentials.access_key
    user_id = endpoint_client(stack.endpoint, "iam", REGION).get_user(UserName=arn.rsplit("/", 1)[1])["User"]["UserId"]
    assert (iam["accountId"], iam["userId"], iam["callerId"]) == (LOCAL_ACCOUNT, user_id, user_id)
    assert (iam["cognitoIdentity"], iam["principalOrgId"]) == (None, None)


def test_an_unsigned_request_is_forbidden_and_never_reaches_the_function(stack: UrlStack) -> None:
    # Given an AWS_IAM function URL / When a request carries no signature
    before = len(stack.events())
    reply = send(stack.review_url + "review-queue")
    # Then AWS's 403 answers it, and the function did not run
    assert (reply.status, reply.json()) == (403, FORBIDDEN)
    assert len(stack.events()) == before


def test_a_tampered_body_is_forbidden(stack: UrlStack) -> None:
    # Given an allowed user's request signed over one body
    _, credentials = allowed_user(stack)
    signed, tampered = b'{"verdict":"approve"}', b'{"verdict":"reject!"}'  # same length: only the hash differs
    # When another body of the same length is sent under that signature
    reply = send(stack.review_url + "videos/v/verdicts", "POST", signed, credentials=credentials, sent_body=tampered)
    # Then the recomputed signature does not match
    assert (reply.status, reply.json()) == (403, FORBIDDEN)
    # And the untampered request passes (the refusal is the tampering, not the user)
    assert send(stack.review_url + "videos/v/verdicts", "POST", signed, credentials=credentials).status == 201


def test_a_signature_made_with_the_wrong_secret_is_forbidden(stack: UrlStack) -> None:
    # Given an allowed user's access key, signed with a secret that is not its own
    _, credentials = allowed_user(stack)
    wrong = Credentials(credentials.access_key, credentials.secret_key[::-1])
    # When it sends a request / Then it is refused
    assert send(stack.review_url + "review-queue", credentials=wrong).status == 403
    # And an unknown access key is refused too
    assert send(stack.review_url, credentials=Credentials("AKIANOBODYHASTHIS123", "x" * 40)).status == 403


def test_a_signature_older_than_five_minutes_is_forbidden(stack: UrlStack) -> None:
    # Given an allowed user
    _, credentials = allowed_user(stack)
    try:
        # When the endpoint's clock is 6 minutes ahead of the signature
        stack.skew[0] = timedelta(minutes=6)
        stale = send(stack.review_url + "review-queue", credentials=credentials)
        # Then it is refused; 4 minutes is within the allowed skew
        stack.skew[0] = timedelta(minutes=4)
        fresh = send(stack.review_url + "review-queue", credentials=credentials)
    finally:
        stack.skew[0] = timedelta(0)
    assert (stale.status, stale.json()) == (403, FORBIDDEN)
    assert fresh.status == 201


def test_a_user_whose_policy_does_not_allow_invoke_function_url_is_forbidden(stack: UrlStack) -> None:
    # Given users allowed other actions, the action on another function, or only for AuthType NONE
    other_action = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": stack.review_arn}],
    }
    other_function = invoke_policy(stack.review_arn + "-other")
    none_only = invoke_policy(stack.review_arn, Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})
    for policy in (other_action, other_function, none_only):
        _, credentials = user(stack, policy)
        # When each sends a correctly signed request / Then IAM's implicit deny is AWS's 403
        reply = send(stack.review_url + "review-queue", credentials=credentials)
        assert (reply.status, reply.json()) == (403, FORBIDDEN), policy
    # And a user with no policy at all is refused
    _, bare = user(stack)
    assert send(stack.review_url + "review-queue", credentials=bare).status == 403


def test_an_explicit_deny_wins_over_an_allow(stack: UrlStack) -> None:
    # Given a user allowed everything by one policy and denied lambda:InvokeFunctionUrl by another
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    _, allowed = user(stack, everything)
    _, denied = user(stack, everything, invoke_policy("arn:aws:lambda:*:*:function:*", effect="Deny"))
    # When both send signed requests / Then only the one without the Deny gets through
    assert send(stack.review_url + "review-queue", credentials=allowed).status == 201
    assert send(stack.review_url + "review-queue", credentials=denied).status == 403


def test_a_resource_policy_grants_a_user_without_an_identity_policy(stack: UrlStack) -> None:
    # Given the user the template's AWS::Lambda::Permission names, with no identity policy of its own
    arn, credentials = user(stack, name=AUDITOR)
    # When it sends a signed request / Then the function's resource policy lets it through (same account)
    reply = send(stack.review_url + "review-queue", credentials=credentials)
    assert reply.status == 201, reply.body
    assert reply.json()["requestContext"]["authorizer"]["iam"]["userArn"] == arn
    # And once its identity policy explicitly denies the action, the resource policy's Allow no longer helps
    iam = endpoint_client(stack.endpoint, "iam", REGION)
    deny = json.dumps(invoke_policy("*", effect="Deny"))
    iam.put_user_policy(UserName=AUDITOR, PolicyName="deny", PolicyDocument=deny)
    assert send(stack.review_url + "review-queue", credentials=credentials).status == 403


def test_an_assumed_role_session_is_the_caller_with_its_role_policies(stack: UrlStack) -> None:
    # Given a role allowed to invoke the URL, and a session of it from the endpoint's STS
    iam = endpoint_client(stack.endpoint, "iam", REGION)
    name = f"role-{uuid.uuid4().hex[:10]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps(invoke_policy(stack.review_arn)))
    sts = endpoint_client(stack.endpoint, "sts", REGION)
    session = sts.assume_role(RoleArn=role_arn, RoleSessionName="reviewer")["Credentials"]
    credentials = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    # When the session signs a request (with its token) / Then the event names the session
    reply = send(stack.review_url + "review-queue", credentials=credentials)
    assert reply.status == 201, reply.body
    caller = reply.json()["requestContext"]["authorizer"]["iam"]
    assert caller["userArn"] == f"arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{name}/reviewer"
    # And without the session token the same keys are refused
    tokenless = Credentials(session["AccessKeyId"], session["SecretAccessKey"])
    assert send(stack.review_url + "review-queue", credentials=tokenless).status == 403


def test_the_cli_key_is_the_local_operator_and_is_allowed(stack: UrlStack) -> None:
    # Given the CLI's local credentials (cli.target: LOCAL_ACCESS_KEY with LOCAL_SECRET_KEY)
    assert CLI_ACCESS_KEY == LOCAL_ACCESS_KEY
    # When it signs a request / Then it is the local operator, allowed everything
    reply = send(stack.review_url + "review-queue", credentials=Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY))
    assert reply.status == 201, reply.body
    caller = reply.json()["requestContext"]["authorizer"]["iam"]
    assert caller["userArn"] == f"arn:aws:iam::{LOCAL_ACCOUNT}:user/modlake-operator"


def test_a_bare_json_result_is_a_200_json_response_and_a_base64_body_is_decoded(stack: UrlStack) -> None:
    # Given an allowed user / When the function returns a value without statusCode
    _, credentials = allowed_user(stack)
    bare = send(stack.review_url + "bare", credentials=credentials)
    # Then it is the 200 application/json body
    assert (bare.status, bare.header("content-type"), bare.json()) == (
        200,
        "application/json",
        {"ok": True, "items": [1, 2]},
    )
    # And an isBase64Encoded body goes out as its bytes
    binary = send(stack.review_url + "binary", credentials=credentials)
    assert (binary.status, binary.header("content-type"), binary.body) == (200, "image/png", b"\x89PNG\x00\x01")


def test_a_failing_function_is_a_502(stack: UrlStack) -> None:
    # Given an allowed user / When the function raises / Then Lambda's 502 answers
    _, credentials = allowed_user(stack)
    reply = send(stack.review_url + "raise", credentials=credentials)
    assert (reply.status, reply.body) == (502, b"Internal Server Error")


def test_an_unknown_url_id_is_a_404(stack: UrlStack) -> None:
    # Given no URL with this id / When a request names it / Then 404, as AWS answers an unknown URL
    assert send(f"{stack.endpoint.url}/_function_url/{'0' * 32}/").status == 404


# --- NONE -----------------------------------------------------------------------------------------------------------
def test_auth_type_none_passes_unsigned_requests_without_an_authorizer(stack: UrlStack) -> None:
    # Given a NONE function URL / When an unsigned GET arrives with an allowed Origin
    reply = send(stack.open_url + "videos?bucket=media&key=clip.mp4", headers={"Origin": "https://review.example"})
    # Then the function ran, its event has no authorizer, and CORS allows the origin
    assert reply.status == 201, reply.body
    event = reply.json()
    assert "authorizer" not in event["requestContext"]
    assert event["requestContext"]["accountId"] == "anonymous"
    assert event["queryStringParameters"] == {"bucket": "media", "key": "clip.mp4"}
    assert "body" not in event and event["isBase64Encoded"] is False
    assert reply.header("access-control-allow-origin") == "https://review.example"


def test_a_cors_preflight_is_answered_without_the_function(stack: UrlStack) -> None:
    # Given a NONE URL with Cors / When a browser sends a preflight
    before = len(stack.events())
    headers = {"Origin": "https://review.example", "Access-Control-Request-Method": "POST"}
    reply = send(stack.open_url + "videos/v/verdicts", "OPTIONS", headers=headers)
    # Then Lambda answers it from the Cors settings, and the function did not run
    assert reply.status == 200
    assert reply.header("access-control-allow-methods") == "GET,POST"
    assert reply.header("access-control-max-age") == "60"
    assert len(stack.events()) == before
    # And another origin is not allowed
    other = send(stack.open_url, "OPTIONS", headers={**headers, "Origin": "https://evil.example"})
    assert other.header("access-control-allow-origin") is None


# --- the pieces ---------------------------------------------------------------------------------------------------
def _config() -> FunctionUrlConfig:
    return FunctionUrlConfig(
        "a" * 32, "fn", f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT}:function:fn", "NONE", REGION, LOCAL_ACCOUNT
    )


def test_the_event_joins_repeated_headers_and_base64_encodes_binary_bodies() -> None:
    # Given a request with a repeated header and a binary body
    request = UrlRequest(
        "PUT",
        f"{FUNCTION_URL_PATH}{'a' * 32}",
        "",
        (("x-many", "1"), ("x-many", "2"), ("content-type", "application/octet-stream")),
        b"\x00\xff",
    )
    # When it becomes an event
    event = function_url_event(request, _config(), None, datetime(2026, 3, 12, 19, 3, 58, tzinfo=UTC))
    # Then repeated headers are joined, the root path is "/", and the body is base64 as AWS sends it
    assert event["headers"]["x-many"] == "1,2"
    assert event["rawPath"] == "/" and "queryStringParameters" not in event and "cookies" not in event
    assert (event["body"], event["isBase64Encoded"]) == ("AP8=", True)
    assert event["requestContext"]["time"] == "12/Mar/2026:19:03:58 +0000"
    assert event["requestContext"]["timeEpoch"] == 1773342238000


def test_http_answer_follows_the_function_url_response_rules() -> None:
    # Given results a function may return / Then each becomes the response AWS documents
    assert http_answer("hello") == (200, [("Content-Type", "application/json")], b'"hello"')
    assert http_answer({"statusCode": 204}) == (204, [("Content-Type", "application/json")], b"")
    status, headers, body = http_answer({"statusCode": 404, "headers": {"Content-Type": "text/plain"}, "body": "no"})
    assert (status, headers, body) == (404, [("Content-Type", "text/plain")], b"no")
    assert http_answer({"statusCode": "oops"})[0] == 502
