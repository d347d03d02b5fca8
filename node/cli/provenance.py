"""``tracenode provenance | trace | export | verify``: a batch's history, where a lot went,
and the proof bundle anyone can check against the chain."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from eth_utils.address import to_checksum_address
from rich.markup import escape
from web3 import Web3

from node.chain.embedded import open_embedded_chain
from node.chain.reader import ChainReader, Contracts
from node.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    console,
    errors,
    reports_errors,
    show,
    table,
)
from node.context import CHAIN_URL_ENV, Node, NodeConfig
from node.exceptions import ConfigurationError, InvalidBundleError
from node.network.lineage import RemotePart, remote_parts
from node.proofs.bundle import Bundle, loads
from node.proofs.verify import Check, Outcome, Report, report_json, verify_bundle
from node.provenance.service import ProvenanceService, recalled_in, trace_json

Identifier = Annotated[
    str,
    typer.Argument(help="The batch: GS1 Digital Link, EPC URN, handle, or 0x batch id."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

#: Exit status of `verify` and `provenance`: 0 every check holds, 1 something failed,
#: 2 nothing failed but some events are not anchored yet.
EXIT = {Outcome.PASS: 0, Outcome.FAIL: 1, Outcome.PENDING: 2}

_MARK = {
    Outcome.PASS: "[green]✓ verified[/]",
    Outcome.FAIL: "[bold red]✗ FAILED[/]",
    Outcome.PENDING: "[yellow]… pending[/]",
    Outcome.SKIPPED: "[dim]-[/]",
}


def _service(node: Node) -> ProvenanceService:
    return ProvenanceService(node.store, node.w3, node.deployment)


@reports_errors
def provenance(
    identifier: Identifier, data_dir: DataDir = DEFAULT_DATA_DIR, as_json: AsJson = False
) -> None:
    """A batch's history and every ancestor's, each event verified against the chain."""
    with Node(data_dir) as node:
        service = _service(node)
        result = service.provenance(service.resolve(identifier))
        parts = (
            []
            if as_json
            or all(b.extends is None and b.continued_at is None for b in result.report.batches)
            else remote_parts(
                service.reader(),
                result.report,
                this_operator=to_checksum_address(node.config.admin_address),
                addresses=node.peer_addresses,
                own=service.held,
            )
        )
    if as_json:
        document = report_json(result.report)
        document["rejected"] = [
            {"eventHash": "0x" + r.event_hash.hex(), "reason": "0x" + r.reason.hex()}
            for r in result.rejected
        ]
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print_report(result.report, title=f"Provenance of {identifier}")
        if result.rejected:
            console.print(
                f"{len(result.rejected)} event(s) were rejected by the chain (not shown)."
            )
        for part in parts:
            print_part(part)
    raise typer.Exit(EXIT[result.report.outcome])


def print_part(part: RemotePart) -> None:
    """Another node's part of the lineage (docs/network.md, "Provenance across nodes"):
    its events only when this node's verifier passed it."""
    found = part.found
    name = found.identifier or "0x" + found.batch_id.hex()
    node = f"node {found.route.node.id} ({found.route.node.url})" if found.route else "no node"
    which, joins = ("Later", "starting from") if part.later else ("Earlier", "ending at")
    if found.verified and found.report is not None:
        print_report(found.report, title=f"{which} history of {escape(name)}, from {escape(node)}")
        console.print(f"[green]✓ verified by this node[/], {joins} 0x{part.extends.hex()}")
        return
    chain = found.chain
    console.print(
        f"{which} history of {escape(name)}: [bold red]not verified here[/] "
        f"({found.outcome.value}): {escape(found.detail)}\n"
        f"  the chain records it as {chain.status.name}, held by "
        f"{escape(found.names.get(chain.custodian_id) or str(chain.custodian_id))}",
    )


