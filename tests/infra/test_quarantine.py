"""Quarantine: nothing with it off; with tag the deciding functions get QUARANTINE and tagging grants on the media key
prefix; with deny the media bucket policy also denies reads of flagged versions, and the project's IAM evaluator shows
who that stops (a reader of a flagged version) and who it does not (a clean version, the exempt, the pipeline)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from functions.common.quarantine import MODERATION_TAG_KEY
from stacks.config import PipelineConfig
from stacks.quarantine import QUARANTINED_READS, TAGGING_ACTIONS
from tests.infra.conftest import PREFIX, QUARANTINE_EXEMPT
from tests.infra.synth import Synth, as_list, cdk_context, render, synthesize
from tests.sandbox.stack.permissions import (
    Permission,
    is_allowed_with_resource_policy,
    object_tag_context,
    resource_policy_refusal,
)

pytestmark = pytest.mark.slow

TAGGERS = ("start_moderation", "collect_results", "queue_backfill")
ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ANALYST = f"arn:aws:iam::{ACCOUNT}:role/analyst"
VERSION = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Quarantine tag on a stage that watches only a key prefix (the tagging grants follow it)."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-quarantine-tag"), region="us-east-1", quarantine="tag", key_prefix=PREFIX
    )


def _role_of(synth: Synth, folder: str) -> str:
    return str(synth.function(folder)[1]["Properties"]["Role"]["Fn::GetAtt"][0])


def _grants(synth: Synth, folder: str) -> set[tuple[str, str]]:
    return {
        (action, render(resource))
        for statement in synth.role_policy_statements(_role_of(synth, folder))
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def _media_policy(synth: Synth) -> list[dict[str, Any]]:
    media = synth.output_ref("MediaBucketName")
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": media}
    ]
    return list(policy)


def _mentions(value: Any, text: str) -> bool:
    if isinstance(value, dict):
        return any(_mentions(k, text) or _mentions(v, text) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions(v, text) for v in value)
    return isinstance(value, str) and text in value


# --- off: the template is the one without the feature ------------------------------------------------------------
def test_with_quarantine_off_nothing_of_it_is_in_the_template(dev: Synth) -> None:
    # Given cdk.json's default (quarantine off)
    assert dev.config.quarantine == "off"
    # Then no function has a QUARANTINE variable, no policy names a tagging action, no bucket policy a tag condition
    for function in dev.modlake_functions().values():
        assert "QUARANTINE" not in function["Properties"]["Environment"]["Variables"]
    policies = [p["Properties"] for p in dev.resources("AWS::IAM::Policy").values()]
    assert not [action for action in TAGGING_ACTIONS if _mentions(policies, action)]
    assert not _mentions(_media_policy(dev), "s3:ExistingObjectTag")
    assert not [path for path in dev.construct_paths.values() if "/Quarantine" in path]


def test_quarantine_adds_no_resource_only_variables_grants_and_one_bucket_policy_statement(
    dev: Synth, quarantine: Synth
) -> None:
    # Given dev and the same stage with quarantine deny
    # Then both have the same resources
    assert set(quarantine.resources_json) == set(dev.resources_json)
    # And the media bucket policy has dev's statements plus the deny
    added = [s for s in _media_policy(quarantine) if s not in _media_policy(dev)]
    assert [s.get("Sid") for s in added] == ["DenyReadingFlaggedVersions"]
    assert len(_media_policy(quarantine)) == len(_media_policy(dev)) + 1


# --- tag: the variable and the grants -----------------------------------------------------------------------------
@pytest.mark.parametrize(("synth_name", "mode"), [("tagged", "tag"), ("quarantine", "deny")])
def test_the_functions_that_decide_outcomes_get_the_mode_and_the_others_do_not(
    synth_name: str, mode: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    # Given every modlake function's environment
    for folder in (*TAGGERS, "send_digest"):
        variables = synth.function(folder)[1]["Properties"]["Environment"]["Variables"]
        # Then the three that decide outcomes know the mode; the digest does not
        assert variables.get("QUARANTINE") == (mode if folder in TAGGERS else None), folder


@pytest.mark.parametrize(("synth_name", "objects"), [("tagged", f"{PREFIX}*"), ("quarantine", "*")])
def test_tagging_is_granted_on_the_media_key_prefix_only_to_the_functions_that_tag(
    synth_name: str, objects: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    media = f"<{synth.output_ref('MediaBucketName')}.Arn>"
    for folder in (*TAGGERS, "send_digest"):
        # Given the function's grants of tagging actions
        tagging = {(a, r) for a, r in _grants(synth, folder) if "Tagging" in a}
        # Then the taggers get/put the tags of media objects under the key prefix, and nothing else is tagged
        expected = {(action, f"{media}/{objects}") for action in TAGGING_ACTIONS} if folder in TAGGERS else set()
        assert tagging == expected, folder
    # And collect_results, which never reads a video, still reads none
    reads = {a for a, r in _grants(synth, "collect_results") if r.startswith(media) and "Tagging" not in a}
    assert reads == set()


def test_tag_alone_adds_no_bucket_policy_statement(dev: Synth, tagged: Synth) -> None:
    assert not _mentions(_media_policy(tagged), "s3:ExistingObjectTag")
    assert len(_media_policy(tagged)) == len(_media_policy(dev))


# --- deny: the statement ------------------------------------------------------------------------------------------
def _deny(synth: Synth) -> dict[str, Any]:
    (statement,) = [s for s in _media_policy(synth) if s.get("Sid") == "DenyReadingFlaggedVersions"]
    return statement


def test_the_deny_statement_names_every_read_of_a_flagged_version_and_exempts_the_pipeline_readers(
    quarantine: Synth,
) -> None:
    # Given the deny statement
    statement = _deny(quarantine)
    media = quarantine.output_ref("MediaBucketName")
    # Then every principal is denied the GetObject family on every object of the media bucket
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == {"AWS": "*"}
    assert set(as_list(statement["Action"])) == set(QUARANTINED_READS) >= {"s3:GetObject", "s3:GetObjectVersion"}
    assert render(statement["Resource"]) == f"<{media}.Arn>/*"
    # When the version is tagged flagged, unless the caller is start_moderation (Rekognition reads as it),
    # queue_backfill or an exempt principal
    assert statement["Condition"]["StringEquals"] == {f"s3:ExistingObjectTag/{MODERATION_TAG_KEY}": "flagged"}
    exempt = [render(arn) for arn in statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]]
    readers = [f"<{_role_of(quarantine, folder)}.Arn>" for folder in ("start_moderation", "queue_backfill")]
    assert exempt == [*readers, *QUARANTINE_EXEMPT]


# --- deny: evaluated by the project's IAM evaluator ----------------------------------------------------------------
def _arn_resolver(synth: Synth) -> Mapping[str, str]:
    """Logical id → the ARN it would get (roles by logical id, buckets by lower-cased logical id)."""
    arns = {}
    for logical_id, resource in synth.resources_json.items():
        if resource["Type"] == "AWS::IAM::Role":
            arns[logical_id] = f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
        elif resource["Type"] == "AWS::S3::Bucket":
            arns[logical_id] = f"arn:aws:s3:::{logical_id.lower()}"
    return arns


def _resolve(value: Any, arns: Mapping[str, str]) -> Any:
    """The template's Ref/Fn::GetAtt/Fn::Join resolved to plain strings, as IAM sees them once deployed."""
    if isinstance(value, list):
        return [_resolve(v, arns) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::GetAtt"}:
        return arns.get(value["Fn::GetAtt"][0], f"arn:aws:other:us-east-1:{ACCOUNT}:{value['Fn::GetAtt'][0]}")
    if set(value) == {"Ref"}:
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": "us-east-1"}
        return pseudo.get(value["Ref"], f"arn:aws:other:us-east-1:{ACCOUNT}:{value['Ref']}")
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_resolve(part, arns)) for part in parts)
    return {k: _resolve(v, arns) for k, v in value.items()}


