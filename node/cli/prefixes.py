"""``tracenode prefix license|revoke|list``: the identifier prefixes this node's registrar
licenses to its participants (docs/contracts.md, "Identifier authority"); ``tracenode
prefix open|close``: the root's policy on identifiers of no prefix kind for a node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from eth_utils.address import is_address, to_checksum_address
from rich.markup import escape

from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    commands,
    console,
    password,
    reports_errors,
    show,
    table,
)
from node.context import Node
from node.events.identifiers import Licence, prefix_kind

app = commands(
    "License identifier prefixes to participants: only the holder of a prefix's licence "
    "creates batches under it (the registrar key signs; it needs the chain, so a "
    "`tracenode serve` on the embedded chain must be stopped first)."
)

Prefix = Annotated[
    str,
    typer.Argument(
        help="A GS1 company prefix (4-12 digits) or a handle prefix (digit groups with dots)."
    ),
]


@app.command("license")
@reports_errors
def license_(
    participant_id: Annotated[int, typer.Argument(help="The participant's id.")],
    prefix: Prefix,
    valid_from: Annotated[
        int, typer.Option(help="First block it is valid at (0: the next block).")
    ] = 0,
    valid_until: Annotated[
        int, typer.Option(help="First block it is no longer valid at (0: no end).")
    ] = 0,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """License a prefix to a participant of this node. The keystore password comes from
    TRACENODE_PASSWORD, else a prompt."""
    secret = password()
    kind = prefix_kind(prefix)
    with Node(data_dir) as node:
        node.registry.license(
            node.admin(secret),
            participant_id,
            kind=kind,
            prefix=prefix,
            valid_from=valid_from,
            valid_until=valid_until,
        )
    console.print(f"[green]licensed[/] {kind.name} prefix {prefix} to participant {participant_id}")


@app.command()
@reports_errors
def revoke(prefix: Prefix, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Revoke a prefix's licence from the next block on; the prefix may be licensed again.
    The keystore password comes from TRACENODE_PASSWORD, else a prompt."""
    secret = password()
    kind = prefix_kind(prefix)
    with Node(data_dir) as node:
        node.registry.revoke(node.admin(secret), kind=kind, prefix=prefix)
    console.print(f"[green]revoked[/] {kind.name} prefix {prefix}")


Registrar = Annotated[
    str | None,
    typer.Option(help="The node's registrar address (default: this node's own)."),
]


def _set_open(allowed: bool, registrar: str | None, data_dir: Path) -> None:
    if registrar is not None and not is_address(registrar):
        raise typer.BadParameter(f"not an address: {registrar!r}", param_hint="--registrar")
    secret = password()
    with Node(data_dir) as node:
        target = to_checksum_address(registrar or node.config.admin_address)
        node.registry.set_open_identifiers(node.admin(secret), registrar=target, allowed=allowed)
    state = "[green]allowed[/]" if allowed else "[yellow]refused[/]"
    console.print(f"open identifiers {state} for the node of registrar {target}")


@app.command("open")
@reports_errors
def open_(registrar: Registrar = None, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Allow identifiers of no prefix kind (urn:acme:lot:7: no prefix, no brand owner) for
    a node's participants: the root's key signs (this node's admin on the embedded chain).
    The keystore password comes from TRACENODE_PASSWORD, else a prompt."""
    _set_open(True, registrar, data_dir)


@app.command("close")
@reports_errors
def close(registrar: Registrar = None, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Refuse identifiers of no prefix kind for a node's participants again (batches
    created under them stay). The root's key signs; the keystore password comes from
    TRACENODE_PASSWORD, else a prompt."""
    _set_open(False, registrar, data_dir)


@app.command("list")
@reports_errors
def list_(
    prefixes: Annotated[
        list[str] | None,
        typer.Argument(help="Prefixes to show (default: each participant's registered one)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Every licence of the prefixes, oldest first, as the chain holds them."""
    with Node(data_dir) as node:
        node.sync_participants()
        with node.store.read() as conn:
            names = {p.id: p.name for p in node.store.participants.all(conn)}
            wanted = prefixes or sorted(
                {p for p in (r.prefix for r in node.store.participants.all(conn)) if p}
            )
        found: list[tuple[str, Licence]] = [
            (prefix, licence)
            for prefix in wanted
            for licence in node.registry.licences(prefix_kind(prefix), prefix)
        ]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "prefix": prefix,
                        "kind": prefix_kind(prefix).name.lower(),
                        "holder": licence.holder,
                        "holderName": names.get(licence.holder),
                        "validFrom": str(licence.valid_from),
                        "validUntil": str(licence.valid_until) if licence.valid_until else None,
                        "held": licence.held,
                    }
                    for prefix, licence in found
                ],
                indent=2,
            )
        )
        return
    listing = table("Licences", "prefix", "kind", "holder", "valid from", "until", "status")
    for prefix, licence in found:
        listing.add_row(
            escape(prefix),
            prefix_kind(prefix).name.lower(),
            f"{licence.holder} {escape(names.get(licence.holder, '?'))}",
            str(licence.valid_from),
            str(licence.valid_until) if licence.valid_until else "-",
            "held" if licence.held else "revoked",
        )
    show(listing)
