"""The ``tracenode`` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from web3 import Web3

from node import __version__
from node.chain.commits import CommitClient
from node.chain.deploy import deploy_contracts
from node.chain.embedded import embedded_web3
from node.cli import (
    apikeys,
    bench,
    challenge,
    epcis,
    events,
    masterdata,
    monitor,
    nodes,
    participants,
    prefixes,
    provenance,
    qr,
    webhooks,
)
from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    command_line,
    commands,
    console,
    password,
    reports_errors,
    show,
    steps,
    table,
)
from node.cli.network_demo import run_network_demo_command
from node.commit.custody import CustodyMode
from node.context import Node, init_node
from node.demo import DemoReport, run_demo
from node.events.typed_data import Action, Domain, TraceEvent, typed_data
from node.exceptions import ConfigurationError
from node.proofs.verify import verify_bundle
from node.provenance.service import ProvenanceService
from node.store.models import EventStatus

app = commands(
    "TraceNode: signed supply-chain events, custody on-chain, proofs anyone can check.",
    name="tracenode",
    add_completion=False,
)
app.add_typer(participants.app, name="participant")
app.add_typer(prefixes.app, name="prefix")
app.add_typer(nodes.app, name="node")
app.add_typer(events.app, name="event")
app.add_typer(apikeys.app, name="apikey")
app.command(name="bench")(bench.bench)
app.command(name="provenance")(provenance.provenance)
app.command(name="trace")(provenance.trace)
app.command(name="export")(provenance.export)
app.command(name="verify")(provenance.verify)
app.command(name="challenge")(challenge.challenge)
app.add_typer(epcis.app, name="epcis")
app.add_typer(masterdata.app, name="masterdata")
app.command(name="qr")(qr.qr)
app.command(name="monitor")(monitor.monitor)
app.add_typer(monitor.app, name="alerts")
app.add_typer(webhooks.app, name="webhook")


@app.callback()
def main() -> None:
    """TraceNode command line."""


@app.command()
def version() -> None:
    """Print the node's version."""
    console.print(__version__)


@app.command()
@reports_errors
def init(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    chain_url: Annotated[
        str | None,
        typer.Option(
            envvar="TRACENODE_CHAIN_URL", help="EVM JSON-RPC URL (default: embedded chain)"
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="TRACENODE_DATABASE_URL", help="PostgreSQL URL (default: SQLite)"),
    ] = None,
    join: Annotated[
        str | None,
        typer.Option(
            help="Join the deployment whose BatchRegistry is at this address on --chain-url "
            "instead of deploying (a network of nodes, docs/network.md)."
        ),
    ] = None,
    allow_private_peers: Annotated[
        bool,
        typer.Option(
            "--allow-private-peers",
            help="Other nodes may be at private and loopback addresses (a development "
            "network; kept in node.json, `serve` may override it). Link-local and reserved "
            "addresses are refused anyway (docs/network.md).",
        ),
    ] = False,
    custody: Annotated[
        CustodyMode,
        typer.Option(
            help="How lifecycle events are held to the custody rules on-chain, for the "
            "node's life: executed one by one (enforced), or anchored per window with "
            "their state and transitions, checked by every verifier and challengeable "
            "on-chain (anchor-only; docs/operations.md).",
        ),
    ] = CustodyMode.ENFORCED,
    open_identifiers: Annotated[
        bool,
        typer.Option(
            "--open-identifiers",
            help="Allow identifiers of no prefix kind (urn:acme:lot:7) for this node's "
            "participants (deploying only: the admin is then the root; tracenode prefix "
            "open|close later).",
        ),
    ] = False,
) -> None:
    """Create a data directory: encrypted node and admin keys, contracts deployed (or an
    existing deployment joined), store ready. The keystore password comes from
    TRACENODE_PASSWORD, else a prompt (asked twice)."""
    if open_identifiers and join is not None:
        raise ConfigurationError(
            "--open-identifiers is the root's to give: a node that joins asks the root "
            "(tracenode prefix open --registrar THIS-NODE'S-ADMIN, on the root's node)"
        )
    secret = password(confirm=True)
    with steps() as progress:
        config = init_node(
            data_dir,
            secret,
            chain_url=chain_url,
            database_url=database_url,
            progress=progress,
            join=join,
            allow_private_peers=allow_private_peers,
            custody=custody,
        )
    if open_identifiers:
        with Node(data_dir) as node:
            node.registry.set_open_identifiers(
                node.admin(secret),
                registrar=Web3.to_checksum_address(node.config.admin_address),
                allowed=True,
            )
    console.print(f"[green]initialised[/] {data_dir} on chain {config.chain_id}")
    console.print(f"  node key   {config.node_address}")
    console.print(f"  admin key  {config.admin_address}")
    console.print(f"  custody    {config.custody}")
    for name, address in config.deployment.items():
        if name.endswith("registry"):
            console.print(f"  {name:22} {address}")
    if join is not None:
        console.print(
            "The root authority registers this node before it may act: tracenode node "
            f"register --registrar {config.admin_address} --relayer {config.node_address} "
            "--url YOUR-PUBLIC-URL --range gs1:PREFIX",
            highlight=False,
            markup=False,
        )


