"""``tracenode event submit``: sign events with a participant's key file and ingest them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils.address import is_address
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from node.cli.common import DEFAULT_DATA_DIR, DataDir, console, password, reports_errors
from node.context import Node
from node.events.jsonsafe import loads_bounded
from node.events.submission import SignedEvent, parse_submission
from node.events.typed_data import Action
from node.exceptions import ConfigurationError, EventRejectedError, InvalidEventError
from node.ingest.compose import compose_event
from node.ingest.service import Outcome
from node.keys.keystore import load_keystore

app = typer.Typer(help="Sign and submit events.", no_args_is_help=True)

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
        str | None, typer.Option(help="SHIP: the receiver's participant id or address.")
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
) -> None:
    """Sign one event with --keystore and ingest it, or ingest a file of signed submissions."""
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
        raise ConfigurationError("SHIP needs --to (the receiver's participant id or address)")
    if is_address(to):
        return bytes.fromhex(to[2:])
    if not to.isdigit():
        raise ConfigurationError(f"--to {to!r} is neither a participant id nor an address")
    row = node.store.participant(conn, int(to))
    if row is None:
        raise ConfigurationError(f"no participant {to}")
    return bytes(row["key"])
