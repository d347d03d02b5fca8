"""``tracenode participant add|list|rotate|suspend|reactivate``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Annotated

import typer
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from rich.markup import escape

from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    commands,
    console,
    errors,
    password,
    reports_errors,
    show,
    table,
)
from node.context import Node
from node.events.typed_data import Role
from node.exceptions import ConfigurationError
from node.keys.keystore import create_keystore

app = commands(
    "Register and manage participants (the registrar key signs; it needs the chain, so a "
    "`tracenode serve` on the embedded chain must be stopped first, or use its admin API: "
    "POST /v1/participants)."
)


def parse_roles(text: str) -> Role:
    """``producer,logistics`` → the role set; unknown names are refused."""
    roles = Role(0)
    for name in filter(None, (part.strip().upper() for part in text.split(","))):
        if name not in Role.__members__:
            known = ", ".join(r.lower() for r in Role.__members__)
            raise ConfigurationError(f"unknown role {name.lower()!r}; roles are {known}")
        roles |= Role[name]
    if not roles:
        raise ConfigurationError("give at least one role")
    return roles


def role_names(roles: int) -> str:
    return ",".join(r.name.lower() for r in Role if r & roles and r.name)


@contextmanager
def _new_key(node: Node, name: str, secret: str) -> Iterator[ChecksumAddress]:
    """A new encrypted key file under ``keystore/participants/``, for the registration or
    rotation run inside the block: if that fails and the chain never saw the key, the file
    is removed again, so a retry starts from nothing (rather than from a key file it must
    refuse to overwrite). Open the registrar key first: a wrong password then writes nothing.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "participant"
    path = node.data_dir / "keystore" / "participants" / f"{slug}.json"
    account = create_keystore(path, secret)
    try:
        yield to_checksum_address(account.address)
    except BaseException:
        try:
            used = node.registry.key_participant(to_checksum_address(account.address)) != 0
        except Exception:  # the chain cannot say: keep the key, it may be registered
            used = True
        if used:
            errors.print(f"kept {path}: the chain knows its key", highlight=False)
        else:
            path.unlink(missing_ok=True)
        raise
    console.print(f"new key {account.address} saved (encrypted) at {path}", highlight=False)


def _key(
    node: Node, key: str | None, name: str, secret: str
) -> AbstractContextManager[ChecksumAddress]:
    """The address given with --key, or a new key file's (--create-key)."""
    if key is None:
        return _new_key(node, name, secret)
    return nullcontext(to_checksum_address(key))


def _key_option(key: str | None, create_key: bool) -> None:
    if (key is None) == (not create_key):
        raise ConfigurationError("give exactly one of --key ADDRESS or --create-key")
    if key is not None and not is_address(key):
        raise ConfigurationError(f"{key!r} is not an address")


@app.command("add")
@reports_errors
def add(
    name: Annotated[str, typer.Argument(help="The organisation's name (1-64 bytes).")],
    roles: Annotated[
        str,
        typer.Option(
            help="Comma-separated: producer, processor, logistics, retailer, auditor, regulator."
        ),
    ],
    prefix: Annotated[
        str, typer.Option(help="Identifier prefix it owns (GS1 company prefix or handle prefix).")
    ] = "",
    key: Annotated[str | None, typer.Option(help="Its signing key's address.")] = None,
    create_key: Annotated[
        bool, typer.Option("--create-key", help="Make a new encrypted key file for it.")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Register a participant on-chain and in the node's mirror. The keystore password
    comes from TRACENODE_PASSWORD, else a prompt."""
    _key_option(key, create_key)
    role_set = parse_roles(roles)
    secret = password()
    with Node(data_dir) as node:
        registrar = node.admin(secret)  # a wrong password stops here, before any key file
        with _key(node, key, name, secret) as address:
            pid = node.registry.register(
                registrar, key=address, name=name, roles=role_set, prefix=prefix
            )
        node.sync_participants()
    console.print(
        f"[green]registered[/] participant {pid}: {name} ({role_names(role_set)}) key {address}"
    )


@app.command("list")
@reports_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List participants as mirrored from the chain."""
    with Node(data_dir) as node:
        node.sync_participants()
        with node.store.read() as conn:
            rows = node.store.participants.all(conn)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "name": r.name,
                        "key": to_checksum_address(r.key),
                        "roles": role_names(r.roles).split(","),
                        "prefix": r.prefix,
                        "active": r.active,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    listing = table("Participants", "id", "name", "roles", "prefix", "status", "key", whole={"key"})
    for r in rows:
        status = "active" if r.active else "[red]suspended[/]"
        listing.add_row(
            str(r.id),
            escape(r.name),
            role_names(r.roles),
            escape(r.prefix),
            status,
            to_checksum_address(r.key),
        )
    show(listing)


@app.command()
@reports_errors
def rotate(
    participant_id: Annotated[int, typer.Argument(help="The participant's id.")],
    key: Annotated[str | None, typer.Option(help="The new key's address.")] = None,
    create_key: Annotated[
        bool, typer.Option("--create-key", help="Make a new encrypted key file.")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Move a participant to a new key; its old key is refused from the next block on.
    The keystore password comes from TRACENODE_PASSWORD, else a prompt."""
    _key_option(key, create_key)
    secret = password()
    with Node(data_dir) as node:
        node.sync_participants()
        with node.store.read() as conn:
            row = node.store.participants.get(conn, participant_id)
        if row is None:
            raise ConfigurationError(f"no participant {participant_id}")
        registrar = node.admin(secret)  # a wrong password stops here, before any key file
        with _key(node, key, f"{row.name}-{participant_id}-rotated", secret) as address:
            node.registry.rotate_key(registrar, participant_id, address)
        node.sync_participants()
    console.print(f"[green]rotated[/] participant {participant_id} to key {address}")


@app.command()
@reports_errors
def suspend(
    participant_id: Annotated[int, typer.Argument(help="The participant's id.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Suspend a participant: its signatures are refused until it is reactivated.
    The keystore password comes from TRACENODE_PASSWORD, else a prompt."""
    secret = password()
    with Node(data_dir) as node:
        node.registry.suspend(node.admin(secret), participant_id)
        node.sync_participants()
    console.print(f"[yellow]suspended[/] participant {participant_id}")


@app.command()
@reports_errors
def reactivate(
    participant_id: Annotated[int, typer.Argument(help="The participant's id.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Reactivate a suspended participant. The keystore password comes from
    TRACENODE_PASSWORD, else a prompt."""
    secret = password()
    with Node(data_dir) as node:
        node.registry.reactivate(node.admin(secret), participant_id)
        node.sync_participants()
    console.print(f"[green]reactivated[/] participant {participant_id}")
