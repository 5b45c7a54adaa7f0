"""One ledger per session of what the end-to-end runs' roles were granted and what their recorded calls used.

Each end-to-end module records its local stack into `grant_ledger` before the stack stops; test_unused_grants.py,
which pytest runs after every other test, reports the grants no run used.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.stack.pipeline import GrantLedger

LAST_MODULE = Path(__file__).with_name("test_unused_grants.py")


@pytest.fixture(scope="session")
def grant_ledger() -> GrantLedger:
    """Filled by the end-to-end modules' stacks, read by test_unused_grants.py."""
    return GrantLedger()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The unused-grant measurement runs after every other test, so every end-to-end run has been recorded."""
    last = [item for item in items if item.path == LAST_MODULE]
    items[:] = [item for item in items if item.path != LAST_MODULE] + last
