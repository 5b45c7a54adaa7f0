"""The one code asset holds functions/, glue/ and queries/ only, exactly as /var/task will see them."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import App, IgnoreMode, Stack
from aws_cdk import aws_lambda as lambda_

from stacks.lambda_factory import CODE_DIRECTORIES, CODE_EXCLUDES
from tests.infra.synth import Synth

pytestmark = pytest.mark.slow


def _staged_asset(synth: Synth) -> Path:
    """The asset directory in the cloud assembly that the functions' code points at."""
    (code,) = {f["Properties"]["Code"]["S3Key"] for f in synth.modlake_functions().values()}
    return synth.outdir / f"asset.{code.removesuffix('.zip')}"


def _files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_the_code_asset_holds_only_the_code_directories(dev: Synth) -> None:
    # Given the staged code asset of the functions
    asset = _staged_asset(dev)
    # Then its top level is functions/ and glue/ (and queries/ once it exists), without bytecode
    top_level = {path.name for path in asset.iterdir()}
    assert {"functions", "glue"} <= top_level <= set(CODE_DIRECTORIES)
    assert not [f for f in _files(asset) if "__pycache__" in f or f.endswith(".pyc")]


def test_every_handler_is_in_the_code_asset(dev: Synth) -> None:
    # Given the staged asset and each function's handler string functions.<folder>.handler.handler
    asset = _staged_asset(dev)
    for function in dev.modlake_functions().values():
        module = function["Properties"]["Handler"].rsplit(".", 1)[0]
        # Then the handler module is a file in the asset
        assert (asset / (module.replace(".", "/") + ".py")).is_file(), module


def test_exclude_patterns_keep_code_and_drop_everything_else(tmp_path: Path) -> None:
    # Given a project tree with code, bytecode, tooling directories and top-level files
    project = tmp_path / "project"
    for name in (
        "functions/__init__.py",
        "functions/start/handler.py",
        "functions/start/__pycache__/handler.cpython-313.pyc",
        "functions/stray.pyc",
        "glue/schema.py",
        "queries/flagged.sql",
        "stacks/config.py",
        "tests/test_x.py",
        ".venv/lib/site.py",
        "node_modules/aws-cdk/index.js",
        ".git/config",
        "cdk.out/manifest.json",
        "app.py",
        "cdk.json",
    ):
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    outdir = tmp_path / "out"
    # When the asset is staged with the factory's exclude patterns
    app = App(outdir=str(outdir))
    lambda_.Function(
        Stack(app, "Throwaway"),
        "Function",
        code=lambda_.Code.from_asset(str(project), exclude=CODE_EXCLUDES, ignore_mode=IgnoreMode.GLOB),
        handler="functions.start.handler.handler",
        runtime=lambda_.Runtime.PYTHON_3_13,
    )
    (asset,) = outdir.glob("asset.*")
    # Then only the code directories' source files are staged
    assert _files(asset) == {
        "functions/__init__.py",
        "functions/start/handler.py",
        "glue/schema.py",
        "queries/flagged.sql",
    }
