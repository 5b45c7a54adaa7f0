"""Intrinsic functions resolve as CloudFormation resolves them, and what the local stack cannot resolve fails loudly."""

from __future__ import annotations

import pytest

from sandbox.stack.template import Resolver, TemplateError, readable_name, template_fingerprint


@pytest.fixture
def resolver() -> Resolver:
    return Resolver(
        region="eu-west-1",
        refs={"Queue": "https://queue/url", "Bucket": "my-bucket"},
        attributes={("Queue", "Arn"): "arn:aws:sqs:eu-west-1:123456789012:q"},
    )


def test_ref_getatt_join_sub_select_and_split(resolver: Resolver) -> None:
    template_value = {
        "Url": {"Ref": "Queue"},
        "Arn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "ArnDotted": {"Fn::GetAtt": "Queue.Arn"},
        "Objects": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "Bucket"}, "/*"]]},
        "Sub": {"Fn::Sub": "${Bucket}-${AWS::Region}-${Queue.Arn}-${!Literal}"},
        "SubWithVariables": {"Fn::Sub": ["${Name}/${AWS::AccountId}", {"Name": {"Ref": "Bucket"}}]},
        "Second": {"Fn::Select": [1, {"Fn::Split": [":", {"Fn::GetAtt": ["Queue", "Arn"]}]}]},
    }
    assert resolver.resolve(template_value) == {
        "Url": "https://queue/url",
        "Arn": "arn:aws:sqs:eu-west-1:123456789012:q",
        "ArnDotted": "arn:aws:sqs:eu-west-1:123456789012:q",
        "Objects": "arn:aws:s3:::my-bucket/*",
        "Sub": "my-bucket-eu-west-1-arn:aws:sqs:eu-west-1:123456789012:q-${Literal}",
        "SubWithVariables": "my-bucket/123456789012",
        "Second": "aws",
    }


def test_aws_novalue_removes_the_property_or_list_item(resolver: Resolver) -> None:
    value = {"Keep": "x", "Drop": {"Ref": "AWS::NoValue"}, "List": ["a", {"Ref": "AWS::NoValue"}]}
    assert resolver.resolve(value) == {"Keep": "x", "List": ["a"]}


@pytest.mark.parametrize(
    "value",
    [{"Fn::If": ["IsProd", "a", "b"]}, {"Fn::ImportValue": "Shared"}, {"Ref": "NotProvisioned"}],
)
def test_what_the_local_stack_cannot_resolve_raises_naming_it(resolver: Resolver, value: dict[str, object]) -> None:
    with pytest.raises(TemplateError, match="Fn::If|Fn::ImportValue|NotProvisioned"):
        resolver.resolve({"Property": value})


def test_readable_names_drop_the_cdk_hash_and_use_kebab_case() -> None:
    assert readable_name("StorageMediaBucket4E4E9C18") == "storage-media-bucket"
    assert readable_name("IngestStartDeadLetterQueueAE8039C9") == "ingest-start-dead-letter-queue"


def test_the_cache_key_changes_with_the_context() -> None:
    assert template_fingerprint(stage="local") == template_fingerprint(stage="local")
    assert template_fingerprint(stage="local") != template_fingerprint(stage="local", digest_sender="a@b.example")
