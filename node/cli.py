"""The ``tracenode`` command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from web3 import Web3

from node import __version__
from node.chain.deploy import deploy_contracts
from node.chain.embedded import embedded_web3
from node.events.typed_data import Action, Domain, TraceEvent, typed_data

app = typer.Typer(
    name="tracenode",
    help="TraceNode: signed supply-chain events, custody on-chain, proofs anyone can check.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def main() -> None:
    """TraceNode command line."""


@app.command()
def version() -> None:
    """Print the node's version."""
    console.print(__version__)


@app.command()
def deploy(
    rpc: Annotated[
        str | None,
        typer.Option(help="JSON-RPC URL of an external chain (default: the embedded chain)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Deploy the registries and print their addresses and the EIP-712 domain."""
    w3 = Web3(Web3.HTTPProvider(rpc)) if rpc else embedded_web3()
    admin = w3.eth.accounts[0]
    deployment = deploy_contracts(w3, admin=admin, node=admin)
    domain = Domain(deployment.chain_id, bytes.fromhex(deployment.batch_registry[2:]))
    if as_json:
        document = {
            "deployment": deployment.as_json(),
            "eip712": typed_data(TraceEvent(Action.COMMISSION), domain),
        }
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(title=f"TraceNode contracts on chain {deployment.chain_id}")
    table.add_column("contract")
    table.add_column("address", no_wrap=True, min_width=42)
    table.add_row("ParticipantRegistry", deployment.participant_registry)
    table.add_row("BatchRegistry (EIP-712 verifier)", deployment.batch_registry)
    table.add_row("AnchorRegistry", deployment.anchor_registry)
    console.print(table)
    console.print(f"EIP-712 domain: {json.dumps(domain.as_json())}")
