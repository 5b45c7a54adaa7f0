"""Least privilege measured the other way: every grant of every role that no recorded call of the end-to-end runs
used is either allowlisted with a reason (unused_grants.toml) or a failure, and so is an allowlist entry that no
longer matches an unused grant. pytest runs this module last (see conftest.py), after the runs it reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack.local_stack import TEMPLATE_CACHE
from sandbox.stack.template import cached_template, readable_name
from tests.sandbox.stack.permissions import MANAGED_POLICY, judge, load_allowlist
from tests.sandbox.stack.pipeline import GrantLedger

pytestmark = pytest.mark.slow

ALLOWLIST = Path(__file__).with_name("unused_grants.toml")
README = Path(__file__).resolve().parents[3] / "README.md"
# The end-to-end runs that feed the ledger; without all of them "unused" would mean "not run".
# The quarantine run deploys quarantine=tag, so its tagging grants (absent from cdk.json's template) are measured too.
RUNS = {"pipeline", "backfill", "batch_jobs", "lifecycle", "quarantine"}
# Roles no run deploys: the context that creates them is off in cdk.json, and the sandbox runs no such service. Each
# is listed with that context and why; it may grant nothing, since no recorded call could ever measure a grant.
UNMEASURED_ROLES: dict[str, tuple[dict[str, Any], str]] = {
    "alerts-slack-channel-role": (
        {"alert_slack_workspace_id": "T0123ABCD", "alert_slack_channel_id": "C0123ABCD"},
        "AWS Chatbot assumes it for the Slack alerts channel; posting an SNS notification needs no permission, and "
        "the sandbox runs no Chatbot",
    ),
}


def _recorded(ledger: GrantLedger) -> GrantLedger:
    missing = RUNS - ledger.runs
    if missing:
        pytest.skip(f"needs this session's end-to-end runs {sorted(missing)} (run tests/sandbox/stack as a whole)")
    return ledger


def _readme_permissions() -> tuple[dict[str, set[str]], str]:
    """The README's Permissions table (role → the actions its rows name) and the section's text."""
    section = README.read_text().split("\n## Permissions\n", 1)[1].split("\n## ", 1)[0]
    actions: dict[str, set[str]] = {}
    role = ""
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("Role", "---") or len(cells) != 4:
            continue
        if cells[0]:
            named = re.match(r"`([^`]+)`", cells[0])
            assert named, f"a Permissions row names no role: {line}"
            role = named.group(1)
        actions.setdefault(role, set()).update(re.findall(r"`([a-z0-9-]+:[A-Za-z]+)`", cells[1]))
    return actions, section


def test_every_grant_was_used_by_a_recorded_call_or_is_allowlisted_with_a_reason(grant_ledger: GrantLedger) -> None:
    # Given the grants of every role of the runs' templates, and those their recorded calls used
    grant_ledger = _recorded(grant_ledger)
    allowlist = load_allowlist(ALLOWLIST.read_text())
    # When the unused ones are held against the allowlist
    unlisted, stale = judge(grant_ledger.unused(), allowlist)
    # Then every unused grant has an entry, and every entry still matches an unused grant
    report = [f"{len(unlisted)} granted but never used (narrow the grant, or allowlist it with a reason):"]
    report += [f"  {grant.describe()}" for grant in unlisted]
    report += [f"{len(stale)} allowlist entries match no unused grant (remove them from {ALLOWLIST.name}):"]
    report += [f"  {entry}" for entry in stale]
    assert not unlisted and not stale, "\n".join(report)


def test_the_readmes_permissions_table_and_numbers_are_the_templates(grant_ledger: GrantLedger) -> None:
    # Given the measured grants, and the README's Permissions section
    grant_ledger = _recorded(grant_ledger)
    documented, section = _readme_permissions()
    granted: dict[str, set[str]] = {}
    for grant in grant_ledger.grants:
        if grant.action != MANAGED_POLICY:
            granted.setdefault(grant.role, set()).add(grant.action)
    # Then its table names every role with exactly the actions the template grants it
    assert documented == granted
    # And it states the measurement: how many grants, how many of them unused
    stated = re.search(r"Granted but never used: (\d+) of the (\d+) grants", section)
    assert stated, "the Permissions section states no 'Granted but never used: N of the M grants'"
    assert (int(stated.group(1)), int(stated.group(2))) == (len(grant_ledger.unused()), len(grant_ledger.grants))


def _roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role name (as the ledger names roles without a function) → the role's properties and policy statements."""
    resources = template["Resources"]
    return {
        readable_name(logical_id): {
            "properties": role["Properties"],
            "statements": [
                s
                for policy in resources.values()
                if policy["Type"] == "AWS::IAM::Policy" and {"Ref": logical_id} in policy["Properties"]["Roles"]
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
            ],
        }
        for logical_id, role in resources.items()
        if role["Type"] == "AWS::IAM::Role"
    }


@pytest.mark.parametrize("role", sorted(UNMEASURED_ROLES))
def test_a_role_the_runs_never_deploy_is_listed_with_a_reason_and_grants_nothing(role: str) -> None:
    # Given the runs' template (cdk.json's context) and the template with the context that creates the role
    context, reason = UNMEASURED_ROLES[role]
    measured = _roles(cached_template(TEMPLATE_CACHE, stage="dev", region="us-east-1"))
    unmeasured = _roles(cached_template(TEMPLATE_CACHE, stage="dev", region="us-east-1", **context))
    # Then the context adds exactly the listed roles (none unmeasured and unlisted), with a reason
    listed = {name for name, (other, _) in UNMEASURED_ROLES.items() if other == context}
    assert set(unmeasured) - set(measured) == listed and reason.strip()
    # And the role allows nothing: no statement, no inline or managed policy
    assert unmeasured[role]["statements"] == []
    assert not {"Policies", "ManagedPolicyArns"} & set(unmeasured[role]["properties"])
