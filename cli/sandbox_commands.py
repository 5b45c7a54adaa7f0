"""`modlake demo` and `modlake up`: the whole pipeline on this machine, with no AWS account.

Both run the sandbox's LocalStack (cli.sandbox_runs). That module, and through it the sandbox with moto, DuckDB,
PyAV and the CDK, is imported inside these commands only: every other command starts without them, and a CLI
installed without the `sandbox` extra says in one line what to install when one of these two is used.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from cli.announcement import PROJECT_ROOT, STATE_DIR
from cli.application import app, cli_state
from cli.errors import CliError

DEMO_DIR = PROJECT_ROOT / "build" / "demo"
DEFAULT_UP_PORT = 4566
SETTLE_TIMEOUT_SECONDS = 150.0
# The sandbox synthesizes app.py and cdk.json, so it runs from a checkout of modlake, never from a plain wheel.
INSTALL_HINT = "in a checkout of modlake, run make install (or pip install -e '.[sandbox]')"
# The services `--faults` may name (sandbox.faults.SERVICES; tests/cli/test_sandbox_faults.py keeps the two equal).
FAULT_SERVICES = ("athena", "dynamodb", "events", "rekognition", "s3", "ses", "sns", "sqs")
Classifier = Annotated[
    str | None,
    typer.Option(
        "--classifier",
        help="palette (deterministic, by frame colour; default for the sample clips) or nudenet (the real model; "
        "default for your own videos).",
    ),
]


def sandbox_runs(command: str) -> ModuleType:
    """cli.sandbox_runs, imported now; a missing sandbox dependency is one line naming what to install."""
    try:
        from cli import sandbox_runs as runs
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if not missing or (PROJECT_ROOT / missing).is_dir():
            raise  # one of modlake's own packages: a bug, not a missing extra
        raise CliError(
            f"`modlake {command}` runs the local sandbox, whose packages are not installed (no module {missing!r}): "
            f"{INSTALL_HINT}"
        ) from None
    return runs


def chosen_classifier(chosen: str | None, own_videos: bool) -> str:
    """--classifier checked; by default the real model for the user's own videos, the palette for sample clips."""
    if chosen is None:
        return "nudenet" if own_videos else "palette"
    if chosen not in ("palette", "nudenet"):
        raise CliError(f"--classifier {chosen!r}: use palette or nudenet")
    return chosen


@app.command()
def demo(
    ctx: typer.Context,
    videos: Annotated[
        list[Path] | None, typer.Argument(metavar="[VIDEO...]", help="Your MP4/MOV files (default: sample clips).")
    ] = None,
    classifier: Classifier = None,
    out: Annotated[Path, typer.Option("--out", help="Where the lake and the digest are written.")] = DEMO_DIR,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10, help="Seconds to wait for moderation (long videos need more).")
    ] = SETTLE_TIMEOUT_SECONDS,
) -> None:
    """Run the whole pipeline locally on sample clips (or your videos) and show what every stage produced."""
    chosen = chosen_classifier(classifier, own_videos=bool(videos))
    sandbox_runs("demo").run_demo(cli_state(ctx), videos or [], chosen, out, timeout)


@app.command()
def up(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = DEFAULT_UP_PORT,
    classifier: Annotated[
        str, typer.Option("--classifier", help="nudenet (the real model) or palette (deterministic).")
    ] = "nudenet",
    max_concurrent_jobs: Annotated[
        int | None,
        typer.Option("--max-concurrent-jobs", min=1, help="Rekognition's concurrent job limit (default: AWS's, 20)."),
    ] = None,
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Function logs and scratch files.")] = STATE_DIR,
    faults: Annotated[
        str,
        typer.Option(
            "--faults",
            metavar="SERVICE=RATE,…",
            help="Give this share (0-1) of the functions' calls to each service that service's own throttling or "
            f"5xx error, e.g. dynamodb=0.2,s3=0.1 (services: {', '.join(FAULT_SERVICES)}). Your own calls and "
            "the CLI's are never faulted.",
        ),
    ] = "",
    fault_seed: Annotated[int, typer.Option("--fault-seed", help="Seed of the fault decisions (with --faults).")] = 0,
) -> None:
    """Run the local stack in the foreground until Ctrl-C; other terminals use it with `modlake --local …`."""
    chosen = chosen_classifier(classifier, own_videos=True)
    sandbox_runs("up").run_up(cli_state(ctx), port, chosen, max_concurrent_jobs, work_dir, faults, fault_seed)
