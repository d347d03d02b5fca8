"""``tracenode epcis sign|capture``: EPCIS 2.0 documents signed and captured on a local node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from node.cli.common import DEFAULT_DATA_DIR, DataDir, console, password, reports_errors
from node.context import Node
from node.epcis.capture import Outcome, capture, sign_document
from node.epcis.document import load_json
from node.exceptions import EpcisEventRejectedError
from node.keys.keystore import load_keystore

app = typer.Typer(help="Sign and capture EPCIS 2.0 documents.", no_args_is_help=True)


def _read(path: Path, what: str) -> Any:
    return load_json(path.read_bytes(), what=what)


@app.command()
@reports_errors
def sign(
    document: Annotated[
        Path, typer.Argument(help="EPCIS 2.0 JSON / JSON-LD document.", dir_okay=False)
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
    and write the signed capture request."""
    signer = load_keystore(key, password())
    parsed = _read(document, "document")
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
) -> None:
    """Capture a signed request on the local node: every event accepted, or none."""
    parsed = _read(request, "capture request")
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
