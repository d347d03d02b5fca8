"""``tracenode challenge``: prove an anchor-only window fraudulent to CustodyChallenge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from node.chain.reader import ChainReader, Contracts
from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    console,
    password,
    reports_errors,
    show,
    table,
)
from node.context import Node
from node.exceptions import ConfigurationError
from node.proofs.bundle import loads
from node.proofs.challenge import Claim, claims, send_claim, simulate
from node.proofs.verify import verify_bundle
from node.provenance.service import ProvenanceService


@reports_errors
def challenge(
    target: Annotated[
        str,
        typer.Argument(
            help="A proof bundle (JSON file), or a batch this node holds (GS1 Digital Link, "
            "EPC URN, handle, or 0x batch id): its bundle is exported and checked.",
            metavar="BUNDLE|BATCH",
        ),
    ],
    root: Annotated[
        str | None, typer.Option(help="Only claims that mark this window (0x event root).")
    ] = None,
    event: Annotated[
        str | None, typer.Option(help="Only claims about this event (0x event hash).")
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Send the first claim the contract accepts, from the node key (asks the "
            "keystore password: TRACENODE_PASSWORD, else a prompt).",
        ),
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Build the CustodyChallenge calls that prove an anchor-only window fraudulent: verify
    the bundle, turn each event that failed its replay into a claim (and each pair of
    contradicting transitions), and ask the contract (eth_call) which it accepts. Exit 0
    when one would mark (or, with --send, marked) a window, 1 when none does."""
    path = Path(target)
    with Node(data_dir) as node:
        address = node.deployment.custody_challenge
        if not address:
            raise ConfigurationError(f"{data_dir}'s deployment has no CustodyChallenge")
        if path.is_file():
            bundle = loads(path.read_text())
        else:
            service = ProvenanceService(node.store, node.w3, node.deployment)
            bundle = service.export(service.resolve(target))
        d = node.deployment
        reader = ChainReader(
            node.w3,
            Contracts(d.participant_registry, d.batch_registry, d.anchor_registry),
            challenge=address,
        )
        report = verify_bundle(bundle, reader)
        found = [c for c in claims(bundle, report, reader) if _wanted(c, root, event)]
        sender = node.config.node_address
        verdicts = [(c, simulate(node.w3, address, c, sender)) for c in found]
        accepted = next((c for c, refused in verdicts if not refused), None)
        sent = None
        if send and accepted is not None:
            sent = send_claim(node.w3, address, accepted, node.node_key(password()))
    if as_json:
        typer.echo(json.dumps(_json(verdicts, accepted, sent), indent=2))
    else:
        _show(verdicts, accepted, sent, report.ok)
    raise typer.Exit(0 if accepted is not None else 1)


def _wanted(claim: Claim, root: str | None, event: str | None) -> bool:
    return (root is None or claim.root == _hash(root, "--root")) and (
        event is None or claim.event_hash == _hash(event, "--event")
    )


def _hash(text: str, option: str) -> bytes:
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        value = b""
    if len(value) != 32:
        raise ConfigurationError(f"{option} wants 0x and 64 hex digits, not {text[:80]!r}")
    return value


def _json(
    verdicts: list[tuple[Claim, str]], accepted: Claim | None, sent: bytes | None
) -> dict[str, Any]:
    return {
        "claims": [
            {
                "function": c.function,
                "root": "0x" + c.root.hex(),
                "eventHash": "0x" + c.event_hash.hex(),
                "batchId": "0x" + c.batch_id.hex(),
                "why": c.why,
                "contract": refused or "would mark the window fraudulent",
                "accepted": not refused,
            }
            for c, refused in verdicts
        ],
        "marks": None if accepted is None else "0x" + accepted.root.hex(),
        "txHash": None if sent is None else "0x" + sent.hex(),
    }


def _show(
    verdicts: list[tuple[Claim, str]], accepted: Claim | None, sent: bytes | None, ok: bool
) -> None:
    if not verdicts:
        console.print(
            "the bundle verifies: no claim to make" if ok else "no anchor-only claim to make"
        )
        return
    rows = table("Claims", "call", "window", "event", "batch", "the contract says")
    for claim, refused in verdicts:
        rows.add_row(
            claim.function,
            "0x" + claim.root.hex()[:12],
            "0x" + claim.event_hash.hex()[:12],
            "0x" + claim.batch_id.hex()[:12],
            refused or "[green]would mark the window fraudulent[/]",
        )
    show(rows)
    if sent is not None and accepted is not None:
        console.print(
            f"[green]sent[/] 0x{sent.hex()}: window 0x{accepted.root.hex()} marked fraudulent"
        )
    elif accepted is not None:
        console.print("send it with --send")
