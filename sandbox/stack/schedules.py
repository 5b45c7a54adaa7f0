"""EventBridge schedule rules, fired locally: moto stores them but never runs them.

Each rule's target gets the rule's input on the queue every period, on a compressed clock: at the default speed-up
of 12, the scheduler's one-minute tick comes every 5 seconds, so a demo or a test sees slots refilled promptly.
A `due` check may hold a send back: the local stack sends the tick only while a video waits for a slot (a fill pass
with nothing waiting does nothing), so an idle stack's queues are empty and `settle()` can tell it is idle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sandbox.stack.provision import ScheduledTarget

logger = logging.getLogger(__name__)

DEFAULT_SPEEDUP = 12.0


class ScheduleRunner:
    """One thread that sends every schedule target's body when its (compressed) period comes round."""

    def __init__(
        self,
        targets: Sequence[ScheduledTarget],
        sqs: Callable[[], Any],
        speedup: float = DEFAULT_SPEEDUP,
        wanted: Callable[[ScheduledTarget], bool] = lambda target: True,
    ) -> None:
        self._targets = list(targets)
        self._sqs = sqs
        self._speedup = speedup
        self._wanted = wanted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modlake-schedules", daemon=True)
        self.fired = 0

    def period(self, target: ScheduledTarget) -> float:
        """Seconds between two sends of this target here (its rate divided by the speed-up)."""
        return target.period_seconds / self._speedup

    def start(self) -> None:
        """Fire from a background thread (nothing to do without schedule rules)."""
        if self._targets:
            self._thread.start()

    def stop(self) -> None:
        """Stop firing; returns once the thread has ended."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        due = {id(target): self.period(target) for target in self._targets}
        elapsed = 0.0
        step = min(due.values())
        while not self._stop.wait(step):
            elapsed += step
            for target in self._targets:
                if elapsed + 1e-9 >= due[id(target)]:
                    due[id(target)] += self.period(target)
                    self._send(target)

    def _send(self, target: ScheduledTarget) -> None:
        try:
            if not self._wanted(target):
                return
            self._sqs().send_message(QueueUrl=target.queue_url, MessageBody=target.body)
            self.fired += 1
        except Exception:  # the endpoint may be shutting down; EventBridge would retry, the next period will
            logger.warning("schedule %s could not reach %s", target.rule_name, target.queue_url, exc_info=True)