@app.command()
@reports_errors
def demo(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    network: Annotated[
        Path | None,
        typer.Option(
            "--network",
            help="Instead: two nodes on a new local anvil in this new directory (farm and "
            "dairy on node 1, the retailer on node 2), served until Ctrl-C.",
        ),
    ] = None,
) -> None:
    """Run the demo supply chain on this node (initialising it first if needed). The
    keystore password comes from TRACENODE_PASSWORD, else a prompt."""
    if network is not None:
        run_network_demo_command(network, password(confirm=True))
        return
    secret = password(confirm=not (data_dir / "node.json").exists())
    with steps() as progress:
        if not (data_dir / "node.json").exists():
            init_node(data_dir, secret, progress=progress)
        progress("opening the node: chain and store")
        with Node(data_dir) as node:
            report = run_demo(node, secret, progress)
            progress("checking each event's Merkle proof on-chain")
            rows = _demo_rows(node, report)
            progress("exporting the cheese's proof bundle and verifying it against the chain")
            service = ProvenanceService(node.store, node.w3, node.deployment)
            cheese = service.resolve(report.lots["cheese"])
            bundle_path = data_dir / "bundles" / f"{report.lots['cheese'].rsplit('/', 1)[-1]}.json"
            bundle_path.parent.mkdir(parents=True, exist_ok=True)
            bundle = service.export(cheese)
            bundle_path.write_text(bundle.dumps())
            verdict = verify_bundle(bundle, service.reader())
    timeline = table(
        "Demo: farm → dairy → cold chain → shop, and a recall",
        *("step", "action", "batch", "status", "block", "proof on-chain"),
        whole={"batch"},
    )
    for row in rows:
        timeline.add_row(*row)
    show(timeline)
    console.print(
        f"{report.anchored} events anchored and {report.rejected} rejected in "
        f"{report.windows} commit transaction(s) on chain {node.config.chain_id}."
    )
    for name, lot in report.lots.items():
        console.print(f"  {name:7} {lot}", highlight=False)
    mark = "[green]verified[/]" if verdict.ok else "[red]NOT verified[/]"
    console.print(
        f"\nProof bundle of the cheese and its milk: {escape(str(bundle_path))} "
        f"({len(bundle.events)} events, {mark}). Check it yourself — these open the data "
        "directory's chain, so run them while no `tracenode serve` holds it (with one "
        "running, verify with --rpc URL/rpc instead of --data-dir):",
        highlight=False,
    )
    where = ("--data-dir", str(data_dir))
    for command in (
        ("verify", str(bundle_path), *where),
        ("provenance", report.lots["cheese"], *where),
        ("trace", report.lots["milk-2"], "--downstream", *where),
    ):
        console.print("  " + command_line(*command), highlight=False, markup=False)


def _demo_rows(node: Node, report: DemoReport) -> list[tuple[str, ...]]:
    client = CommitClient(node.w3, node.deployment)
    rows: list[tuple[str, ...]] = []
    with node.store.read() as conn:
        for item in report.events:
            row = node.store.events.get(conn, item.event_hash)
            window = None
            if row is not None and row.window_id is not None:
                window = node.store.windows.get(conn, row.window_id)
            proof_ok = "—"
            if row is not None and window is not None:
                verified = client.anchors.functions.verifyEvent(
                    window.root, list(row.proof), item.event_hash
                ).call()
                proof_ok = "[green]verified[/]" if verified else "[red]FAILED[/]"
            status = (row.status if row is not None else EventStatus.ACCEPTED).name.lower()
            rows.append(
                (
                    item.label,
                    item.action.name,
                    item.batch.rsplit("/", 1)[-1],
                    status,
                    str(window.block_number) if window and window.block_number is not None else "",
                    proof_ok,
                )
            )
    return rows


@app.command()
def deploy(
    rpc: Annotated[
        str | None,
        typer.Option(help="JSON-RPC URL of an external chain (default: a fresh embedded chain)"),
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
    contracts = table(
        f"TraceNode contracts on chain {deployment.chain_id}",
        "contract",
        "address",
        whole={"address"},
    )
    contracts.add_row("ParticipantRegistry", deployment.participant_registry)
    contracts.add_row("BatchRegistry (EIP-712 verifier)", deployment.batch_registry)
    contracts.add_row("AnchorRegistry", deployment.anchor_registry)
    show(contracts)
    console.print(f"EIP-712 domain: {json.dumps(domain.as_json())}", highlight=False, markup=False)
