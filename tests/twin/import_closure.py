"""Import every module of the code asset with only Lambda's packages on sys.path; print what failed, as JSON.

Run as `python -I -S import_closure.py CODE_ROOT LAMBDA_PACKAGES`: -I and -S leave out PYTHONPATH, the user's
site and site-packages, so the path is the standard library, the asset (what /var/task holds) and the packages
Lambda provides (the layers and the runtime's SDK), as in a deployed function.
"""

from __future__ import annotations

import enum
import json
import os
import pkgutil
import sys
import traceback
import typing
from dataclasses import fields
from pathlib import Path

CODE_DIRECTORIES = ("functions", "glue", "queries")  # stacks/lambda_factory.py's asset


def placeholder_environment() -> dict[str, str]:
    """A value of the right shape for every setting a handler reads at cold start."""
    from functions.common import settings

    by_type = {str: "placeholder", int: "1", float: "1", bool: "false", dict: "{}", tuple: "[]"}
    environment: dict[str, str] = {}
    for value in vars(settings).values():
        if isinstance(value, type) and issubclass(value, settings.EnvSettings) and value is not settings.EnvSettings:
            hints = typing.get_type_hints(value)
            for field in fields(value):  # type: ignore[arg-type]
                kind = typing.get_origin(hints[field.name]) or hints[field.name]
                if isinstance(kind, type) and issubclass(kind, enum.Enum):  # e.g. QuarantineMode: one of its values
                    environment[field.name.upper()] = str(next(iter(kind)).value)
                else:
                    environment[field.name.upper()] = by_type.get(kind, "placeholder")
    return {**environment, "DIGEST_TIMEZONE": "UTC"}  # a zone the settings can load


def main(code_root: str, lambda_packages: str) -> int:
    sys.path[:0] = [code_root, lambda_packages]
    os.environ.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", **placeholder_environment()})
    failures: dict[str, str] = {}
    imported: list[str] = []
    for directory in CODE_DIRECTORIES:
        for module in pkgutil.walk_packages([str(Path(code_root) / directory)], prefix=f"{directory}."):
            try:
                __import__(module.name)
                imported.append(module.name)
            except Exception:
                failures[module.name] = traceback.format_exc(limit=2).strip().splitlines()[-1]
    packages = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps({"imported": imported, "failures": failures, "top_level_modules": packages}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
