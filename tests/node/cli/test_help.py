"""`tracenode … --help` at 80 columns: nothing cut short, and every command that asks for
the keystore password says where it comes from."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from api.cli import app

#: Commands that call node.cli.common.password(); found in their source below, so a new
#: one cannot slip past — this list only guards against finding none.
ASKING = {
    "init",
    "demo",
    "challenge",
    "monitor",
    "serve",
    "participant add",
    "participant rotate",
    "participant suspend",
    "participant reactivate",
    "prefix license",
    "prefix revoke",
    "prefix open",
    "prefix close",
    "node register",
    "node set-url",
    "node delegate",
    "node withdraw",
    "event submit",
    "epcis sign",
    "epcis capture",
    "masterdata set",
}


def commands(group: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every leaf command of `tracenode`, by its path ("participant add")."""
    group = group if group is not None else get_command(app)
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def groups() -> list[tuple[str, Any]]:
    root: Any = get_command(app)
    return [("", root)] + [(n, c) for n, c in root.commands.items() if hasattr(c, "commands")]


def help_text(path: str) -> str:
    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def asks_for_password(command: Any) -> bool:
    """Whether the command's function, or a function of its module it calls (at any
    depth), calls ``password()``."""
    function = inspect.unwrap(command.callback)
    module = vars(inspect.getmodule(function))
    seen, todo = set(), [function]
    while todo:
        source = inspect.getsource(todo.pop())
        if re.search(r"(?<![.\w])password\(", source):
            return True
        for name, value in module.items():
            called = re.search(rf"(?<![.\w]){re.escape(name)}\(", source)
            if inspect.isfunction(value) and called and name not in seen:
                seen.add(name)
                todo.append(inspect.unwrap(value))
    return False


def test_every_command_that_asks_for_the_password_names_tracenode_password() -> None:
    asking = {path for path, command in commands() if asks_for_password(command)}

    assert asking == ASKING
    for path in sorted(asking):
        assert "TRACENODE_PASSWORD" in help_text(path), path


@pytest.mark.parametrize("path", [path for path, _ in commands()])
def test_a_command_help_fits_80_columns_and_names_every_env_var_whole(path: str) -> None:
    command = dict(commands())[path]
    text = help_text(path)

    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "…" not in text.replace("0xAbc…", "")
    for param in command.params:
        for variable in [param.envvar] if isinstance(param.envvar, str) else param.envvar or []:
            assert variable in text, (path, variable)


@pytest.mark.parametrize("path", [path for path, _ in groups()])
def test_a_group_help_lists_each_summary_whole(path: str) -> None:
    group = dict(groups())[path]
    text = " ".join(help_text(path).split())

    for name, command in group.commands.items():
        summary = " ".join(command.get_short_help_str(limit=10_000).split())
        assert f"{name} {summary}" in text, (path, name)
        assert not summary.endswith("..."), (path, name)
