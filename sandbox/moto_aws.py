"""Where moto's behaviour differs from AWS in a way the pipeline would notice, the sandbox follows AWS.

moto 5.2 writes S3's EventBridge events with `detail.object.eTag`; AWS writes `etag` (classic S3 notifications,
which say `eTag`, are another format). The production parser reads AWS's spelling only, so the sandbox corrects
the event before moto's EventBridge routes it. moto also routes every event to a schedule rule (it has no event
pattern, and moto treats a missing pattern as "match everything"); AWS never sends events to a schedule rule, whose
targets only get its schedule's input, so the sandbox drops them there (the local stack fires the schedule itself).
moto 5.2's EventBridge cannot deliver to an SNS topic (the alerts rule's target); the sandbox publishes what AWS
would (the target's input, through its InputTransformer) to moto's topic, whose subscriptions then get it.
moto's own pattern matching differs from AWS's in places (a nested pattern over an array of objects never matches;
`numeric` matches true as 1), so every rule's pattern is matched by sandbox.event_patterns, written to AWS's rules.
Other differences we know of are listed in shared/DESIGN.md.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

from moto.events.models import EventPattern, Rule
from moto.sns.models import sns_backends
from moto.utilities.arns import parse_arn

from sandbox.event_patterns import matches
from sandbox.input_transformer import target_input

_lock = threading.Lock()
_PATCHED = "_modlake_follows_aws"


def follow_aws() -> None:
    """Make moto's EventBridge deliver what AWS's does (see the module docstring); idempotent and process-wide."""
    with _lock:
        if getattr(Rule.send_to_targets, _PATCHED, False):
            return
        Rule.send_to_targets = _correcting(Rule.send_to_targets)  # type: ignore[method-assign]
        EventPattern.matches_event = _matches_as_aws  # type: ignore[method-assign]


def as_aws_sends(event: dict[str, Any]) -> dict[str, Any]:
    """The S3 event as AWS's EventBridge delivers it (a copy; other events come back unchanged)."""
    detail = event.get("detail")
    if event.get("source") != "aws.s3" or not isinstance(detail, dict):
        return event
    obj = detail.get("object")
    if not isinstance(obj, dict) or "eTag" not in obj:
        return event
    corrected = copy.deepcopy(event)
    corrected["detail"]["object"]["etag"] = corrected["detail"]["object"].pop("eTag")
    return corrected


def _matches_as_aws(self: EventPattern, event: Any) -> bool:
    """moto's EventPattern.matches_event with AWS's semantics; no pattern matches everything, as in moto."""
    pattern = self.get_pattern()
    return not pattern or matches(pattern, json.loads(json.dumps(event, default=str)))


def _publish(target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> None:
    """Publish the target's input to its topic in moto's SNS, as EventBridge's SNS target does."""
    arn = parse_arn(target["Arn"])
    sns_backends[arn.account][arn.region].publish(target_input(target, event, rule_arn=rule_arn), arn=target["Arn"])


def _correcting(send: Callable[..., None]) -> Callable[..., None]:
    def send_to_targets(self: Rule, original_event: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if self.scheduled_expression and not self.event_pattern.get_pattern():
            return  # a schedule rule: AWS sends it no events
        event = as_aws_sends(original_event)
        topics = [target for target in self.targets if parse_arn(target["Arn"]).service == "sns"]
        if topics and self.event_pattern.matches_event(event):  # type: ignore[arg-type]
            for target in topics:
                _publish(target, event, self.arn)
        others = copy.copy(self)  # moto sends to the rest; a shallow copy keeps the rule itself as it is
        others.targets = [target for target in self.targets if target not in topics]
        send(others, event, *args, **kwargs)

    setattr(send_to_targets, _PATCHED, True)
    return send_to_targets
