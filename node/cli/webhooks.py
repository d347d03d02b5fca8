"""``tracenode webhook add|list|rotate|log|redeliver``: partners' webhook subscriptions, in
the node's store (works while ``serve`` runs: it opens the store, not the chain)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from node.cli.apikeys import DatabaseUrl, _store
from node.cli.common import DEFAULT_DATA_DIR, DataDir, console, reports_errors
from node.events.identifiers import parse_identifier
from node.exceptions import ConfigurationError, WebhookNotFoundError
from node.store.models import AlertSeverity, DeliveryStatus
from node.webhooks.addresses import check_url
from node.webhooks.messages import EVENT_TYPES, new_secret

app = typer.Typer(help="Webhooks: who is told of alerts, and how it went.", no_args_is_help=True)


def _now() -> int:
    return int(time.time() * 1000)


@app.command()
@reports_errors
def add(
    url: Annotated[str, typer.Argument(help="The receiver: http(s), a public address.")],
    event: Annotated[
        list[str] | None,
        typer.Option(help=f"A message type to send (repeatable): {', '.join(EVENT_TYPES)}."),
    ] = None,
    min_severity: Annotated[str, typer.Option(help="low, medium, high or critical.")] = "low",
    batch: Annotated[str | None, typer.Option(help="Only alerts about this batch.")] = None,
    label: Annotated[str, typer.Option(help="A note for listings.")] = "",
    allow_loopback: Annotated[
        bool, typer.Option("--allow-loopback", help="Allow a loopback receiver (testing only).")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Subscribe a receiver; print its signing secret.

    This is the only time the secret is shown.
    """
    types = sorted(set(event or EVENT_TYPES))
    unknown = set(types) - set(EVENT_TYPES)
    if unknown:
        raise ConfigurationError(f"unknown message types {sorted(unknown)}: {EVENT_TYPES}")
    try:
        severity = AlertSeverity[min_severity.upper()]
    except KeyError:
        raise ConfigurationError(f"--min-severity {min_severity!r}: low ... critical") from None
    checked = check_url(url, allow_loopback=allow_loopback)
    batch_id = bytes(parse_identifier(batch).batch_id) if batch else None
    with _store(data_dir, database_url) as store, store.write() as conn:
        endpoint = store.webhooks.add_endpoint(
            conn,
            url=checked,
            event_types=types,
            min_severity=severity,
            batch_id=batch_id,
            label=label,
            secret=new_secret(),
            now=_now(),
        )
    console.print(f"[green]added[/] webhook {endpoint.id} → {endpoint.url}", highlight=False)
    typer.echo(endpoint.secret)


@app.command(name="list")
@reports_errors
def list_webhooks(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Subscriptions (without their secrets)."""
    with _store(data_dir, database_url) as store, store.read() as conn:
        endpoints = store.webhooks.endpoints(conn, active=False)
    if as_json:
        rows = [
            {
                "id": e.id,
                "url": e.url,
                "events": list(e.event_types),
                "minSeverity": e.min_severity.name.lower(),
                "label": e.label,
                "disabledAt": e.disabled_at,
            }
            for e in endpoints
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Webhooks")
    for column in ("id", "url", "events", "min severity", "label", "state"):
        table.add_column(column, overflow="fold")
    for e in endpoints:
        state = "disabled" if e.disabled_at else "active"
        table.add_row(
            str(e.id), e.url, ",".join(e.event_types), e.min_severity.name.lower(), e.label, state
        )
    console.print(table)


@app.command()
@reports_errors
def rotate(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    overlap: Annotated[
        int, typer.Option(help="Seconds the old secret keeps signing too.", min=0)
    ] = 86_400,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Print a new signing secret.

    The old secret signs too for --overlap seconds, so the receiver can switch over.
    """
    with _store(data_dir, database_url) as store, store.write() as conn:
        endpoint = store.webhooks.rotate(
            conn, webhook_id, secret=new_secret(), overlap_until=_now() + overlap * 1000
        )
    if endpoint is None:
        raise WebhookNotFoundError(f"no webhook {webhook_id}")
    typer.echo(endpoint.secret)


@app.command()
@reports_errors
def log(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    dead: Annotated[bool, typer.Option("--dead", help="The dead letters only.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Its deliveries, newest first."""
    status = DeliveryStatus.DEAD if dead else None
    with _store(data_dir, database_url) as store, store.read() as conn:
        rows = store.webhooks.log(conn, endpoint_id=webhook_id, status=status)
    table = Table(title=f"Deliveries of webhook {webhook_id}")
    for column in ("id", "message", "type", "status", "attempts", "last answer"):
        table.add_column(column, overflow="fold")
    for d in rows:
        answer = str(d.last_status) if d.last_status is not None else d.last_error
        table.add_row(
            str(d.id), d.message_id, d.event_type, d.status.name.lower(), str(d.attempts), answer
        )
    console.print(table)


@app.command()
@reports_errors
def redeliver(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (see `webhook log`).")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a delivered or dead message again."""
    with _store(data_dir, database_url) as store, store.write() as conn:
        original = store.webhooks.redeliver(conn, delivery_id, now=_now())
    if original is None:
        raise WebhookNotFoundError(f"no delivery {delivery_id}")
    console.print(f"delivery {delivery_id} ({original.message_id}) queued again")