@reports_errors
def trace(
    identifier: Identifier,
    downstream: Annotated[
        bool,
        typer.Option(
            "--downstream/--upstream",
            help="Downstream (default): every batch made from this lot, for a recall. "
            "Upstream: its ancestors.",
        ),
    ] = True,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: AsJson = False,
) -> None:
    """Where a lot went (every batch made from it, at any depth) or where it came from."""
    with Node(data_dir) as node:
        service = _service(node)
        batch_id = service.resolve(identifier)
        if not downstream:
            upstream = service.upstream(batch_id)
            if as_json:
                typer.echo(json.dumps(upstream, indent=2, ensure_ascii=False))
            else:
                for row in upstream["ancestors"]:
                    console.print(f"{row['batchId']}  {row['identifier'] or ''}", markup=False)
            return
        result = service.trace(batch_id)
    names = result.participants

    def who(pid: int) -> str:
        return names.get(pid, str(pid)) if pid else ""

    if as_json:
        typer.echo(json.dumps(trace_json(result), indent=2, ensure_ascii=False))
        return
    listing = table(
        f"Downstream of {identifier}: {len(result.batches) - 1} batch(es)",
        *("depth", "batch", "status", "held by", "received by"),
    )
    for t in result.batches:
        status = t.status.name if t.status.value else "pallet"
        if t.recalled:  # a recalled lot destroyed since stays recalled
            status = "RECALLED" if t.status.name == "RECALLED" else f"{status} (recalled)"
            status = f"[bold red]{status}[/]"
        holder = who(t.custodian_id)
        if t.receiver_id:
            holder += f" → {who(t.receiver_id)} (in transit)"
        listing.add_row(
            str(t.depth),
            escape(t.identifier or "0x" + t.batch_id.hex()),
            status,
            escape(holder),
            escape(", ".join(who(p) for p in t.received_by)),
        )
    show(listing)


