"""Where `modlake up` says how to reach the local stack it runs, so `modlake --local` in another terminal finds it.

The CLI owns this file's format: `modlake up` writes it (from the sandbox's LocalStack) and every other command
reads it, without importing the sandbox.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = PROJECT_ROOT / "build" / "local-stack"
STATE_FILE_VARIABLE = "MODLAKE_LOCAL_STATE"  # another announcement file (tests, or two checkouts side by side)


@dataclass(frozen=True)
class RunningStack:
    """A local stack being served: its endpoint and health check, its name and region, its CloudFormation outputs."""

    endpoint_url: str
    health_url: str  # answers HTTP 200 while the endpoint serves (a stale announcement does not)
    stack_name: str
    region: str
    outputs: dict[str, str] = field(default_factory=dict)
    pid: int = 0
    faults: dict[str, float] = field(default_factory=dict)  # the share of the functions' calls faulted, by service
    fault_seed: int = 0

    def write(self, path: Path | None = None) -> None:
        """Announce this stack (atomically, so a reader never sees half a file)."""
        path = path or state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(self), indent=2))
        partial.replace(path)

    @classmethod
    def read(cls, path: Path | None = None) -> RunningStack | None:
        """The announced stack, or None when none was announced or its process has exited."""
        path = path or state_file()
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            stack = cls(**data)
        except (OSError, ValueError, TypeError):
            return None
        return stack if _process_alive(stack.pid) else None

    @staticmethod
    def withdraw(path: Path | None = None) -> None:
        """Remove the announcement (the stack is stopping)."""
        (path or state_file()).unlink(missing_ok=True)


def state_file() -> Path:
    """Where running stacks are announced: $MODLAKE_LOCAL_STATE, else build/local-stack/state.json."""
    return Path(os.environ.get(STATE_FILE_VARIABLE) or STATE_DIR / "state.json")


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
