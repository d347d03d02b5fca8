"""``tracenode monitor``: run the integrity monitor; ``tracenode alerts list|show|ack|resolve``:
what it found, and the workflow of handling it (docs/monitor.md)."""

from __future__ import annotations

import getpass
import json
import threading
import time
from typing import Annotated

import typer
from rich.table import Table

from node.cli.common import DEFAULT_DATA_DIR, DataDir, console, password, reports_errors
from node.context import Node
from node.exceptions import AlertNotFoundError, ConfigurationError
from node.monitor.alertlog import AlertLogSealer
from node.monitor.service import WATCH_INTERVAL, Monitor
from node.store.alerts import AlertFilter, alert_document
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import AlertRecord

app = typer.Typer(help="What the integrity monitor found, and handling it.", no_args_is_help=True)

Severity = Annotated[
    str, typer.Option(help="The least severity shown: low, medium, high or critical.")
]
By = Annotated[str, typer.Option(help="Who handles it (default: your login name).")]
Why = Annotated[str, typer.Option("--why", help="Why: kept with the alert.")]


@reports_errors
def monitor(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    once: Annotated[bool, typer.Option("--once", help="One cycle, then exit.")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between cycles.", min=1.0, max=86_400.0)
    ] = 60.0,
    watch_interval: Annotated[
        float,
        typer.Option(
            help="Seconds between looks at what is new, between cycles (0: cycles only).",
            min=0.0,
            max=3_600.0,
        ),
    ] = WATCH_INTERVAL,
    seal: Annotated[
        bool,
        typer.Option(
            "--seal",
            help="Also sign the alert log's new entries with the node key and anchor its "
            "head (needs the keystore password; not while `serve` commits with that key).",
        ),
    ] = False,
) -> None:
    """Compare the store with the chain and with itself; raise an alert for each incident.
    Between full cycles, look at what is new every --watch-interval seconds.

    With the embedded chain, run it while `serve` is stopped (one process holds the chain).
    Exits with status 2 when a cycle found critical incidents (with --once). With --seal,
    the keystore password comes from TRACENODE_PASSWORD, else a prompt.
    """
    secret = password() if seal else None
    with Node(data_dir) as node:
        watcher = Monitor.of(node)
        sealer = (
            AlertLogSealer(
                store=node.store,
                w3=node.w3,
                deployment=node.deployment,
                node=node.node_key(secret),
            )
            if secret is not None
            else None
        )
        if once:
            report = watcher.cycle()
            if sealer is not None:
                sealer.seal()
                sealer.anchor()
            console.print(
                f"checked {report.windows} windows, {report.events} events, "
                f"{report.batches} batches and {report.refusals} refusals: {report.raised} "
                f"new and {report.updated} recurring incidents",
                highlight=False,
            )
            if any(f.severity is AlertSeverity.CRITICAL for f in report.findings):
                raise typer.Exit(2)
            return
        stop = threading.Event()
        try:
            watcher.run(
                stop,
                interval=interval,
                watch_interval=watch_interval,
                after=sealer.tick if sealer else None,
            )
        except KeyboardInterrupt:
            stop.set()


def _severity(name: str) -> AlertSeverity:
    try:
        return AlertSeverity[name.upper()]
    except KeyError:
        raise ConfigurationError(
            f"--severity {name!r}: one of low, medium, high, critical"
        ) from None


@app.command(name="list")
@reports_errors
def list_alerts(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    severity: Severity = "low",
    open_only: Annotated[bool, typer.Option("--open", help="Open ones only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Alerts, newest first."""
    where = AlertFilter(
        min_severity=_severity(severity), status=AlertStatus.OPEN if open_only else None
    )
    with Node(data_dir) as node, node.store.read() as conn:
        alerts = node.store.alerts.page(conn, where=where, before=None, limit=1000)
    if as_json:
        typer.echo(json.dumps([alert_document(a) for a in alerts], indent=2))
        return
    table = Table(title="Alerts")
    for column in ("id", "severity", "score", "status", "kind", "seen", "detail"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        table.add_row(
            str(a.id),
            a.severity.name.lower(),
            str(a.score),
            a.status.name.lower(),
            a.kind,
            str(a.occurrences),
            a.detail,
        )
    console.print(table)


def _one(data_dir: DataDir, alert_id: int) -> AlertRecord:
    with Node(data_dir) as node, node.store.read() as conn:
        alert = node.store.alerts.get(conn, alert_id)
    if alert is None:
        raise AlertNotFoundError(f"no alert {alert_id}")
    return alert


@app.command()
@reports_errors
def show(
    alert_id: Annotated[int, typer.Argument(help="The alert's id.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """One alert with its evidence, as JSON."""
    typer.echo(json.dumps(alert_document(_one(data_dir, alert_id)), indent=2))


def _handle(data_dir: DataDir, alert_id: int, status: AlertStatus, by: str, why: str) -> None:
    with Node(data_dir) as node, node.store.write() as conn:
        alert = node.store.alerts.set_status(
            conn,
            alert_id,
            status,
            by=by or getpass.getuser(),
            note=why,
            now=int(time.time() * 1000),
        )
    if alert is None:
        raise AlertNotFoundError(f"no alert {alert_id}")
    console.print(f"alert {alert.id}: {alert.status.name.lower()} by {alert.handled_by}")


@app.command()
@reports_errors
def ack(
    alert_id: Annotated[int, typer.Argument(help="The alert's id.")],
    why: Why = "",
    by: By = "",
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Acknowledge an alert: someone is on it."""
    _handle(data_dir, alert_id, AlertStatus.ACKNOWLEDGED, by, why)


@app.command()
@reports_errors
def resolve(
    alert_id: Annotated[int, typer.Argument(help="The alert's id.")],
    why: Why = "",
    by: By = "",
    false_positive: Annotated[
        bool, typer.Option("--false-positive", help="Nothing was wrong: it stays closed.")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Resolve an alert, or dismiss it as a false positive.

    A resolved alert opens again if its rule finds it again; a false positive stays closed.
    """
    status = AlertStatus.FALSE_POSITIVE if false_positive else AlertStatus.RESOLVED
    _handle(data_dir, alert_id, status, by, why)
