"""The `modlake` typer app: global options, the lazily resolved Target, and one-line errors for expected failures.

Commands register themselves on `app` from their own modules (`cli.commands` for the day-to-day ones,
`cli.sandbox_commands` for the sandbox); `cli/__init__.py` imports both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from cli.errors import EXIT_USAGE, as_cli_error
from cli.output import make_console
from cli.target import Target, resolve_target


class ModlakeGroup(TyperGroup):
    """The app's click group: prints expected failures as `modlake: <message>` and exits with their code.

    Contexts are typed Any: typer 0.29 runs on its own vendored click, whose Context it does not export.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except typer.TyperException as error:  # click's usage errors: bad global options
            error.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.TyperException as error:  # click's usage errors: a subcommand's arguments did not parse
            error.exit_code = EXIT_USAGE
            raise
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            expected = as_cli_error(error)
            if expected is None:
                raise
            state = ctx.obj if isinstance(ctx.obj, CliState) else None
            report_error(expected.message, state.err if state else make_console(stderr=True))
            raise typer.Exit(expected.exit_code) from None


def report_error(message: str, console: Console) -> None:
    """Print an expected failure as exactly one stderr line (never wrapped, no markup, newlines flattened)."""
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    console.print(f"modlake: {one_line}", markup=False, highlight=False, soft_wrap=True)


@dataclass
class CliState:
    """What the global options say, the consoles, and the Target, resolved on first use (so --help needs no AWS)."""

    stack: str | None = None
    local: bool = False
    region: str | None = None
    resolver: Callable[..., Target] | None = None  # default: resolve_target
    out: Console = field(default_factory=make_console)
    err: Console = field(default_factory=lambda: make_console(stderr=True))
    _target: Target | None = None

    @classmethod
    def for_target(cls, target: Target) -> CliState:
        """State around an already built Target (tests, and commands that start their own stack)."""
        return cls(_target=target)

    @property
    def target(self) -> Target:
        """The stack the command talks to, resolved once."""
        if self._target is None:
            resolve = self.resolver or resolve_target
            self._target = resolve(
                stack=self.stack,
                local=self.local,
                region=self.region,
                note=lambda text: self.err.print(f"modlake: note: {text}", markup=False, soft_wrap=True),
            )
        return self._target


app = typer.Typer(
    cls=ModlakeGroup,
    name="modlake",
    help="Upload videos, follow their moderation, query the lake and send the digest, on AWS or the local stack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def options(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Option("--stack", metavar="NAME", help="A deployed stack's name.")] = None,
    local: Annotated[bool, typer.Option("--local", help="The local stack (`modlake up`).")] = False,
    region: Annotated[str | None, typer.Option("--region", help="AWS region (default: the AWS environment).")] = None,
) -> None:
    """Without --stack or --local: the local stack when one is running, else the AWS stack modlake-dev."""
    if isinstance(ctx.obj, CliState):  # prepared by a caller (tests, another command): keep its Target
        return
    ctx.obj = CliState(stack=stack, local=local, region=region)


def cli_state(ctx: typer.Context) -> CliState:
    """The state the app callback stored on the click context."""
    state = ctx.find_object(CliState)
    if state is None:
        raise RuntimeError("modlake command invoked without the app callback")
    return state


def main() -> None:
    """Console-script entry point (`modlake = "cli:main"`)."""
    app(prog_name="modlake")