@reports_errors
def export(
    identifier: Identifier,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of to stdout.")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Write a batch's proof bundle (JSON): `tracenode export ID > bundle.json`."""
    with Node(data_dir) as node:
        service = _service(node)
        bundle = service.export(service.resolve(identifier))
    text = bundle.dumps()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        errors.print(f"wrote {output}: {len(bundle.events)} events, {len(bundle.batches)} batches")


@reports_errors
def verify(
    bundle_file: Annotated[
        Path, typer.Argument(help="The proof bundle (JSON), or - for stdin.", metavar="BUNDLE")
    ],
    rpc: Annotated[
        str | None,
        typer.Option(help="Any EVM JSON-RPC URL serving the bundle's chain (e.g. a node's /rpc)."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="TRACENODE_DATA_DIR",
            help="Without --rpc: a node data directory (default: tracenode-data), whose chain "
            "is read (never its database); its contract addresses must be the bundle's.",
            file_okay=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", hidden=True, file_okay=False, help="Deprecated: --data-dir."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check a proof bundle against the chain: signatures, signers' roles at the time, hash
    chains, Merkle proofs, roots on-chain, custody. Exit 0 when everything holds, 1 when
    something failed (each failure named), 2 when some events are not anchored yet."""
    if data is not None:
        errors.print("--data is deprecated: use --data-dir", highlight=False)
        data_dir = data
    text = sys.stdin.read() if str(bundle_file) == "-" else _read(bundle_file)
    bundle = loads(text)
    report = _verify(bundle, rpc, data_dir)
    if as_json:
        typer.echo(json.dumps(report_json(report), indent=2, ensure_ascii=False))
    else:
        print_report(report, title=f"Bundle {bundle_file}")
    raise typer.Exit(EXIT[report.outcome])


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidBundleError(f"cannot read {path}: {exc}") from None


def _verify(bundle: Bundle, rpc: str | None, data: Path | None) -> Report:
    contracts = Contracts(
        Web3.to_checksum_address(bundle.chain.participant_registry),
        Web3.to_checksum_address(bundle.chain.batch_registry),
        Web3.to_checksum_address(bundle.chain.anchor_registry),
    )
    if rpc is not None:
        w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
        try:
            w3.eth.chain_id  # noqa: B018 - a read-only probe that any endpoint serves
        except Exception as exc:
            raise ConfigurationError(f"no EVM JSON-RPC node answers at {rpc}: {exc}") from None
        return verify_bundle(bundle, ChainReader(w3, contracts))
    data_dir = data if data is not None else DEFAULT_DATA_DIR
    config = NodeConfig.load(data_dir)
    ours = config.deployment
    if (
        config.chain_id != bundle.chain.chain_id
        or ours["batch_registry"] != contracts.batch_registry
        or ours["anchor_registry"] != contracts.anchor_registry
        or ours["participant_registry"] != contracts.participant_registry
    ):
        raise ConfigurationError(
            f"the bundle names chain {bundle.chain.chain_id} and contracts other than "
            f"{data_dir}'s; verify it with --rpc against its own chain"
        )
    chain_url = os.environ.get(CHAIN_URL_ENV) or config.chain_url
    challenge = ours.get("custody_challenge")  # its fraud marks (the anchor-only mode)
    if chain_url:
        w3 = Web3(Web3.HTTPProvider(chain_url))
        return verify_bundle(bundle, ChainReader(w3, contracts, challenge=challenge))
    with open_embedded_chain(data_dir / "chain") as chain:
        return verify_bundle(bundle, ChainReader(chain.w3, contracts, challenge=challenge))


def print_report(report: Report, *, title: str) -> None:
    """The report as a timeline of events and a table of batches."""
    names = {b.batch_id: b.identifier or "0x" + b.batch_id.hex()[:12] for b in report.batches}
    events = table(title, "#", "time (UTC)", "action", "batch", "by", "block", "result")
    for e in report.events:
        batches = ", ".join(_short(names.get(b, "0x" + b.hex()[:12])) for b in e.batch_ids)
        result = _MARK[e.outcome]
        if e.failures:
            result += " " + escape("; ".join(f"{c.check}: {c.detail}" for c in e.failures))
        events.add_row(
            str(e.index),
            _time(e.event_time),
            e.action.name,
            escape(batches),
            escape(e.participant_name or (("0x" + e.signer.hex()) if e.signer else "?")),
            str(e.block_number or ""),
            result,
        )
    show(events)
    recalled = recalled_in(report)  # a recalled lot destroyed since stays recalled
    states = table("Batches", "batch", "on-chain status", "custodian", "brand owner", "result")
    for b in report.batches:
        status = b.status.name
        if b.batch_id in recalled:
            status = f"[bold red]{status}{'' if status == 'RECALLED' else ' (recalled)'}[/]"
        detail = "; ".join(c.detail for c in b.checks if c.outcome is not Outcome.PASS and c.detail)
        licensed = any(c.check is Check.LICENCE and c.outcome is Outcome.PASS for c in b.checks)
        owner = ""
        if licensed and b.licence:
            holder = b.licence.holder_name or f"participant {b.licence.holder_id}"
            owner = f"{holder} ({b.licence.prefix})"
        states.add_row(
            escape(names[b.batch_id]),
            status,
            escape(b.custodian_name),
            escape(owner),
            _MARK[b.outcome] + (" " + escape(detail) if b.outcome is not Outcome.PASS else ""),
        )
    show(states)
    console.print(_completeness(report))
    for b in report.batches:  # where a batch's history here starts (docs/epcis.md)
        if b.adopted_at is None:
            continue
        started = (
            "first seen mid-chain: history before this event was not captured by this network"
            if b.first_seen_mid_chain
            else "received from outside TraceNode: its history before is not recorded here"
        )
        console.print(f"[yellow]↳[/] {escape(names[b.batch_id])}: event #{b.adopted_at}, {started}")
    for b in report.batches:
        if b.batch_id in recalled:
            which = "this batch" if b.batch_id == report.subject else "an ancestor"
            console.print(f"[bold red]⚠ RECALLED[/] {which}: {escape(names[b.batch_id])}")
    for c in report.checks:
        if c.outcome is Outcome.FAIL:
            console.print(f"[bold red]✗[/] {c.check}: {escape(c.detail)}")
    outcome = report.outcome
    anchored = sum(1 for e in report.events if e.block_number is not None)
    summary = (
        f"{len(report.events)} events ({anchored} anchored), {len(report.batches)} batches, "
        f"chain {report.chain_id}, BatchRegistry {report.contracts['batchRegistry']}"
    )
    if outcome is Outcome.PASS:
        console.print(f"[bold green]VERIFIED[/] {summary}")
    elif outcome is Outcome.PENDING:
        console.print(f"[yellow]NOT YET ANCHORED[/] (nothing failed) {summary}")
    else:
        console.print(f"[bold red]FAILED[/] {summary}")
        for line in report.failures():
            console.print(f"  ✗ {escape(line)}")


def _completeness(report: Report) -> str:
    """One line on the batches' ``complete`` checks: how many hold every event their
    anchored state counts, and the subject's count."""
    found = {b.batch_id: c for b in report.batches for c in b.checks if c.check is Check.COMPLETE}
    complete = sum(c.outcome is Outcome.PASS for c in found.values())
    subject = found.get(report.subject)
    line = f"complete: {complete} of {len(report.batches)} batches hold every event their "
    line += "anchored state counts"
    if subject is not None and subject.outcome is not Outcome.FAIL:
        line += f" (this batch: {subject.detail.removeprefix('complete: ')})"
    return escape(line)


def _short(text: str) -> str:
    return text.rsplit("/", 1)[-1] if text.startswith("http") else text


def _time(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return str(ms)
