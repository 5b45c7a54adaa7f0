"""Where the twin keeps Lambda's packages, and the file that pins them (read by the twin and infra tests)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_REQUIREMENTS = Path(__file__).with_name("lambda.txt")
LAMBDA_PACKAGES = ROOT / ".twin" / "lambda"  # the Makefile's `pip install --target`
