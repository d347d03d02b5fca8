"""What every command shares: the data directory, the password, error reporting, and
output that stays whole at any terminal width."""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress as ProgressDisplay
from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from node.exceptions import ChainLockedError, TraceNodeError
from node.keys.keystore import PASSWORD_ENV
from node.runtime import Progress

# Messages are never broken with hard newlines at the console's width (80 columns in a
# log or a pipe): a path, a URL or a command must survive being copied. Only tables are
# fitted to the width (`show`), by wrapping their cells.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


class Group(TyperGroup):
    """A group whose help lists every command's summary whole, wrapped to the width
    (click cuts summaries at the terminal's width with "...")."""

    # typer's own (vendored) click types; they are not public, hence Any.
    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def commands(help: str, **settings: Any) -> typer.Typer:
    """A group of `tracenode` commands. Help is click's plain text, which wraps to the
    terminal's width; typer's rich panels cut option help and env var names short."""
    return typer.Typer(
        help=help, cls=Group, rich_markup_mode=None, no_args_is_help=True, **settings
    )


def table(title: str, *columns: str, whole: Collection[str] = ()) -> Table:
    """A table that never cuts a value short: cells wrap (folding words wider than their
    column) instead of ending in "…", and the columns in ``whole`` (addresses, ids: values
    to copy) never wrap."""
    result = Table(title=escape(title))
    for column in columns:
        if column in whole:
            result.add_column(column, no_wrap=True, overflow="ignore")
        else:
            result.add_column(column, overflow="fold")
    return result


def show(renderable: Table) -> None:
    """Print a table fitted to the console's width."""
    console.print(renderable, soft_wrap=False)


@contextmanager
def steps() -> Iterator[Progress]:
    """Show a long command's steps as they start, on stderr (stdout stays the command's
    output, e.g. `bench --json`). On a terminal, rich's progress display: one line per step,
    a spinner while it runs, then its time. Elsewhere (a log, a pipe: scripts/run.sh) one
    plain line per step as it starts, with the seconds since the command began, so a log
    never goes quiet for the length of a slow step."""
    if not errors.is_terminal:
        began = time.monotonic()

        def line(text: str) -> None:
            elapsed = time.monotonic() - began
            errors.print(f"{elapsed:6.1f} s  {text}", highlight=False, markup=False)

        yield line
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
    )
    with ProgressDisplay(*columns, console=errors) as progress:
        running: list[TaskID] = []

        def finish() -> None:
            if running:
                progress.update(running.pop(), total=1, completed=1)

        def step(text: str) -> None:
            finish()
            running.append(progress.add_task(text, total=None))

        yield step
        finish()


def program() -> str:
    """How to run `tracenode` again from the shell that started this one: `tracenode` when
    it is on PATH, else the path it was started by (e.g. `.venv/bin/tracenode`)."""
    started = sys.argv[0]
    if Path(started).name == "tracenode" and shutil.which("tracenode") is None:
        return shlex.quote(started)
    return "tracenode"


def command_line(*args: str) -> str:
    """A `tracenode` command as one line a shell takes as it is (arguments quoted)."""
    return " ".join([program(), *(shlex.quote(arg) for arg in args)])


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

CHAIN_LOCKED_HINT = (
    "The embedded chain opens in one process at a time: is `tracenode serve` running on "
    "this data directory? Stop it, or work through it: `tracenode apikey` works beside it; "
    "an admin API key registers participants (POST /v1/participants); provenance, traces "
    "and bundles are at /v1/batches/ID/…; `tracenode verify BUNDLE --rpc URL/rpc` checks a "
    "bundle against its chain (docs/api.md)."
)

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
            if isinstance(error, ChainLockedError):
                errors.print(CHAIN_LOCKED_HINT, highlight=False, markup=False)
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
