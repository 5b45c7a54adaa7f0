"""In-memory ports for send_digest: canned query rows, recorded deliveries, a once-per-key memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.send_digest.logic import DigestDeps
from queries import SqlFile
from tests.fakes import InMemoryObjects


@dataclass
class FakeQueries:
    """Answers each named query with canned rows and records the parameters it was given."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, list[str]]] = field(default_factory=list)

    def run_all(self, requests: Sequence[tuple[SqlFile, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        self.calls += [(query.name, list(parameters)) for query, parameters in requests]
        return [[dict(row) for row in self.rows.get(query.name, [])] for query, _ in requests]

    def parameters_of(self, name: str) -> list[str]:
        return next(parameters for query, parameters in self.calls if query == name)


@dataclass
class RecordingNotifier:
    """Keeps every (subject, message) published; can fail on demand."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    fail_with: Exception | None = None

    def publish(self, subject: str, message: str) -> str:
        if self.fail_with:
            raise self.fail_with
        self.sent.append((subject, message))
        return f"sns-{len(self.sent)}"


@dataclass
class RecordingMailer:
    """Keeps every (subject, html, text) sent."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, subject: str, html: str, text: str) -> str:
        self.sent.append((subject, html, text))
        return f"ses-{len(self.sent)}"


@dataclass
class MemoryOnce:
    """Once-per-key with Powertools' semantics: results are remembered, failures are not."""

    results: dict[tuple[tuple[str, str], ...], dict[str, Any]] = field(default_factory=dict)

    def run_once(self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        frozen = tuple(sorted(key.items()))
        if frozen in self.results:
            return dict(self.results[frozen]), False
        result = work()
        self.results[frozen] = dict(result)
        return result, True


def digest_deps(
    now: datetime, *, timezone: str = "UTC", queries: FakeQueries | None = None, **overrides: Any
) -> DigestDeps:
    """DigestDeps over in-memory ports (override any field by keyword)."""
    values: dict[str, Any] = {
        "queries": queries or FakeQueries(),
        "archive": InMemoryObjects(),
        "notifier": RecordingNotifier(),
        "mailer": RecordingMailer(),
        "once": MemoryOnce(),
        "clock": lambda: now,
        "stage": "test",
        "timezone": timezone,
        "region": "eu-west-1",
        "skip_empty": False,
    }
    values.update(overrides)
    return DigestDeps(**values)
