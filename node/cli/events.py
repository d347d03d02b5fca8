"""``tracenode event submit``: sign events with a participant's key file and ingest them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils.address import is_address
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    commands,
    console,
    password,
    reports_errors,
)
from node.context import Node
from node.events.compose import OUTSIDE
from node.events.digits import is_decimal
from node.events.jsonsafe import loads_bounded
from node.events.submission import SignedEvent, parse_submission
from node.events.typed_data import Action
from node.exceptions import (
    ConfigurationError,
    EventRejectedError,
    GatewayUnavailableError,
    InvalidEventError,
)
from node.ingest.compose import compose_event
from node.ingest.service import Outcome
from node.keys.keystore import load_keystore
from node.sdk import Client, Delivery, RetryPolicy

app = commands("Sign and submit events.")

Gateway = Annotated[
    str | None,
    typer.Option(
        "--gateway",
        help="A remote gateway's URL: sign and submit through the SDK, not a local data dir.",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="TRACENODE_API_KEY", help="With --gateway: the participant's API key."
    ),
]
Retries = Annotated[
    int,
    typer.Option(
        "--retries",
        min=0,
        max=100,
        help="With --gateway: how often to retry a request the network or the gateway "
        "failed (backoff from 0.25 s, doubling up to 8 s; 429 waits as asked).",
    ),
]
OutboxDir = Annotated[
    Path | None,
    typer.Option(
        "--outbox",
        help="With --gateway: keep signed events here until the gateway has them; a later "
        "run sends what is left first (without it, an unreachable gateway is an error).",
        file_okay=False,
    ),
]

BULK = 1000


@app.command()
@reports_errors
def submit(
    keystore: Annotated[
        Path | None, typer.Option(help="The signer's encrypted key file.", dir_okay=False)
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="commission, observe, ship, receive, transform, recall, destroy, ..."),
    ] = None,
    batch: Annotated[
        str | None, typer.Option(help="The batch: Digital Link, EPC URN, handle or 0x id.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            help="SHIP: the receiver's participant id or address, or 'outside' for a party "
            "outside the network (name it in the payload's destination)."
        ),
    ] = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", help="TRANSFORM / AGGREGATE: an input batch.")
    ] = None,
    outputs: Annotated[
        list[str] | None, typer.Option("--output", help="TRANSFORM: an output batch.")
    ] = None,
    product: Annotated[
        str, typer.Option(help="COMMISSION / TRANSFORM: the product (e.g. its GTIN URI).")
    ] = "",
    quantity: Annotated[int, typer.Option(help="COMMISSION / TRANSFORM: the quantity.", min=0)] = 0,
    location: Annotated[str, typer.Option(help="Where (e.g. an SGLN URN).")] = "",
    event_time: Annotated[
        int | None, typer.Option(help="Milliseconds since the epoch (default: now).")
    ] = None,
    payload: Annotated[
        Path | None, typer.Option(help="JSON file with the event's details.", dir_okay=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="A JSON list of signed submissions to ingest in bulk.", dir_okay=False),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    gateway: Gateway = None,
    api_key: ApiKey = None,
    outbox: OutboxDir = None,
    retries: Retries = 5,
) -> None:
    """Sign one event with --keystore and ingest it, or ingest a file of signed submissions.
    With --gateway, both go to a remote gateway through the SDK instead (docs/sdk.md).
    The password of the --keystore file comes from TRACENODE_PASSWORD, else a prompt."""
    if gateway is not None:
        _submit_remote(
            gateway,
            api_key,
            outbox,
            retries=retries,
            file=file,
            keystore=keystore,
            action=action,
            spec={
                "batch": batch,
                "to": to,
                "inputs": inputs or [],
                "outputs": outputs or [],
                "product": product,
                "quantity": quantity,
                "location": location,
                "event_time": event_time,
                "payload": loads_bounded(payload.read_bytes()) if payload else None,
            },
        )
        return
    if file is not None:
        _submit_file(file, data_dir)
        return
    if keystore is None or action is None:
        raise ConfigurationError("give --keystore and --action (or --file with signed submissions)")
    try:
        kind = Action[action.upper()]
    except KeyError:
        raise ConfigurationError(f"unknown action {action!r}") from None
    signer = load_keystore(keystore, password())
    details = loads_bounded(payload.read_bytes()) if payload else None
    with Node(data_dir) as node:
        node.sync_participants()
        with node.store.read() as conn:
            counterparty = _receiver(node, conn, to) if kind is Action.SHIP else bytes(20)
        signed = compose_event(
            store=node.store,
            domain=node.domain,
            private_key=bytes(signer.key),
            action=kind,
            batch=batch,
            inputs=inputs or [],
            outputs=outputs or [],
            counterparty=counterparty,
            product=product,
            quantity=quantity,
            location=location,
            payload=details,
            event_time=event_time,
        )
        result = node.ingest.submit(signed)
    console.print(f"[green]{result.outcome}[/] {kind.name} event 0x{result.event_hash.hex()}")


def _submit_file(file: Path, data_dir: Path) -> None:
    documents: Any = loads_bounded(file.read_bytes())
    if not isinstance(documents, list):
        raise InvalidEventError(f"{file} must hold a JSON list of submissions")
    counts = dict.fromkeys(Outcome, 0)
    with Node(data_dir, workers=os.cpu_count() or 1) as node:
        node.sync_participants()
        columns = (
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("events", total=len(documents))
            for start in range(0, len(documents), BULK):
                chunk = documents[start : start + BULK]
                parsed: list[SignedEvent] = []
                for offset, document in enumerate(chunk):
                    try:
                        parsed.append(parse_submission(document))
                    except EventRejectedError as error:
                        counts[Outcome.REJECTED] += 1
                        problem = escape(f"[{error.code}] {error}")
                        console.print(f"[red]#{start + offset} rejected[/] {problem}")
                for result in node.ingest.submit_many(parsed):
                    counts[result.outcome] += 1
                    if result.error is not None:
                        problem = escape(f"[{result.error.code}] {result.error}")
                        console.print(f"[red]rejected[/] 0x{result.event_hash.hex()} {problem}")
                progress.advance(task, len(chunk))
    console.print(", ".join(f"{outcome}: {count}" for outcome, count in counts.items()))


def _receiver(node: Node, conn: Any, to: str | None) -> bytes:
    if to is None:
        raise ConfigurationError(
            "SHIP needs --to (the receiver's participant id or address, or 'outside')"
        )
    if to == OUTSIDE:
        return bytes(20)
    if is_address(to):
        return bytes.fromhex(to[2:])
    if not is_decimal(to):
        raise ConfigurationError(f"--to {to!r} is neither a participant id nor an address")
    row = node.store.participants.get(conn, int(to))
    if row is None:
        raise ConfigurationError(f"no participant {to}")
    return row.key


def _submit_remote(
    url: str,
    api_key: str | None,
    outbox: Path | None,
    *,
    retries: int,
    file: Path | None,
    keystore: Path | None,
    action: str | None,
    spec: dict[str, Any],
) -> None:
    """``--gateway``: the same submission through the SDK (outbox, retries, idempotent)."""
    if file is not None:
        documents: Any = loads_bounded(file.read_bytes())
        if not isinstance(documents, list):
            raise InvalidEventError(f"{file} must hold a JSON list of submissions")
        parsed: list[SignedEvent] = []
        refused = 0
        for index, document in enumerate(documents):
            try:
                parsed.append(parse_submission(document))
            except EventRejectedError as error:
                refused += 1
                console.print(f"[red]#{index} rejected[/] {escape(f'[{error.code}] {error}')}")
        with Client(url, api_key=api_key, outbox=outbox, retry=retry_policy(retries)) as client:
            _print_remote(_earlier(client), None, 0)
            deliveries = client.send(parsed) if parsed else []
            left = client.outbox.count()
        _print_remote(deliveries, outbox, left)
        counts = {o: sum(d.outcome == o for d in deliveries) for o in ("accepted", "duplicate")}
        console.print(
            f"accepted: {counts['accepted']}, duplicate: {counts['duplicate']}, "
            f"rejected: {refused + sum(d.outcome == 'rejected' for d in deliveries)}, "
            f"queued: {sum(d.outcome == 'queued' for d in deliveries)}"
        )
        return
    if keystore is None or action is None:
        raise ConfigurationError("give --keystore and --action (or --file with signed submissions)")
    signer = load_keystore(keystore, password())
    with Client(
        url, api_key=api_key, key=signer, outbox=outbox, retry=retry_policy(retries)
    ) as client:
        _print_remote(_earlier(client), None, 0)
        delivery = client.submit(action, **spec)
        left = client.outbox.count()
    _print_remote([delivery], outbox, left)


def _earlier(client: Client) -> list[Delivery]:
    """What an earlier run left in the outbox, sent first."""
    return client.flush().deliveries if client.outbox.count() else []


def retry_policy(retries: int) -> RetryPolicy:
    return RetryPolicy(attempts=retries + 1)


def _print_remote(deliveries: list[Delivery], outbox: Path | None, left: int) -> None:
    for delivery in deliveries:
        if delivery.outcome == "rejected" and delivery.problem is not None:
            problem = escape(f"[{delivery.problem.get('code')}] {delivery.problem.get('detail')}")
            console.print(f"[red]rejected[/] {delivery.event_hash} {problem}")
        elif delivery.outcome != "queued":
            console.print(f"[green]{delivery.outcome}[/] {delivery.event_hash}")
    if left and outbox is None:
        raise GatewayUnavailableError(
            f"the gateway did not take {left} event(s); give --outbox to keep them for later"
        )
    if left:
        console.print(f"[yellow]queued[/] {left} event(s) wait in {outbox}: run again to send")
