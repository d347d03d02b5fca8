"""Provenance, downstream trace and proof bundles: where the store and the chain meet.

- :meth:`ProvenanceService.export` builds a batch's proof bundle from the store: the
  batch, its ancestors through transformations and aggregations at any depth, the
  lineage links, and every accepted event naming them with its proof.
- :meth:`ProvenanceService.provenance` is that bundle checked by the very verifier an
  outsider runs (:func:`node.proofs.verify.verify_bundle`) against the node's chain: one
  definition of "verified", whoever asks.
- :meth:`ProvenanceService.trace` follows a lot downstream for a recall: every batch
  made from it at any depth (transformations, pallets it was packed on), where each
  stands now and who received it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from node.chain.deploy import Deployment
from node.chain.reader import ChainReader, Contracts
from node.epcis.names import bundle_codes, names_json
from node.events.identifiers import parse_identifier
from node.events.typed_data import Action, BatchStatus
from node.exceptions import BatchNotFoundError
from node.proofs.bundle import (
    AnchorRef,
    Bundle,
    BundleBatch,
    BundleEvent,
    ChainRef,
    LineageLink,
    StateRef,
    TransitionRef,
)
from node.proofs.state import StateLeaf
from node.proofs.transitions import Transition
from node.proofs.verify import Outcome, Report, verify_bundle
from node.store.models import EventStatus
from node.store.records import BatchEvent, EpcisDeclarationRecord, WindowStateRecord
from node.store.store import Store
from node.store.tables import split32


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event the node accepted and the chain then refused (kept out of bundles)."""

    event_hash: bytes
    action: int
    reason: bytes


@dataclass(frozen=True, slots=True)
class Provenance:
    bundle: Bundle
    report: Report
    rejected: tuple[RejectedEvent, ...] = ()
    #: The timestamp (Unix seconds) of every block that anchored one of the report's
    #: events, by block number, read from the chain (node/provenance/timing.py).
    block_times: dict[int, int] = field(default_factory=dict)
    #: The events declared in error (EPCIS errorDeclaration), by event hash.
    corrections: dict[bytes, Correction] = field(default_factory=dict)
    #: What the places, parties and products the events name are called, and who says
    #: it, by code as written (node.epcis.names; docs/epcis.md "Master data").
    master_data: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Correction:
    """A declaration that an event was in error (docs/epcis.md, "Corrections"): never an
    erasure; the event stays, struck through, with the reason and what corrects it."""

    declaration: EpcisDeclarationRecord
    #: The TraceEvents of each corrective event the node holds, by its eventID.
    corrective: dict[str, tuple[bytes, ...]]


@dataclass(slots=True)
class TracedBatch:
    batch_id: bytes
    identifier: str | None
    depth: int  # 0 for the lot traced from
    parents: list[bytes] = field(default_factory=list)  # within the trace
    via: list[bytes] = field(default_factory=list)  # the events that made the links
    status: BatchStatus = BatchStatus.NONE  # NONE: a pallet, not a custody unit
    producer_id: int = 0
    custodian_id: int = 0
    receiver_id: int = 0  # while in transit
    received_by: list[int] = field(default_factory=list)  # every participant that received it
    recalled: bool = False  # a RECALL names it, whatever its status since (DESTROYED)


@dataclass(frozen=True, slots=True)
class Trace:
    origin: bytes
    batches: tuple[TracedBatch, ...]
    participants: dict[int, str]  # id -> name, for every id the trace mentions


