"""`modlake`: the command line for a deployed stack or the local stack (typer app, rich output).

Importing the package registers every command on `app`; `main` is the console script's entry point. It needs
boto3, typer and rich only: `demo` and `up` load the sandbox inside themselves (cli.sandbox_commands).
"""

from cli import commands, sandbox_commands
from cli.application import app, main

__all__ = ["app", "commands", "main", "sandbox_commands"]