class World:
    """The deployed quarantine=deny stack as IAM sees it: its media bucket policy and its roles' identity policies."""

    def __init__(self, synth: Synth) -> None:
        self.synth = synth
        self.arns = _arn_resolver(synth)
        self.bucket_policy = _resolve(_media_policy(synth), self.arns)
        self.media_bucket = self.arns[synth.output_ref("MediaBucketName")]

    def role_arn(self, folder: str) -> str:
        return self.arns[_role_of(self.synth, folder)]

    def identity(self, folder: str) -> list[dict[str, Any]]:
        return list(_resolve(self.synth.role_policy_statements(_role_of(self.synth, folder)), self.arns))

    def reader_policy(self) -> list[dict[str, Any]]:
        """An identity policy that allows reading every media object version (an analyst's, a reviewer's)."""
        return [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{self.media_bucket}/*",
            }
        ]

    def read(self, tag: str | None, *, versioned: bool = True, key: str = "uploads/clip.mp4") -> Permission:
        """GetObject of a version whose modlake:moderation tag is `tag` (None: not tagged yet), over TLS."""
        context = {"aws:SecureTransport": ("true",), **object_tag_context({MODERATION_TAG_KEY: tag} if tag else {})}
        action = "s3:GetObjectVersion" if versioned else "s3:GetObject"
        return Permission(action, f"{self.media_bucket}/{key}", context)


@pytest.fixture(scope="module")
def world(quarantine: Synth) -> Iterator[World]:
    yield World(quarantine)


@pytest.mark.parametrize("versioned", [True, False])
def test_an_analyst_who_may_read_the_bucket_is_denied_a_flagged_version_and_allowed_a_clean_one(
    world: World, versioned: bool
) -> None:
    # Given an analyst role whose identity policy allows reading every media object
    identity = world.reader_policy()
    # When it reads a flagged version, then the bucket policy denies it, by the quarantine statement
    flagged = resource_policy_refusal(
        identity, world.bucket_policy, world.read("flagged", versioned=versioned), ANALYST
    )
    assert flagged == "explicitly denied by statement 'DenyReadingFlaggedVersions'"
    # And a clean, failed, skipped or not yet tagged version it may read
    for tag in ("clean", "failed", "skipped", None):
        assert is_allowed_with_resource_policy(
            identity, world.bucket_policy, world.read(tag, versioned=versioned), ANALYST
        )


@pytest.mark.parametrize("exempt", QUARANTINE_EXEMPT)
def test_an_exempt_principal_reads_a_flagged_version(world: World, exempt: str) -> None:
    # Given a reviewer role or auditor user in quarantine_exempt_principals, allowed to read by its identity policy
    # Then the flagged version is readable to it
    assert is_allowed_with_resource_policy(world.reader_policy(), world.bucket_policy, world.read("flagged"), exempt)


@pytest.mark.parametrize("folder", ["start_moderation", "queue_backfill"])
def test_the_pipeline_readers_read_a_flagged_version_with_their_own_grants(world: World, folder: str) -> None:
    # Given the role of a function that reads videos (Rekognition reads as start_moderation), with its own policies
    identity = world.identity(folder)
    # Then a flagged version under any key is readable to it, as a versioned read and as HeadObject's s3:GetObject
    for versioned in (True, False):
        permission = world.read("flagged", versioned=versioned)
        assert is_allowed_with_resource_policy(identity, world.bucket_policy, permission, world.role_arn(folder))


def test_collect_results_which_never_reads_a_video_cannot_read_one(world: World) -> None:
    arn = world.role_arn("collect_results")
    assert not is_allowed_with_resource_policy(
        world.identity("collect_results"), world.bucket_policy, world.read("clean"), arn
    )


def test_the_account_root_is_denied_too_but_may_change_the_policy(world: World) -> None:
    # Given the account's root user (every action allowed to it by identity)
    identity = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    # Then the bucket policy's explicit deny stops its read of a flagged version (break glass: it can still replace or
    # delete the bucket policy, which the README's threat model says)
    assert not is_allowed_with_resource_policy(identity, world.bucket_policy, world.read("flagged"), ROOT)
    put_policy = Permission("s3:PutBucketPolicy", world.media_bucket, {"aws:SecureTransport": ("true",)})
    assert is_allowed_with_resource_policy(identity, world.bucket_policy, put_policy, ROOT)


def test_the_evaluator_applies_a_statement_by_its_principal_or_not_principal(world: World) -> None:
    # Given a statement that denies one named role, and one that denies everyone but it
    read = world.read(None)
    named = [{"Effect": "Deny", "Principal": {"AWS": ANALYST}, "Action": "s3:GetObject*", "Resource": "*"}]
    others = [{"Effect": "Deny", "NotPrincipal": {"AWS": ANALYST}, "Action": "s3:GetObject*", "Resource": "*"}]
    account = [{"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "s3:GetObject*", "Resource": "*"}]
    reader, other = world.reader_policy(), QUARANTINE_EXEMPT[0]
    # Then each applies to whom it names
    assert not is_allowed_with_resource_policy(reader, named, read, ANALYST)
    assert is_allowed_with_resource_policy(reader, named, read, other)
    assert is_allowed_with_resource_policy(reader, others, read, ANALYST)
    assert not is_allowed_with_resource_policy(reader, others, read, other)
    assert not is_allowed_with_resource_policy(reader, account, read, other)
    assert is_allowed_with_resource_policy(reader, account, read, "arn:aws:iam::210987654321:role/elsewhere")


# --- configuration ------------------------------------------------------------------------------------------------
def _config(**overrides: Any) -> PipelineConfig:
    return PipelineConfig.from_context(App(context=cdk_context(**overrides)).node, environ={})


def test_quarantine_is_off_by_default_and_read_from_the_command_line() -> None:
    assert (_config().quarantine, _config().quarantine_exempt_principals) == ("off", ())
    config = _config(quarantine="DENY", quarantine_exempt_principals=f"{QUARANTINE_EXEMPT[0]}, {QUARANTINE_EXEMPT[1]}")
    assert config.quarantine_mode.tags
    assert (config.quarantine, config.quarantine_exempt_principals) == ("deny", tuple(QUARANTINE_EXEMPT))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"quarantine": "block"}, "quarantine 'block': use one of off, tag, deny"),
        ({"quarantine": "tag", "quarantine_exempt_principals": [QUARANTINE_EXEMPT[0]]}, "quarantine is not deny"),
        ({"quarantine": "deny", "quarantine_exempt_principals": ["reviewers"]}, "use an IAM role or user ARN"),
        (
            {"quarantine": "deny", "quarantine_exempt_principals": [f"arn:aws:iam::{ACCOUNT}:group/reviewers"]},
            "use an IAM role or user ARN",
        ),
        ({"quarantine": "deny", "quarantine_exempt_principals": "*"}, "use an IAM role or user ARN"),
    ],
)
def test_invalid_quarantine_values_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        _config(**overrides)


def test_the_readme_documents_the_context_keys_and_the_threat_model() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n### Quarantine\n", 1)[1].split("\n### ", 1)[0]
    assert "| `quarantine` |" in readme and "| `quarantine_exempt_principals` |" in readme
    for words in ("Threat model", "root", "presigned", "exempt", "another account", "copies", "lifecycle"):
        assert words.lower() in section.lower(), words
