"""pyproject.toml's dependency ranges and requirements.txt's pins describe the same environment."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import pinned_versions

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned() -> dict[str, str]:
    """requirements.txt as name → exact version."""
    return pinned_versions(ROOT / "requirements.txt")


def declared() -> dict[str, list[Requirement]]:
    """Each use's requirements: the CLI's (dependencies) and every extra's."""
    project = PYPROJECT["project"]
    uses = {"cli": project["dependencies"], **project["optional-dependencies"]}
    return {use: [Requirement(text) for text in texts] for use, texts in uses.items()}


def test_every_declared_dependency_is_pinned_at_a_version_its_range_admits() -> None:
    # Given the ranges in pyproject.toml and the pins make install installs
    pins = pinned()
    # Then every declared package is pinned, and its pin lies in the declared range
    for use, requirements in declared().items():
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{requirement} ({use}) is not pinned in requirements.txt: run make lock"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{requirement} ({use}) does not admit the pinned {name}=={pins[name]}"
            )


def test_the_cli_needs_only_boto3_typer_and_rich() -> None:
    # Given the dependencies of a plain `pip install modlake`
    # Then they are the three the command needs against AWS; the sandbox's packages are an extra
    assert {canonicalize_name(r.name) for r in declared()["cli"]} == {"boto3", "typer", "rich"}
    sandbox = {canonicalize_name(r.name) for r in declared()["sandbox"]}
    assert {"moto", "duckdb", "sqlglot", "av", "nudenet", "aws-cdk-lib"} <= sandbox


def test_requirements_in_pins_what_pyproject_declares() -> None:
    # Given requirements.in (what make lock resolves) and pyproject.toml (what pip install resolves)
    direct = {
        canonicalize_name(Requirement(line).name)
        for line in (ROOT / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    # Then they name the same packages
    assert direct == {canonicalize_name(r.name) for requirements in declared().values() for r in requirements}


def test_the_sql_files_are_packaged() -> None:
    # Given the SQL the CLI and the functions read at run time, and the package data pyproject.toml ships
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["queries"]
    queries = ROOT / "queries"
    # Then every .sql file under queries/ is matched, so `pip install .` (not editable) has them all
    sql = sorted(queries.rglob("*.sql"))
    assert sql
    shipped = {path for pattern in patterns for path in queries.glob(pattern)}  # setuptools globs them so
    assert [path for path in sql if path not in shipped] == []
