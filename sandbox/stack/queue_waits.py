"""Shorter waits on the local stack's queues, for runs that expect failed messages to come back soon.

On AWS a message a function failed stays invisible for the queue's visibility timeout (6 minutes on the start
queue, 90 on the collect queue: six times each function's timeout), and a delayed send waits up to its DelaySeconds
(collect_results puts a throttled collection back for 30–120 s). A run under injected faults sees such waits every
few hundred calls; with a cap, no message waits longer than it (its delay, or its invisibility after a receive), so
the same recovery paths run in seconds. Receive counts, redrive to the DLQ and every other SQS rule are unchanged.

The cap is process-wide, as moto's queues are; LocalStack sets it from SandboxSettings.max_queue_wait and clears it
when it stops. Without a cap, moto's queues keep AWS's times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.sqs.models import Message

_lock = threading.Lock()
_PATCHED = "_modlake_capped"
_cap: int | None = None


def cap_queue_waits(seconds: int | None) -> None:
    """From now on no message waits longer than `seconds` (None: AWS's times again)."""
    global _cap
    if seconds is not None and seconds < 1:
        raise ValueError("a queue wait cap must be at least 1 second")
    with _lock:
        if not getattr(Message.delay, _PATCHED, False):
            Message.delay = _capped(Message.delay)  # type: ignore[method-assign]
            Message.change_visibility = _capped(Message.change_visibility)  # type: ignore[method-assign]
        _cap = seconds


def queue_wait_cap() -> int | None:
    """The cap in force (None when there is none)."""
    return _cap


def _capped(wait: Callable[[Message, int], None]) -> Callable[..., None]:
    """The method with its one argument, the seconds to wait (moto passes it by position or by name), capped."""

    def capped(self: Message, *args: Any, **kwargs: Any) -> None:
        ((name, seconds),) = [("", args[0])] if args else list(kwargs.items())
        cap = _cap
        if cap is not None:
            seconds = min(int(seconds), cap)
        if name:
            wait(self, **{name: seconds})  # type: ignore[call-arg]
        else:
            wait(self, seconds)

    setattr(capped, _PATCHED, True)
    return capped
