"""``tracenode node register|list|set-url|delegate|withdraw``: the network's nodes on this
chain (docs/network.md). The root authority (the deploying node's admin key) registers a
node and delegates it ranges; a node's own registrar moves its URL."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from eth_typing import ChecksumAddress
from rich.markup import escape
from web3 import Web3

from node.chain.registry import NetworkNode
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
from node.events.identifiers import PrefixKind
from node.exceptions import ConfigurationError
from node.network.registration import check_node_url, enrol_node

app = commands(
    "The nodes of the network on this chain: who operates each, where it answers, the "
    "prefix ranges delegated to it. register, delegate and withdraw take the root "
    "authority's key (the deploying node's admin key); set-url the node's own registrar "
    "key (or the root's). Keys sign on the chain, so a `tracenode serve` on the embedded "
    "chain must be stopped first."
)

RangeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--range",
        help="A range to delegate, KIND:PREFIX (gs1:950, handle:77.1; gs1: alone is the "
        "whole kind). Repeatable.",
    ),
]


def parse_range(text: str) -> tuple[PrefixKind, str]:
    """``gs1:950`` or ``handle:77.1`` as (kind, prefix); the contract checks the prefix."""
    label, colon, prefix = text.partition(":")
    kinds = {"gs1": PrefixKind.GS1, "handle": PrefixKind.HANDLE}
    if not colon or label.lower() not in kinds:
        raise ConfigurationError(f"a range is gs1:DIGITS or handle:GROUPS, not {text[:80]!r}")
    return kinds[label.lower()], prefix


def _check_url(url: str, node: Node) -> None:
    """Refuse a URL other nodes would not fetch from (as this node judges: its
    ``allow_private_peers``); warn of a name that does not resolve from here."""
    warning = check_node_url(url, node.peer_addresses)
    if warning is not None:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def _address(text: str, what: str) -> ChecksumAddress:
    if not Web3.is_address(text):
        raise ConfigurationError(f"{what} must be an address (0x + 40 hex), not {text[:60]!r}")
    return Web3.to_checksum_address(text)


@app.command()
@reports_errors
def register(
    registrar: Annotated[str, typer.Option(help="The node's registrar (admin) address.")],
    url: Annotated[str, typer.Option(help="The node's public API base, http(s)://...")],
    relayer: Annotated[
        str | None,
        typer.Option(help="The node's node key: may relay events and anchor roots."),
    ] = None,
    ranges: RangeOption = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Register a node (root): its registrar may then register participants and license
    them prefixes inside the ranges delegated to it. The keystore password comes from
    TRACENODE_PASSWORD, else a prompt."""
    operator = _address(registrar, "--registrar")
    relay = None if relayer is None else _address(relayer, "--relayer")
    wanted = [parse_range(r) for r in ranges or []]
    secret = password()
    with Node(data_dir) as node:
        _check_url(url, node)
        node_id = enrol_node(
            node.registry,
            node.deployment,
            node.admin(secret),
            registrar=operator,
            url=url,
            relayer=relay,
            ranges=wanted,
        )
        registered = node.registry.node(node_id)
    console.print(f"[green]registered[/] node {node_id} at {escape(url)}")
    _print_ranges(registered)


@app.command("set-url")
@reports_errors
def set_url(
    node_id: Annotated[int, typer.Argument(help="The node's id.", min=1, max=2**32 - 1)],
    url: Annotated[str, typer.Argument(help="Its new public API base, http(s)://...")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Move a node to a new URL (its own registrar, or the root). The keystore password
    comes from TRACENODE_PASSWORD, else a prompt."""
    secret = password()
    with Node(data_dir) as node:
        _check_url(url, node)
        node.registry.set_node_url(node.admin(secret), node_id, url)
    console.print(f"[green]moved[/] node {node_id} to {escape(url)}")


@app.command()
@reports_errors
def delegate(
    registrar: Annotated[str, typer.Argument(help="The registrar address.")],
    range_: Annotated[str, typer.Argument(metavar="RANGE", help="KIND:PREFIX, e.g. gs1:950.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Delegate a range to a registrar (root). The keystore password comes from
    TRACENODE_PASSWORD, else a prompt."""
    operator = _address(registrar, "REGISTRAR")
    kind, prefix = parse_range(range_)
    secret = password()
    with Node(data_dir) as node:
        node.registry.delegate(node.admin(secret), registrar=operator, kind=kind, prefix=prefix)
    console.print(
        f"[green]delegated[/] {kind.label} range {escape(prefix or '(all)')} to {operator}"
    )


@app.command()
@reports_errors
def withdraw(
    range_: Annotated[str, typer.Argument(metavar="RANGE", help="KIND:PREFIX, e.g. gs1:950.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Withdraw a delegated range (root); licences granted inside it stand. The keystore
    password comes from TRACENODE_PASSWORD, else a prompt."""
    kind, prefix = parse_range(range_)
    secret = password()
    with Node(data_dir) as node:
        node.registry.withdraw(node.admin(secret), kind=kind, prefix=prefix)
    console.print(f"[green]withdrawn[/] {kind.label} range {escape(prefix or '(all)')}")


@app.command("list")
@reports_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Every node of the network, as the chain holds it."""
    with Node(data_dir) as node:
        found = node.registry.nodes()
        me = node.config.admin_address
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": str(n.id),
                        "operator": n.operator,
                        "url": n.url,
                        "ranges": [{"kind": r.kind.label, "prefix": r.prefix} for r in n.ranges],
                        "thisNode": n.operator == me,
                    }
                    for n in found
                ],
                indent=2,
            )
        )
        return
    listing = table("Nodes", "id", "operator", "url", "ranges", whole={"operator"})
    for n in found:
        listing.add_row(
            str(n.id) + (" (this)" if n.operator == me else ""),
            n.operator,
            escape(n.url),
            escape(_ranges(n)),
        )
    show(listing)


def _ranges(found: NetworkNode) -> str:
    return ", ".join(f"{r.kind.label}:{r.prefix or '(all)'}" for r in found.ranges) or "-"


def _print_ranges(found: NetworkNode) -> None:
    console.print(f"  operator {found.operator}; ranges {escape(_ranges(found))}", highlight=False)
