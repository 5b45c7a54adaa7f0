"""Synthesize the modlake app the way `cdk synth` does (cdk.json context plus overrides) and query the result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnElement, Environment
from aws_cdk.assertions import Template

from stacks.config import PipelineConfig
from stacks.pipeline_stack import PipelineStack

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = PROJECT_ROOT / "cdk.json"


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """The context the CDK CLI would pass: cdk.json's defaults, then -c overrides."""
    return {**json.loads(CDK_JSON.read_text())["context"], **overrides}


@dataclass
class Synth:
    """One synthesized stack: its config, its construct tree and its CloudFormation template."""

    app: App
    stack: PipelineStack
    config: PipelineConfig
    outdir: Path

    @cached_property
    def template(self) -> Template:
        return Template.from_stack(self.stack)

    @cached_property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    @cached_property
    def construct_paths(self) -> dict[str, str]:
        """Logical id → construct path (modlake-dev/Alerts/Topic/Resource): which construct made a resource."""
        return {
            self.stack.get_logical_id(element): element.node.path
            for element in self.stack.node.find_all()
            if isinstance(element, CfnElement)
        }

    @property
    def resources_json(self) -> dict[str, dict[str, Any]]:
        return self.json["Resources"]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id → resource, for every resource of the type."""
        return {k: r for k, r in self.resources_json.items() if r["Type"] == resource_type}

    def output_ref(self, output: str) -> str:
        """Logical id of the resource a stack output points at (outputs are the stack's contract)."""
        value = self.json["Outputs"][output]["Value"]
        return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]

    def topic_key_and_policy(self, topic_output: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The KMS key properties and the topic policy statements of the topic a stack output names."""
        topic_id = self.output_ref(topic_output)
        topic = self.resources_json[topic_id]["Properties"]
        key = self.resources_json[topic["KmsMasterKeyId"]["Fn::GetAtt"][0]]["Properties"]
        (policy,) = [
            p["Properties"]["PolicyDocument"]["Statement"]
            for p in self.resources("AWS::SNS::TopicPolicy").values()
            if {"Ref": topic_id} in p["Properties"]["Topics"]
        ]
        return key, policy

    def email_subscribers(self, topic_output: str) -> set[str]:
        """Addresses subscribed by email to the topic a stack output names."""
        topic = {"Ref": self.output_ref(topic_output)}
        return {
            s["Properties"]["Endpoint"]
            for s in self.resources("AWS::SNS::Subscription").values()
            if s["Properties"]["Protocol"] == "email" and s["Properties"]["TopicArn"] == topic
        }

    def function(self, folder: str) -> tuple[str, dict[str, Any]]:
        """The modlake function whose handler lives in functions/<folder>/."""
        (found,) = [
            (logical_id, resource)
            for logical_id, resource in self.resources("AWS::Lambda::Function").items()
            if resource["Properties"].get("Handler") == f"functions.{folder}.handler.handler"
        ]
        return found

    def modlake_functions(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources("AWS::Lambda::Function").items()
            if str(resource["Properties"].get("Handler", "")).startswith("functions.")
        }

    def role_policy_statements(self, role_logical_id: str) -> list[dict[str, Any]]:
        """Every statement of the IAM policies attached to the role."""
        return [
            statement
            for policy in self.resources("AWS::IAM::Policy").values()
            if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]


def synthesize(outdir: Path, **overrides: Any) -> Synth:
    """Build the app as app.py does, without credentials (minus the cdk-nag plugin, which tests call directly)."""
    app = App(outdir=str(outdir), context=cdk_context(**overrides))
    config = PipelineConfig.from_context(app.node, environ={})
    stack = PipelineStack(
        app, f"modlake-{config.stage}", config=config, env=Environment(account=config.account, region=config.region)
    )
    return Synth(app=app, stack=stack, config=config, outdir=outdir)


def as_list(value: Any) -> list[Any]:
    """IAM allows a single value or a list in Action and Resource."""
    return value if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """A CloudFormation value as readable text: Ref → <Id>, GetAtt → <Id.Attr>, Join → concatenation."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(render(part) for part in parts)
    return json.dumps(value, sort_keys=True)
