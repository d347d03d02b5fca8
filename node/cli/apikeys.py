"""``tracenode apikey create|list|revoke``: the gateway's API keys, in the node's store.

These open the store only (not the chain), so they work while ``tracenode serve`` runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from eth_utils.address import is_address
from rich.markup import escape

from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    commands,
    console,
    errors,
    reports_errors,
    show,
    table,
)
from node.context import DATABASE_URL_ENV, NodeConfig
from node.events.digits import is_decimal
from node.exceptions import ConfigurationError, ParticipantNotFoundError
from node.store.apikeys import ApiKeyRecord, ApiKeys
from node.store.engine import sqlite_url
from node.store.store import Store

app = commands(
    "API keys for the HTTP gateway (stored hashed). These open only the store: no password, "
    "and they work while `tracenode serve` runs."
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(envvar=DATABASE_URL_ENV, help="PostgreSQL URL (default: the node's store)."),
]


@contextmanager
def _store(data_dir: Path, database_url: str | None) -> Iterator[Store]:
    config = NodeConfig.load(data_dir)
    store = Store.open(
        database_url
        or os.environ.get(DATABASE_URL_ENV)
        or config.database_url
        or sqlite_url(data_dir)
    )
    try:
        yield store
    finally:
        store.close()


def _participant_id(store: Store, ref: str) -> int:
    with store.read() as conn:
        if is_decimal(ref) and store.participants.get(conn, int(ref)) is not None:
            return int(ref)
        if is_address(ref):
            key = bytes.fromhex(ref[2:])
            view = store.participants.signers(conn, [key]).get(key)
            if view is not None:
                return view.participant_id
    raise ParticipantNotFoundError(f"no participant {ref} (see `tracenode participant list`)")


@app.command("create")
@reports_errors
def create(
    participant: Annotated[
        str | None, typer.Option(help="The participant's id or address the key submits for.")
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="An admin key (participants and keys).")
    ] = False,
    label: Annotated[str, typer.Option(help="A note for listings (e.g. who holds it).")] = "",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print it: this is the only time it is shown.

    The key is the only line on stdout (what it is for goes to stderr), so
    `TRACENODE_KEY=$(tracenode apikey create --participant 0xAbc…)` captures the key alone.
    """
    if admin == (participant is not None):
        raise ConfigurationError("give exactly one of --participant ID|ADDRESS or --admin")
    with _store(data_dir, database_url) as store:
        pid = _participant_id(store, participant) if participant is not None else None
        created = ApiKeys(store).create(participant_id=pid, admin=admin, label=label)
    who = "admin" if admin else f"participant {pid}"
    errors.print(f"[green]created[/] API key {created.record.key_id} for {who}")
    typer.echo(created.token)


@app.command("revoke")
@reports_errors
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (its 16 hex digits after tn_).")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: it is refused from the next request on."""
    with _store(data_dir, database_url) as store:
        ApiKeys(store).revoke(key_id)
    console.print(f"[yellow]revoked[/] API key {key_id}")


@app.command("list")
@reports_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """List keys (never their secrets)."""
    with _store(data_dir, database_url) as store:
        records = ApiKeys(store).list()
    if as_json:
        typer.echo(json.dumps([_json(r) for r in records], indent=2))
        return
    listing = table("API keys", "key id", "for", "label", "status", whole={"key id"})
    for r in records:
        who = "admin" if r.admin else f"participant {r.participant_id}"
        listing.add_row(r.key_id, who, escape(r.label), "active" if r.active else "[red]revoked[/]")
    show(listing)


def _json(record: ApiKeyRecord) -> dict[str, object]:
    return {
        "keyId": record.key_id,
        "participantId": record.participant_id,
        "admin": record.admin,
        "label": record.label,
        "createdAt": record.created_at,
        "revokedAt": record.revoked_at,
    }
