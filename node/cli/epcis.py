"""``tracenode epcis sign|capture``: EPCIS 2.0 documents signed and captured on a local node."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.markup import escape

from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    commands,
    console,
    errors,
    password,
    reports_errors,
)
from node.cli.events import ApiKey, Gateway, OutboxDir, Retries, retry_policy
from node.context import Node
from node.epcis.capture import (
    CaptureErrorBehaviour,
    EpcisResult,
    Outcome,
    capture,
    sign_capture,
)
from node.epcis.document import load_document, load_json
from node.epcis.jobs import job_path, record_job
from node.exceptions import ConfigurationError, EpcisError, GatewayUnavailableError
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
        list[Path],
        typer.Option(
            "--key",
            help="An encrypted key file; repeat it for a document of several parties: each "
            "event is signed by the party that performed it, else by the first key.",
            dir_okay=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the request (default: stdout)."),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Map DOCUMENT to TraceEvents against the node's batch heads and nonces, sign them,
    and write the signed capture request. The password of the --key files (one for all)
    comes from TRACENODE_PASSWORD, else a prompt."""
    secret = password()
    first, *others = [bytes(load_keystore(path, secret).key) for path in key]
    parsed = load_document(document.read_bytes(), what="document")
    with Node(data_dir) as node:
        node.sync_participants()
        signed = sign_capture(
            store=node.store,
            domain=node.domain,
            private_key=first,
            document=parsed,
            others=others,
        )
    request = signed.request
    for note in signed.notes:  # lots first seen mid-chain that the signer may not adopt
        errors.print(f"[yellow]anchored-only[/] {escape(note)}", highlight=False)
    for error in signed.refused:
        errors.print(
            f"[yellow]skipped[/] event {error.event_index} {escape(f'[{error.code}]')} "
            f"{escape(str(error))} ({escape(error.pointer)})",
            highlight=False,
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
    rollback: Annotated[
        bool,
        typer.Option(
            "--rollback",
            help="All or nothing: one refused event refuses the whole document "
            "(GS1-Capture-Error-Behaviour: rollback). Local node only.",
        ),
    ] = False,
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
    asynchronous: Annotated[
        bool,
        typer.Option(
            "--async",
            help="With --gateway: capture asynchronously (Prefer: respond-async) and wait "
            "for the capture job, at most --wait seconds.",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0.0,
            help="With --async: seconds to wait for the capture job (the capture stays in "
            "--outbox beyond, and sending it again captures nothing twice).",
        ),
    ] = 600.0,
) -> None:
    """Capture a signed request on the local node: an outcome per event (captured,
    anchored-only, duplicate, or refused with its reason; the others are captured all the
    same unless --rollback). Exit status 1 when nothing of the document is held. With
    --gateway, send it to a remote gateway through the SDK instead; there REQUEST may
    also be an EPCIS document, signed on the way with --key. The password of the --key
    file comes from TRACENODE_PASSWORD, else a prompt."""
    parsed = _read(request, "capture request")
    if asynchronous and gateway is None:
        raise ConfigurationError("--async captures through a gateway: give --gateway")
    if gateway is not None:
        remote, location = _capture_remote(
            gateway, api_key, outbox, key, parsed, retries, wait if asynchronous else None
        )
        if as_json:
            typer.echo(json.dumps(remote, indent=2))
            return
        for item in remote:
            _show(item)
        if location is not None:
            console.print(f"capture job {escape(location)}")
        return
    behaviour = CaptureErrorBehaviour.ROLLBACK if rollback else CaptureErrorBehaviour.PROCEED
    with Node(data_dir) as node:
        node.sync_participants()
        started = int(time.time() * 1000)
        try:
            results = capture(ingest=node.ingest, request=parsed, behaviour=behaviour)
        except EpcisError as error:
            outcomes = [r for r in error.outcomes if isinstance(r, EpcisResult)]
            for outcome in outcomes:
                _show(outcome.as_json())
            if outcomes:
                _job(node, behaviour, outcomes, started, as_json=False)
            raise
        _job(node, behaviour, results, started, as_json=as_json)
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in results], indent=2))
    else:
        for result in results:
            _show(result.as_json())
    if results and not any(r.stored for r in results):
        raise next(r.refusal for r in results if r.refusal is not None)


def _job(
    node: Node,
    behaviour: CaptureErrorBehaviour,
    results: list[EpcisResult],
    started: int,
    *,
    as_json: bool,
) -> None:
    """Record the capture as a job, the operator's (docs/epcis.md, "Capture jobs"), and
    say where the gateway serves it (not with --json: stdout stays the results' JSON)."""
    job = record_job(
        node.store,
        submitter=None,
        behaviour=behaviour,
        results=results,
        created_at=started,
        finished_at=int(time.time() * 1000),
    )
    if not as_json:
        console.print(f"capture job {escape(job_path(job.capture_id))}")


_COLOURS: Final = {
    str(Outcome.CAPTURED): "green",
    str(Outcome.ANCHORED_ONLY): "cyan",
    str(Outcome.DUPLICATE): "yellow",
    str(Outcome.REFUSED): "red",
}


def _show(item: dict[str, Any]) -> None:
    """One event's outcome, as the node's or the gateway's JSON gives it."""
    outcome = str(item.get("outcome"))
    hashes = ", ".join(str(h)[:18] + "…" for h in item.get("traceEvents", []))
    line = (
        f"[{_COLOURS.get(outcome, 'yellow')}]{escape(outcome)}[/] event {item.get('index')} "
        f"{escape(str(item.get('eventHashId')))} {hashes}"
    )
    reason = item.get("refusal") or item.get("problem")
    if isinstance(reason, dict):
        line += (
            f" {escape('[' + str(reason.get('code')) + ']')} {escape(str(reason.get('detail')))}"
        )
    if isinstance(item.get("note"), str):  # lots first seen mid-chain (docs/epcis.md)
        line += f" — {escape(item['note'])}"
    console.print(line)


def _capture_remote(
    url: str,
    api_key: str | None,
    outbox: Path | None,
    key: Path | None,
    parsed: Any,
    retries: int,
    wait: float | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """``--gateway``: capture through the SDK (asynchronously, the job waited for at most
    ``wait`` seconds, with ``--async``); the gateway's result per EPCIS event, and the URL
    of its capture job (None while it waits in the outbox)."""
    signed = isinstance(parsed, dict) and "traceEvents" in parsed
    if not signed and key is None:
        raise ConfigurationError(
            "an unsigned EPCIS document needs --key to be signed (or sign it with "
            "`tracenode epcis sign` first)"
        )
    signer = load_keystore(key, password()) if key is not None and not signed else None
    with Client(
        url,
        api_key=api_key,
        key=signer,
        outbox=outbox,
        retry=retry_policy(retries),
        capture_wait=wait,
    ) as client:
        delivery = client.send_capture(parsed) if signed else client.capture_epcis(parsed)
    if delivery.outcome == "queued":
        if outbox is None:
            raise GatewayUnavailableError(
                "the gateway did not take the capture; give --outbox to keep it for later"
            )
        console.print(f"[yellow]queued[/] in {outbox}: run this again (with --outbox) to send it")
    return list(delivery.results), (
        None if delivery.location is None else url.rstrip("/") + delivery.location
    )
