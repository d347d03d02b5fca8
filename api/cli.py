"""The ``tracenode`` command with ``serve`` added (the console script points here, so the
node's own CLI never imports the HTTP stack)."""

from __future__ import annotations

import os
from typing import Annotated, Final

import typer
from eth_utils.address import to_checksum_address
from rich.markup import escape

from api.serve import DEFAULT_PORT, ServeOptions, serve
from node.cli import app
from node.cli.common import DEFAULT_DATA_DIR, DataDir, console, password, reports_errors
from node.commit.worker import CommitPolicy
from node.context import Node
from node.monitor.service import WATCH_INTERVAL
from node.network.registration import registration_note

__all__ = ["app"]

PUBLIC_URL_ENV: Final = "TRACENODE_WEB_PUBLIC_URL"
ALLOW_PRIVATE_PEERS_ENV: Final = "TRACENODE_NETWORK_ALLOW_PRIVATE_PEERS"


@app.command("serve")
@reports_errors
def serve_command(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = DEFAULT_PORT,
    chain_url: Annotated[
        str | None,
        typer.Option(envvar="TRACENODE_CHAIN_URL", help="EVM JSON-RPC URL (default: embedded)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="TRACENODE_DATABASE_URL", help="PostgreSQL URL (default: SQLite)."),
    ] = None,
    commit: Annotated[
        bool, typer.Option("--commit/--no-commit", help="Run the commit worker (when leader).")
    ] = True,
    commit_interval: Annotated[
        float, typer.Option(help="Seconds between commit windows.", min=0.05)
    ] = 1.0,
    commit_max_events: Annotated[
        int, typer.Option(help="Commit as soon as this many events wait.", min=1)
    ] = 1000,
    confirmations: Annotated[
        int, typer.Option(help="Blocks to wait after a commit (external chains).", min=0)
    ] = 0,
    monitor_interval: Annotated[
        float,
        typer.Option(
            help="Seconds between integrity-monitor cycles (docs/monitor.md); 0 turns it off.",
            min=0,
        ),
    ] = 300.0,
    monitor_watch_interval: Annotated[
        float,
        typer.Option(
            help="Seconds between the monitor's looks at what is new, between its cycles "
            "(docs/monitor.md); 0: cycles only.",
            min=0,
            max=3_600,
        ),
    ] = WATCH_INTERVAL,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar=PUBLIC_URL_ENV,
            help="This node's public address (labels, the resolver; the node registry "
            "should name it: docs/network.md).",
        ),
    ] = None,
    allow_private_peers: Annotated[
        bool | None,
        typer.Option(
            "--allow-private-peers/--no-allow-private-peers",
            envvar=ALLOW_PRIVATE_PEERS_ENV,
            show_default="node.json's allow_private_peers",
            help="Whether other nodes may be at private and loopback addresses (a "
            "development network); link-local and reserved ones are refused anyway "
            "(docs/network.md).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (and commit, when this process holds the node key's lock). The
    keystore password comes from TRACENODE_PASSWORD, else a prompt."""
    secret = password()
    options = ServeOptions(
        host=host,
        port=port,
        commit=commit,
        policy=CommitPolicy(
            interval=commit_interval, max_events=commit_max_events, confirmations=confirmations
        ),
        monitor_interval=monitor_interval,
        monitor_watch_interval=monitor_watch_interval,
        log_level=log_level,
    )
    if public_url is not None:
        os.environ[PUBLIC_URL_ENV] = public_url  # read by the page's settings (WebSettings)
    with Node(
        data_dir,
        chain_url=chain_url,
        database_url=database_url,
        allow_private_peers=allow_private_peers,
        follow_chain=True,  # its commit process owns the embedded chain (api/serve.py)
    ) as node:
        note = registration_note(
            node.registry, to_checksum_address(node.config.admin_address), public_url
        )
        if note is not None:
            console.print(f"[yellow]network:[/] {escape(note)}", highlight=False)

        def listening(url: str) -> None:
            console.print(f"serving {data_dir} on {url} (chain {node.config.chain_id})")

        serve(node, secret, options, listening=listening)


if __name__ == "__main__":
    app()
