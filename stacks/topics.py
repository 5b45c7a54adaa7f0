"""Secure SNS topics and account-scoped service principals, built the same way by every construct."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


def encrypted_topic(
    scope: Construct,
    construct_id: str,
    *,
    purpose: str,
    display_name: str,
    removal_policy: RemovalPolicy,
    emails: Iterable[str] = (),
) -> sns.Topic:
    """A TLS-only topic encrypted with its own rotating KMS key (`<id>Key`), with one email subscription per address."""
    key = kms.Key(
        scope,
        f"{construct_id}Key",
        description=f"modlake: encrypts {purpose}",
        enable_key_rotation=True,
        removal_policy=removal_policy,
    )
    topic = sns.Topic(scope, construct_id, display_name=display_name, master_key=key, enforce_ssl=True)
    for email in emails:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic


def account_service(scope: Construct, service: str) -> iam.ServicePrincipal:
    """An AWS service principal acting for this account only (aws:SourceAccount: no confused deputy)."""
    return iam.ServicePrincipal(
        f"{service}.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}
    )
