"""cfn-lint finds nothing in the synthesized templates except W3005 (CDK's redundant DependsOn)."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

from tests.infra.synth import Synth

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("synth_name", ["dev", "prod", "spice", "alerts", "quarantine"])
def test_cfn_lint_is_clean(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given a synthesized template
    synth: Synth = request.getfixturevalue(synth_name)
    # When cfn-lint checks it for the deploy region
    matches = lint(json.dumps(synth.json), config=ManualArgs(regions=[synth.config.region]))
    # Then only W3005 remains
    assert [f"{m.rule.id} {m.path}: {m.message}" for m in matches if m.rule.id != "W3005"] == []
