"""What every command shares: the data directory, the password, error reporting."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from node.exceptions import TraceNodeError
from node.keys.keystore import PASSWORD_ENV

console = Console()
errors = Console(stderr=True)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="TRACENODE_DATA_DIR",
        help="The node's data directory.",
        file_okay=False,
    ),
]
DEFAULT_DATA_DIR = Path("tracenode-data")

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the node's typed errors into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except TraceNodeError as error:
            errors.print(
                f"[bold red]error[/] {escape(f'[{error.code}]')}: {escape(str(error))}",
                highlight=False,
            )
            raise typer.Exit(1) from None

    return wrapper


def password(*, confirm: bool = False) -> str:
    """The keystore password: from TRACENODE_PASSWORD, else asked for (never echoed)."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        errors.print(f"set {PASSWORD_ENV} or run interactively to give the keystore password")
        raise typer.Exit(2)
    entered: Any = typer.prompt("Keystore password", hide_input=True, confirmation_prompt=confirm)
    return str(entered)