class ProvenanceService:
    def __init__(self, store: Store, w3: Web3, deployment: Deployment) -> None:
        self.store = store
        self.w3 = w3
        self.deployment = deployment
        self.contracts = Contracts(
            deployment.participant_registry, deployment.batch_registry, deployment.anchor_registry
        )
        self._reader: ChainReader | None = None

    def reader(self) -> ChainReader:
        """A chain reader seeing the chain as it is now.

        While no block has been added, the same reader (and every answer it holds) serves
        again; a new block gets a new reader that keeps only the answers no block can
        change. Every answer is read at one pinned block, so a report is consistent.
        """
        latest = self.w3.eth.get_block("latest")
        at = (int(latest["number"]), bytes(latest["hash"]))
        current = self._reader
        if current is None or (current.block, current.block_hash) != at:
            current = ChainReader(
                self.w3,
                self.contracts,
                at=at,
                carry=current,
                challenge=self.deployment.custody_challenge,
            )
            self._reader = current
        return current

    def resolve(self, text: str) -> bytes:
        """The batch id that ``text`` (any identifier form, or 0x batch id) names, if this
        node knows that batch; :class:`BatchNotFoundError` otherwise."""
        identifier = parse_identifier(text)
        batch_id = bytes(identifier.batch_id)
        with self.store.read() as conn:
            if self.store.batches.get(conn, batch_id) is None and not self.store.events.of_batches(
                conn, [batch_id]
            ):
                raise BatchNotFoundError(f"no event on this node names {identifier.canonical}")
        return batch_id

    # ----- provenance -----

    def export(self, batch_id: bytes) -> Bundle:
        """The proof bundle of ``batch_id`` as the store holds it now."""
        return self._export(batch_id)[0]

    def held(self, batch_id: bytes) -> Bundle | None:
        """The proof bundle of ``batch_id`` when this node's store holds it, else None (a
        lineage's part that the registry says this node holds: node/network/lineage.py)."""
        try:
            return self.export(self.resolve("0x" + batch_id.hex()))
        except BatchNotFoundError:
            return None

    def _export(
        self, batch_id: bytes, *, reader: bool = False
    ) -> tuple[Bundle, tuple[RejectedEvent, ...], ChainReader | None]:
        """The bundle, and the events of its batches the chain rejected (kept out of it),
        from one read of the store; and the chain reader, pinned after that read, that
        chose the bundle's states (``reader``: always one; else only when one was asked)."""
        with self.store.read() as conn:
            links = self.store.batches.ancestry(conn, batch_id)
            batch_ids = {batch_id} | {parent for parent, _, _ in links}
            rows = self.store.events.of_batches(conn, sorted(batch_ids))
            states = self.store.batches.load(conn, batch_ids)
            anchored, latest = self.store.windows.latest_states(conn, sorted(batch_ids))
            moves = self.store.windows.transitions_of(
                conn,
                [
                    (row.record.window_id, row.record.event_hash)
                    for row in rows
                    if row.record.window_id is not None
                    and row.record.status is EventStatus.ANCHORED
                ],
            )
        if not rows and batch_id not in states:
            raise BatchNotFoundError(f"no event on this node names 0x{batch_id.hex()}")
        # A window's state root goes on-chain in a transaction of its own, after the window
        # (the enforced mode), and the store records it once the commit worker has read its
        # receipt. Between the two, the chain holds a state the store does not know is
        # anchored: a bundle without it would fail the verifier's completeness check (its
        # window has an anchored state root). The chain is asked, at a block pinned after
        # the store's read, so that what the bundle carries is what the chain holds then.
        pending = {
            b: row
            for b, row in latest.items()
            if row.state_root is not None
            and (b not in anchored or anchored[b].window_id < row.window_id)
        }
        pinned = self.reader() if reader or pending else None
        if pinned is not None:
            for b, row in pending.items():
                if pinned.state_root(row.root) == row.state_root:
                    anchored[b] = row
        events = tuple(
            _bundle_event(row, moves.get(row.record.event_hash, ()))
            for row in rows
            if row.record.status != EventStatus.REJECTED
        )
        rejected = tuple(
            RejectedEvent(r.event_hash, r.action, r.reason or b"")
            for r in (row.record for row in rows)
            if r.status == EventStatus.REJECTED
        )
        ordered = [batch_id, *sorted(batch_ids - {batch_id})]
        bundle = Bundle(
            subject=batch_id,
            chain=ChainRef(
                chain_id=self.deployment.chain_id,
                participant_registry=self.deployment.participant_registry,
                batch_registry=self.deployment.batch_registry,
                anchor_registry=self.deployment.anchor_registry,
            ),
            batches=tuple(
                BundleBatch(
                    b,
                    states[b].identifier if b in states else None,
                    _state_ref(anchored.get(b)),
                )
                for b in ordered
            ),
            lineage=tuple(LineageLink(p, c, e) for p, c, e in sorted(links)),
            events=events,
        )
        return bundle, rejected, pinned

    def upstream(self, batch_id: bytes) -> dict[str, Any]:
        """The batch's ancestors (the subject first) and the lineage links between them, as
        JSON: the lineage only, without reading any event."""
        with self.store.read() as conn:
            links = self.store.batches.ancestry(conn, batch_id)
            ids = {batch_id} | {parent for parent, _, _ in links}
            states = self.store.batches.load(conn, ids)
        if batch_id not in states and not links:
            self.resolve("0x" + batch_id.hex())  # raises for a batch nobody knows
        ordered = [batch_id, *sorted(ids - {batch_id})]
        return {
            "origin": "0x" + batch_id.hex(),
            "ancestors": [
                {
                    "batchId": "0x" + b.hex(),
                    "identifier": states[b].identifier if b in states else None,
                }
                for b in ordered
            ],
            "lineage": [
                {"parent": "0x" + p.hex(), "child": "0x" + c.hex(), "eventHash": "0x" + e.hex()}
                for p, c, e in sorted(links)
            ],
        }

    def provenance(self, batch_id: bytes) -> Provenance:
        """The bundle of ``batch_id``, verified against the chain, the events of its
        batches that the chain rejected, and when each anchoring block was mined."""
        bundle, rejected, pinned = self._export(batch_id, reader=True)
        reader = pinned or self.reader()
        report = verify_bundle(bundle, reader)
        # The verifier read each event's block from AnchorRegistry; one header per block.
        blocks = {e.block_number for e in report.events if e.block_number is not None}
        corrections = self._corrections([e.event_hash for e in bundle.events])
        named = names_json(self.store, bundle_codes(bundle))
        return Provenance(bundle, report, rejected, reader.block_times(blocks), corrections, named)

    def _corrections(self, event_hashes: list[bytes]) -> dict[bytes, Correction]:
        with self.store.read() as conn:
            declared = self.store.epcis.corrections(conn, event_hashes)
            ids = sorted({i for d in declared.values() for i in d.corrective_event_ids})
            hash_ids = self.store.epcis.hash_ids_of(conn, ids) if ids else {}
            held = self.store.epcis.known(conn, sorted(set(hash_ids.values())))
        corrective = {
            event_id: split32(held[hash_id])
            for event_id, hash_id in hash_ids.items()
            if hash_id in held
        }
        return {
            event_hash: Correction(
                record,
                {i: corrective[i] for i in record.corrective_event_ids if i in corrective},
            )
            for event_hash, record in declared.items()
        }

    # ----- downstream -----

    def trace(self, batch_id: bytes) -> Trace:
        """Every batch made from ``batch_id`` at any depth, where it stands, who had it."""
        with self.store.read() as conn:
            found = self.store.batches.downstream(conn, batch_id)
            names = {p.id: p.name for p in self.store.participants.all(conn)}
        if batch_id not in found.states and not found.links:
            self.resolve("0x" + batch_id.hex())  # raises for a batch nobody knows
        children: dict[bytes, list[tuple[bytes, bytes]]] = {}
        for parent, child, event_hash in found.links:
            children.setdefault(parent, []).append((child, event_hash))
        traced: dict[bytes, TracedBatch] = {batch_id: TracedBatch(batch_id, None, 0)}
        queue = deque([batch_id])
        while queue:  # breadth first: depth is the shortest path from the origin
            parent = queue.popleft()
            depth = traced[parent].depth + 1
            for child, event_hash in children.get(parent, ()):
                item = traced.get(child)
                if item is None:
                    item = traced[child] = TracedBatch(child, None, depth)
                    queue.append(child)
                item.parents.append(parent)
                item.via.append(event_hash)
        for received_batch, participant in found.received:
            traced[received_batch].received_by.append(participant)
        with self.store.read() as conn:
            recalled = self.store.batches.recalled(
                conn, {b: state.status for b, state in found.states.items()}
            )
        mentioned: set[int] = set()
        for item in traced.values():
            state = found.states.get(item.batch_id)
            if state is not None:
                item.identifier = state.identifier
                item.status = state.status
                item.recalled = item.batch_id in recalled
                item.producer_id = state.producer_id
                item.custodian_id = state.custodian_id
                item.receiver_id = state.receiver_id
                mentioned.update((state.producer_id, state.custodian_id, state.receiver_id))
            mentioned.update(item.received_by)
        return Trace(
            origin=batch_id,
            batches=tuple(traced.values()),  # breadth first: by depth
            participants={pid: names[pid] for pid in mentioned if pid in names},
        )


