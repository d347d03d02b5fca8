"""``tracenode epcis sign|capture``: EPCIS 2.0 documents signed and captured on a local node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    commands,
    console,
    password,
    reports_errors,
)
from node.cli.events import ApiKey, Gateway, OutboxDir, Retries, retry_policy
from node.context import Node
from node.epcis.capture import Outcome, capture, sign_document
from node.epcis.document import load_document, load_json
from node.exceptions import ConfigurationError, EpcisEventRejectedError, GatewayUnavailableError
from node.keys.keystore import load_keystore
from node.sdk import Client

app = commands("Sign and capture EPCIS 2.0 documents.")


def _read(path: Path, what: str) -> Any:
    return load_json(path.read_bytes(), what=what)


@app.command()
@reports_errors
def sign(
    document: Annotated[
        Path,
        typer.Argument(
            help="EPCIS 2.0 JSON / JSON-LD, or EPCIS 2.0 / 1.2 XML, document.", dir_okay=False
        ),
    ],
    key: Annotated[
        Path, typer.Option("--key", help="The signer's encrypted key file.", dir_okay=False)
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the request (default: stdout)."),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Map DOCUMENT to TraceEvents against the node's batch heads and nonces, sign them,
    and write the signed capture request. The password of the --key file comes from
    TRACENODE_PASSWORD, else a prompt."""
    signer = load_keystore(key, password())
    parsed = load_document(document.read_bytes(), what="document")
    with Node(data_dir) as node:
        node.sync_participants()
        request = sign_document(
            store=node.store, domain=node.domain, private_key=bytes(signer.key), document=parsed
        )
    text = json.dumps(request, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(
            f"signed {len(request['traceEvents'])} TraceEvent(s) for {document.name} → {output}"
        )


@app.command(name="capture")
@reports_errors
def capture_command(
    request: Annotated[
        Path, typer.Argument(help="A signed request (from tracenode epcis sign).", dir_okay=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    gateway: Gateway = None,
    api_key: ApiKey = None,
    outbox: OutboxDir = None,
    retries: Retries = 5,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="With --gateway: sign an unsigned EPCIS document with this key file, from "
            "the gateway's batch heads and nonces.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Capture a signed request on the local node: every event accepted, or none. With
    --gateway, send it to a remote gateway through the SDK instead; there REQUEST may
    also be an EPCIS document, signed on the way with --key. The password of the --key
    file comes from TRACENODE_PASSWORD, else a prompt."""
    parsed = _read(request, "capture request")
    if gateway is not None:
        remote = _capture_remote(gateway, api_key, outbox, key, parsed, retries)
        if as_json:
            typer.echo(json.dumps(remote, indent=2))
            return
        for item in remote:
            colour = "green" if item.get("outcome") == "accepted" else "yellow"
            hashes = ", ".join(str(h)[:18] + "…" for h in item.get("traceEvents", []))
            console.print(
                f"[{colour}]{escape(str(item.get('outcome')))}[/] event {item.get('index')} "
                f"{escape(str(item.get('eventHashId')))} {hashes}"
            )
        return
    with Node(data_dir) as node:
        node.sync_participants()
        try:
            results = capture(ingest=node.ingest, request=parsed)
        except EpcisEventRejectedError as error:
            cause = error.cause
            console.print(
                f"[red]rejected[/] event {error.event_index} "
                f"{escape(f'[{cause.code}]')} {escape(str(cause))}"
            )
            raise
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in results], indent=2))
        return
    for result in results:
        colour = "green" if result.outcome is Outcome.ACCEPTED else "yellow"
        hashes = ", ".join("0x" + h.hex()[:16] + "…" for h in result.trace_events)
        console.print(
            f"[{colour}]{result.outcome}[/] event {result.index} {result.hash_id} {hashes}"
        )


def _capture_remote(
    url: str, api_key: str | None, outbox: Path | None, key: Path | None, parsed: Any, retries: int
) -> list[dict[str, Any]]:
    """``--gateway``: capture through the SDK; the gateway's result per EPCIS event."""
    signed = isinstance(parsed, dict) and "traceEvents" in parsed
    if not signed and key is None:
        raise ConfigurationError(
            "an unsigned EPCIS document needs --key to be signed (or sign it with "
            "`tracenode epcis sign` first)"
        )
    signer = load_keystore(key, password()) if key is not None and not signed else None
    with Client(
        url, api_key=api_key, key=signer, outbox=outbox, retry=retry_policy(retries)
    ) as client:
        delivery = client.send_capture(parsed) if signed else client.capture_epcis(parsed)
    if delivery.outcome == "queued":
        if outbox is None:
            raise GatewayUnavailableError(
                "the gateway did not take the capture; give --outbox to keep it for later"
            )
        console.print(f"[yellow]queued[/] in {outbox}: run this again (with --outbox) to send it")
    return list(delivery.results)
