"""`modlake`: the command line for a deployed stack or the local stack (typer app, rich output).

Importing the package registers every command on `app`; `main` is the console script's entry point.
"""

from local.cli import commands, sandbox_commands
from local.cli.application import app, main

__all__ = ["app", "commands", "main", "sandbox_commands"]
