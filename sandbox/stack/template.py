"""The modlake CloudFormation template, synthesized in-process (no CDK CLI, no Docker), and its intrinsics resolved.

The local stack is provisioned from this template, so the sandbox and a deployed stack cannot drift: whatever
the constructs in `stacks/` define (queue settings, rule patterns, function environments, IAM policies) is what
the sandbox builds and checks against.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = PROJECT_ROOT / "cdk.json"
# What the template depends on: the constructs, the code asset (its hash is in the template), the context and the
# pinned packages (another aws-cdk-lib synthesizes another template).
TEMPLATE_SOURCES = ("app.py", "cdk.json", "requirements.txt", "stacks", "functions", "glue", "queries")
CACHED_TEMPLATES = 8
LOCAL_ACCOUNT = "123456789012"  # moto's default account
LOCAL_PARTITION = "aws"
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")
_CAMEL_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


_NO_VALUE = object()  # Ref AWS::NoValue: the property is dropped


class TemplateError(RuntimeError):
    """The template uses something the local stack cannot resolve."""


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """The context the CDK CLI would pass: cdk.json's defaults, then -c overrides."""
    return {**json.loads(CDK_JSON.read_text())["context"], **overrides}


def synthesize_template(**overrides: Any) -> dict[str, Any]:
    """The stack's template exactly as app.py builds it (cdk-nag aside), for cdk.json's context plus overrides."""
    # What the Makefile exports for the CDK CLI, for `modlake` run on its own: no end-of-life banner from jsii.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", _node_major_version())
    from aws_cdk import App, Environment
    from aws_cdk.assertions import Template

    from stacks.config import PipelineConfig
    from stacks.pipeline_stack import PipelineStack

    with tempfile.TemporaryDirectory(prefix="modlake-synth-") as outdir:
        app = App(outdir=outdir, context=cdk_context(**overrides))
        config = PipelineConfig.from_context(app.node, environ={})
        stack = PipelineStack(
            app, f"modlake-{config.stage}", config=config, env=Environment(account=config.account, region=config.region)
        )
        return dict(Template.from_stack(stack).to_json())


def _node_major_version() -> str:
    """The installed Node.js major version ("" when node is missing: jsii will say so itself)."""
    try:
        version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""
    return version.strip().lstrip("v").split(".")[0]


def template_fingerprint(**overrides: Any) -> str:
    """A hash of everything the template is made from, so a cached template is reused only while it is current."""
    digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode())
    for name in TEMPLATE_SOURCES:
        path = PROJECT_ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".py", ".sql"))
        for file in files:
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def cached_template(cache_dir: Path, **overrides: Any) -> dict[str, Any]:
    """synthesize_template, kept in cache_dir until a source file or the context changes (synth takes seconds)."""
    path = cache_dir / f"template-{template_fingerprint(**overrides)}.json"
    if path.is_file():
        cached: dict[str, Any] = json.loads(path.read_text())
        return cached
    template = synthesize_template(**overrides)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(template, indent=1))
    partial.replace(path)  # a reader never sees half a template
    # Keep a few (tests synthesize more than one configuration); drop the oldest.
    for stale in sorted(cache_dir.glob("template-*.json"), key=lambda p: p.stat().st_mtime)[:-CACHED_TEMPLATES]:
        stale.unlink()
    return template


def readable_name(logical_id: str) -> str:
    """StorageMediaBucket4E4E9C18 → storage-media-bucket (the CDK hash suffix dropped, words in kebab case)."""
    return "-".join(word.lower() for word in _CAMEL_WORD.findall(_HASH_SUFFIX.sub("", logical_id)))


@dataclass
class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and Fn::Split against provisioned resources.

    `refs` maps a logical id to what Ref returns; `attributes` maps (logical id, attribute) to Fn::GetAtt's value.
    A reference to a resource that has no value (not provisioned locally) raises TemplateError naming it.
    """

    region: str
    account: str = LOCAL_ACCOUNT
    stack_name: str = "modlake-local"
    refs: dict[str, str] | None = None
    attributes: dict[tuple[str, str], str] | None = None

    def __post_init__(self) -> None:
        self.refs = {} if self.refs is None else self.refs
        self.attributes = {} if self.attributes is None else self.attributes

    @property
    def pseudo_parameters(self) -> dict[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": LOCAL_PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function replaced by its result (recursively)."""
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(argument)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"{key} is not supported by the local stack: add it to sandbox/stack/template.py")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def ref(self, name: str) -> str:
        """What Ref returns for a logical id or pseudo parameter."""
        assert self.refs is not None
        if name == "AWS::NoValue":
            return _NO_VALUE  # type: ignore[return-value]  # removed by resolve(), as CloudFormation does
        if name in self.pseudo_parameters:
            return self.pseudo_parameters[name]
        if name not in self.refs:
            raise TemplateError(f"Ref to {name}, which the local stack does not provision")
        return self.refs[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        """What Fn::GetAtt returns for a provisioned resource's attribute."""
        assert self.attributes is not None
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: not provisioned locally") from None

    def _functions(self) -> Mapping[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda name: self.ref(name),
            "Fn::GetAtt": lambda arg: self.get_att(*(arg.split(".", 1) if isinstance(arg, str) else arg)),
            "Fn::Join": lambda arg: str(arg[0]).join(str(self.resolve(part)) for part in self.resolve(arg[1])),
            "Fn::Sub": self._sub,
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(self.resolve(arg[0]))],
            "Fn::Split": lambda arg: str(self.resolve(arg[1])).split(arg[0]),
        }

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        values = {name: str(self.resolve(value)) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            if "." in name:
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")  # ${!Literal} is the literal ${Literal}