def recalled_in(report: Report) -> set[bytes]:
    """The batches of a verified bundle that were recalled: each named by a RECALL event
    that did not fail verification, whatever its status since (a recalled lot destroyed
    by its custodian reads DESTROYED on-chain and stays recalled), or RECALLED on-chain
    now. What the page
    (api/static/app.js, recalledSet) and the CLI show; the store's
    :meth:`BatchRepository.recalled` is the same definition on the node's events."""
    named = {
        b
        for e in report.events
        if e.action is Action.RECALL and e.outcome is not Outcome.FAIL
        for b in e.batch_ids
    }
    return named | {b.batch_id for b in report.batches if b.status is BatchStatus.RECALLED}


def _state_ref(row: WindowStateRecord | None) -> StateRef | None:
    """The bundle's ``state`` of a batch: its leaf in the latest window with an anchored
    state root."""
    if row is None or row.state_root is None or row.block_number is None:
        return None
    leaf = StateLeaf(row.batch_id, row.head, row.custodian, BatchStatus(row.status), row.count)
    return StateRef(row.root, row.state_root, row.proof, leaf, row.block_number)


def _bundle_event(row: BatchEvent, moves: Sequence[tuple[bytes, tuple[bytes, ...]]]) -> BundleEvent:
    """The bundle's event of ``row``, with its transitions (``moves``: ABI-encoded leaves
    and proofs) when its window is anchor-only."""
    record, window = row.record, row.anchor
    anchor = None
    if record.status == EventStatus.ANCHORED:
        if window is None or window.block_number is None:
            raise RuntimeError(f"anchored event 0x{record.event_hash.hex()} has no window")
        anchor = AnchorRef(
            root=window.root,
            proof=record.proof,
            tx_hash=window.tx_hash,
            block_number=window.block_number,
        )
    return BundleEvent(
        event_hash=record.event_hash,
        event=record.event,
        signature=record.signature,
        payload=record.payload,
        anchor=anchor,
        transitions=tuple(TransitionRef(Transition.decoded(leaf), proof) for leaf, proof in moves)
        if anchor is not None
        else (),
    )


def trace_json(trace: Trace) -> dict[str, Any]:
    """The downstream trace as one JSON document (the CLI's --json and the HTTP API)."""
    names = trace.participants

    def who(pid: int) -> dict[str, Any] | None:
        return {"id": pid, "name": names.get(pid, "")} if pid else None

    return {
        "origin": "0x" + trace.origin.hex(),
        "count": len(trace.batches) - 1,
        "batches": [
            {
                "batchId": "0x" + t.batch_id.hex(),
                "identifier": t.identifier,
                "depth": t.depth,
                "parents": ["0x" + p.hex() for p in t.parents],
                "via": ["0x" + v.hex() for v in t.via],
                "status": t.status.name if t.status.value else "PALLET",
                "producer": who(t.producer_id),
                "custodian": who(t.custodian_id),
                "inTransitTo": who(t.receiver_id),
                "receivedBy": [who(p) for p in t.received_by],
            }
            for t in trace.batches
        ],
    }
