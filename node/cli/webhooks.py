"""``tracenode webhook add|update|list|rotate|log|redeliver``: partners' webhook subscriptions, in
the node's store (works while ``serve`` runs: it opens the store, not the chain)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from node.cli.apikeys import DatabaseUrl, _store
from node.cli.common import DEFAULT_DATA_DIR, DataDir, console, reports_errors
from node.exceptions import WebhookNotFoundError, WebhookSubscriptionError
from node.store.models import DeliveryStatus
from node.store.records import Subscription
from node.webhooks.addresses import check_url
from node.webhooks.messages import ALERT_TYPES, MESSAGE_TYPES, new_secret
from node.webhooks.subscriptions import changed, subscription

app = typer.Typer(help="Webhooks: who is told of what, and how it went.", no_args_is_help=True)


def _now() -> int:
    return int(time.time() * 1000)


TypeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        "--event",
        help=f"A message type to send (repeatable): {', '.join(MESSAGE_TYPES)}.",
    ),
]
BatchOption = Annotated[
    list[str] | None,
    typer.Option("--batch", help="Only messages about this batch, any spelling (repeatable)."),
]
PrefixOption = Annotated[
    list[str] | None,
    typer.Option(
        "--prefix",
        help="... or about batches whose identifiers start so (repeatable): a GS1 company "
        "prefix (digits), a product (its GTIN's Digital Link) or a handle prefix (88.123).",
    ),
]
SeverityOption = Annotated[
    str | None, typer.Option(help="Alerts of this grade and up: low, medium, high or critical.")
]
LoopbackOption = Annotated[
    bool, typer.Option("--allow-loopback", help="Allow a loopback receiver (testing only).")
]


@app.command()
@reports_errors
def add(
    url: Annotated[str, typer.Argument(help="The receiver: http(s), a public address.")],
    event_type: TypeOption = None,
    min_severity: SeverityOption = None,
    batch: BatchOption = None,
    prefix: PrefixOption = None,
    label: Annotated[str, typer.Option(help="A note for listings.")] = "",
    allow_loopback: LoopbackOption = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Subscribe a receiver; print its signing secret.

    Without --type it gets alerts (raised and updated); without --batch or --prefix,
    messages about every batch. This is the only time the secret is shown.
    """
    wanted = subscription(
        types=event_type or ALERT_TYPES,
        min_severity=min_severity or "low",
        batches=batch or (),
        prefixes=prefix or (),
    )
    checked = check_url(url, allow_loopback=allow_loopback)
    with _store(data_dir, database_url) as store, store.write() as conn:
        endpoint = store.webhooks.add_endpoint(
            conn,
            url=checked,
            subscription=wanted,
            label=label,
            secret=new_secret(),
            now=_now(),
        )
    console.print(f"[green]added[/] webhook {endpoint.id} → {endpoint.url}", highlight=False)
    typer.echo(endpoint.secret)


@app.command()
@reports_errors
def update(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    event_type: TypeOption = None,
    min_severity: SeverityOption = None,
    batch: BatchOption = None,
    prefix: PrefixOption = None,
    every_batch: Annotated[
        bool, typer.Option("--every-batch", help="Drop its batches and prefixes.")
    ] = False,
    label: Annotated[str | None, typer.Option(help="A note for listings.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Change what a receiver subscribes to.

    Each option given replaces the current one (--type, --batch and --prefix as a whole
    list)."""
    if every_batch and (batch or prefix):
        raise WebhookSubscriptionError("--every-batch drops batches and prefixes: give neither")
    with _store(data_dir, database_url) as store, store.write() as conn:
        current = store.webhooks.endpoint(conn, webhook_id)
        if current is None:
            raise WebhookNotFoundError(f"no webhook {webhook_id}")
        wanted = changed(
            current,
            types=event_type,
            min_severity=min_severity,
            batches=[] if every_batch else batch,
            prefixes=[] if every_batch else prefix,
        )
        store.webhooks.update_endpoint(
            conn,
            webhook_id,
            subscription=wanted,
            label=label,
        )
    console.print(f"webhook {webhook_id}: {_scope_text(wanted)}")


def _scope_text(wanted: Subscription) -> str:
    if not wanted.batch_ids and not wanted.prefixes:
        return "every batch"
    batches = ["0x" + b.hex() for b in wanted.batch_ids]
    return ", ".join(batches + [f"{p}*" for p in wanted.prefixes])


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
                "events": list(e.subscription.types),
                "minSeverity": e.subscription.min_severity.name.lower(),
                "batches": ["0x" + b.hex() for b in e.subscription.batch_ids],
                "prefixes": list(e.subscription.prefixes),
                "label": e.label,
                "disabledAt": e.disabled_at,
            }
            for e in endpoints
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Webhooks")
    for column in ("id", "url", "events", "min severity", "scope", "label", "state"):
        table.add_column(column, overflow="fold")
    for e in endpoints:
        state = "disabled" if e.disabled_at else "active"
        table.add_row(
            str(e.id),
            e.url,
            ",".join(e.subscription.types),
            e.subscription.min_severity.name.lower(),
            _scope_text(e.subscription),
            e.label,
            state,
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
