"""`modlake demo` gives up with one clear line when moderation does not finish in time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.errors import CliError
from cli.output import make_console
from cli.sandbox_runs import wait_for_outcomes
from cli.target import Target


@dataclass
class _Settings:
    work_dir: Path


class NeverQuietStack:
    """A stack whose pipeline never settles (a job stuck, a long video)."""

    def __init__(self, work_dir: Path) -> None:
        self.settings = _Settings(work_dir)

    def settle(self, timeout: float) -> bool:
        return False


def test_the_wait_ends_with_a_hint_when_videos_are_still_running(target: Target, tmp_path: Path) -> None:
    # Given one upload that never reaches an outcome (the table stays empty)
    stack = NeverQuietStack(tmp_path)
    # When the demo waits for it with a short timeout
    with pytest.raises(CliError) as raised:
        wait_for_outcomes(stack, target, 1, make_console(stderr=True), timeout=0.5)  # type: ignore[arg-type]
    # Then the error says how far it got and what to do
    assert "did not finish within 0 s (0/1 videos done)" in raised.value.message
    assert "--timeout" in raised.value.message and str(tmp_path / "logs") in raised.value.message
