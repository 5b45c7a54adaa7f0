"""Where the twin keeps Lambda's packages and what tests/twin/lambda.txt pins (read by the twin and infra tests)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_REQUIREMENTS = Path(__file__).with_name("lambda.txt")
LAMBDA_PACKAGES = ROOT / ".twin" / "lambda"  # the Makefile's `pip install --target`


def canonical(name: str) -> str:
    """A distribution name as pip compares them."""
    return name.strip().lower().replace("_", "-").replace(".", "-")


def pinned_lambda_packages(requirements: Path = LAMBDA_REQUIREMENTS) -> dict[str, str]:
    """name → version of every `name==version` line of a requirements file."""
    pins: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name.split("[", 1)[0])] = version.strip()
    return pins
