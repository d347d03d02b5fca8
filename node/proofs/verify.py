"""Check a proof bundle against the chain, trusting nothing else.

Imports the event model and a chain reader only — never the store — so a verification
run cannot be answered from the node's own database (tests/test_architecture.py keeps it
so). Every field of a bundle is checked, against the chain or against fields already
checked (tests/node/provenance/test_tampering.py changes each in turn). First, for the
bundle:

``chain``
    the RPC serves the bundle's chain id; the reader reads the registries the bundle
    names; there is code at each and the two registries answer as what they are named;
    the BatchRegistry (the EIP-712 verifyingContract) was built with the other two.
    Nothing else is checked when this fails.

Per event, in this order:

``event-hash``
    the EIP-712 digest of the event's fields under the bundle's domain (chain id,
    BatchRegistry) equals the stated ``eventHash``; every later check uses the digest.
    When it fails, the checks that would start from the fields are skipped, naming it.
``signature``
    the signature recovers to a key (low-s, v 27/28: the contract's rules).
``payload``
    the payload, when present, hashes (keccak256 of RFC 8785) to ``payloadHash``.
``merkle-proof``
    the proof leads from the event's leaf to the stated root (OpenZeppelin
    StandardMerkleTree rules).
``root-on-chain``
    AnchorRegistry holds the root, in the stated block, and the stated transaction is the
    one that anchored it (its receipt has AnchorRegistry's ``RootAnchored`` for the root).
``accepted-on-chain``
    (lifecycle actions) BatchRegistry accepted this very event in that transaction.
``signer``
    that key belonged to a registered participant at the block the event was committed
    (the chain's head for an event not yet anchored), was not rotated out, the
    participant was active and held one of the roles the action needs.
``hash-chain``
    the event names a batch of the bundle, and extends its batch's previous event
    (``prevEventHash``, ``inputPrevHashes``) as the bundle orders them: no gap, no fork;
    and is not one the bundle already holds. A batch's first event in the bundle that
    extends an event the bundle lacks, accepted by BatchRegistry (which executes an event
    only on the batch's head), extends history held by another node (cross-node custody):
    skipped, naming the head it extends (pending until anchored), never a gap.

Per batch: the identifier names the batch id (checked when the bundle is read);
``licence``: the participant whose event created the batch (its COMMISSION, or the
TRANSFORM that output it) held a licence of the identifier's prefix valid at the block
that event was accepted in (``licenceAt``: the holder then, not now), naming the brand
owner; and ``custody``: the batch's head and status on-chain are the ones its events lead
to (a chain that has moved on since the export is reported as such; skipped, naming the
chain's head, when it moved on through another node after the bundle's last event, a
SHIP to another node's participant: ``continued_at``). For the bundle:
``lineage``: the subject is the first batch and every other one its ancestor through the
lineage links, each link backed by a transformation or packing event of the bundle, and
no ancestor missing (every input of a transformation that made a bundle batch, every lot
packed on a bundle pallet: a bundle batch, with its link).

A failure is reported once, by the check that finds it: a check that depends on what
already failed (the signer of a signature that recovers nothing, the custody of a batch
whose history has a gap) is skipped, saying which failure it depends on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from node.chain.errors import decode_error
from node.chain.reader import AnchorInfo, ChainReader, CommitOutcome, Contracts
from node.chain.registry import Licence
from node.events.batch import BatchState
from node.events.hashing import keccak
from node.events.identifiers import (
    IdentifierKind,
    IdentifierSplit,
    PrefixKind,
    identifier_split,
    parse_identifier,
)
from node.events.lifecycle import transition
from node.events.merkle import process_proof
from node.events.rules import Actor, Receiver, apply
from node.events.signatures import recover_signer
from node.events.typed_data import (
    REQUIRED_ROLES,
    ZERO32,
    Action,
    BatchStatus,
    Role,
    TraceEvent,
    checksum_address,
)
from node.exceptions import EventRejectedError, InvalidSignatureError
from node.proofs.bundle import Bundle, BundleBatch, BundleEvent, StateRef
from node.proofs.state import StateLeaf, advance, process_state_proof, replay
from node.proofs.transitions import process_transition_proof


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (a check outcome, not a password)
    FAIL = "fail"
    PENDING = "pending"  # not anchored yet: cannot hold, has not failed
    SKIPPED = "skipped"  # does not apply (a payload withheld, an anchored-only action)


class Check(StrEnum):
    EVENT_HASH = "event-hash"
    SIGNATURE = "signature"
    PAYLOAD = "payload"
    SIGNER = "signer"
    HASH_CHAIN = "hash-chain"
    MERKLE_PROOF = "merkle-proof"
    ROOT_ON_CHAIN = "root-on-chain"
    ACCEPTED_ON_CHAIN = "accepted-on-chain"
    CHAIN = "chain"
    IDENTIFIER = "identifier"
    LICENCE = "licence"
    LINEAGE = "lineage"
    CUSTODY = "custody"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: Check
    outcome: Outcome
    detail: str = ""


@dataclass(slots=True)
class EventReport:
    index: int
    event_hash: bytes
    action: Action
    batch_ids: tuple[bytes, ...]
    event_time: int
    signer: bytes | None = None
    participant_id: int = 0
    participant_name: str = ""
    block_number: int | None = None
    tx_hash: bytes | None = None
    root: bytes | None = None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        return _worst(c.outcome for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome is Outcome.FAIL]


@dataclass(frozen=True, slots=True)
class BatchLicence:
    """The licence a ``licence`` check found: of ``prefix``, held by ``holder_id`` at the
    block the batch was created (the creator's, when the check passed)."""

    kind: PrefixKind
    prefix: str
    holder_id: int
    holder_name: str
    valid_from: int
    valid_until: int  # 0: no end


@dataclass(slots=True)
class BatchReport:
    batch_id: bytes
    identifier: str | None
    parents: tuple[bytes, ...] = ()
    status: BatchStatus = BatchStatus.NONE  # on-chain
    custodian_id: int = 0
    custodian_name: str = ""
    licence: BatchLicence | None = None
    checks: list[CheckResult] = field(default_factory=list)
    events: list[int] = field(default_factory=list)  # indexes into Report.events
    #: The event that brought the batch into the network from outside (a RECEIVE of a lot
    #: never seen, docs/contracts.md): its history before lies outside TraceNode.
    adopted_at: int | None = None
    #: That adoption is of a lot first seen mid-chain (docs/epcis.md): signed over one
    #: payload with the event that first named the lot here, which is no receipt; history
    #: before that event was not captured by this network.
    first_seen_mid_chain: bool = False
    #: The first event of the bundle's history of the batch when its earlier history is
    #: held by another node (docs/events.md, "Cross-node custody"): the event extends a
    #: head the chain held when it accepted the event, which the bundle does not hold.
    elsewhere_at: int | None = None
    #: That event's previous event, the head the chain held: where the earlier part of the
    #: batch's history ends. The hook for fetching it from the node that holds it (node
    #: discovery): a bundle of that part must verify on its own and end at this head.
    extends: bytes | None = None
    #: The bundle's last event of the batch when its later history is held by another node:
    #: a SHIP, accepted on-chain, to a participant another node's registrar registered,
    #: and the chain's head of the batch is no event of the bundle (``custody`` skipped,
    #: docs/proofs.md "Continued on another node"). The hook for fetching the later part.
    continued_at: int | None = None
    #: The participant that SHIP named as receiver, and the chain's head of the batch now.
    continued_to: int = 0
    chain_head: bytes | None = None

    @property
    def outcome(self) -> Outcome:
        return _worst(c.outcome for c in self.checks)


@dataclass(slots=True)
class Report:
    subject: bytes
    chain_id: int
    contracts: dict[str, str]
    events: list[EventReport] = field(default_factory=list)
    batches: list[BatchReport] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)  # about the bundle as a whole

    @property
    def outcome(self) -> Outcome:
        """FAIL if anything failed; else PENDING if an event is not anchored yet; else PASS."""
        return _worst(
            [c.outcome for c in self.checks]
            + [e.outcome for e in self.events]
            + [b.outcome for b in self.batches]
        )

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.PASS

    def failures(self) -> list[str]:
        """One line per failed check, naming the event or batch and what failed."""
        lines = [f"bundle: {c.check}: {c.detail}" for c in self.checks if c.outcome == "fail"]
        for e in self.events:
            for c in e.failures:
                lines.append(
                    f"event #{e.index} 0x{e.event_hash.hex()} ({e.action.name}): "
                    f"{c.check}: {c.detail}"
                )
        for b in self.batches:
            for c in b.checks:
                if c.outcome is Outcome.FAIL:
                    lines.append(
                        f"batch {b.identifier or '0x' + b.batch_id.hex()}: {c.check}: {c.detail}"
                    )
        return lines


_RANK = {Outcome.SKIPPED: 0, Outcome.PASS: 0, Outcome.PENDING: 1, Outcome.FAIL: 2}


def _worst(outcomes: object) -> Outcome:
    worst = Outcome.PASS
    for outcome in outcomes:  # type: ignore[attr-defined]
        if _RANK[outcome] > _RANK[worst]:
            worst = outcome
    return worst


def verify_bundle(
    bundle: Bundle,
    reader: ChainReader,
    *,
    ends_at: Mapping[bytes, bytes] | None = None,
    starts_from: Mapping[bytes, bytes] | None = None,
) -> Report:
    """Check every event and batch of ``bundle`` against the chain behind ``reader``.

    ``ends_at``: batches whose history went on through another node, each with the head
    the bundle's history of it must end at (a :class:`BatchReport`'s ``extends`` of the
    other node's part, docs/network.md "Provenance across nodes"): its ``custody`` check
    is that its events lead exactly to that head, which the chain held when it accepted
    the event extending it, instead of to the chain's head now.

    ``starts_from``: batches whose earlier history this bundle continues, each with the
    head the earlier part ends at (a :class:`BatchReport`'s ``continued_at`` event): its
    ``custody`` check also needs the bundle's history of it to start with an event
    extending exactly that head (``extends``)."""
    chain = bundle.chain
    report = Report(
        subject=bundle.subject,
        chain_id=chain.chain_id,
        contracts={
            "participantRegistry": chain.participant_registry,
            "batchRegistry": chain.batch_registry,
            "anchorRegistry": chain.anchor_registry,
        },
    )
    if not _check_chain(bundle, reader, report):
        return report
    domain = chain.domain
    known = frozenset(b.batch_id for b in bundle.batches)
    digests = [item.event.digest(domain) for item in bundle.events]
    signers = [
        _recover(digest, item.signature)
        for digest, item in zip(digests, bundle.events, strict=True)
    ]
    _prefetch(bundle, reader, signers)
    heads: dict[bytes, bytes] = {}
    pallets: set[bytes] = set()  # the batch ids the bundle's packings named as pallets
    altered: dict[bytes, int] = {}  # stated and computed hashes of altered events -> index
    lifecycle: dict[bytes, list[_Step]] = defaultdict(list)
    by_batch: dict[bytes, list[int]] = defaultdict(list)
    # batch -> the event whose earlier history is elsewhere, and the head it extends
    elsewhere: dict[bytes, tuple[int, bytes]] = {}
    # Anchor-only windows (node.proofs.transitions): the batches as the custody rules
    # leave them, replayed from the bundle; their state leaves; the batches so checked.
    rules: dict[bytes, BatchState] = {}
    leaves: dict[bytes, StateLeaf] = {}
    replayed: set[bytes] = set()
    # Each event's first index in the bundle; an event that repeats one -> that index.
    seen: dict[bytes, int] = {}
    repeats: dict[int, int] = {}
    for index, (item, digest, signer) in enumerate(
        zip(bundle.events, digests, signers, strict=True)
    ):
        event = item.event
        entry = EventReport(
            index=index,
            event_hash=digest,
            action=event.action,
            batch_ids=tuple(sorted(event.batch_ids())),
            event_time=event.event_time,
        )
        report.events.append(entry)
        for batch_id in event.batch_ids():
            by_batch[batch_id].append(index)
        if not _check_hash(entry, item, digest):
            # Its fields are not what was signed and anchored (or its stated hash is not
            # theirs): every check that reads them would only repeat that.
            altered[digest] = altered[item.event_hash] = index
            _check_anchor(entry, item, digest, reader, altered=True)
            for check in (Check.SIGNATURE, Check.PAYLOAD, Check.SIGNER, Check.HASH_CHAIN):
                entry.checks.append(CheckResult(check, Outcome.SKIPPED, _ALTERED))
            continue
        first = seen.setdefault(digest, index)
        recovered = _check_signature(entry, signer)
        _check_payload(entry, item)
        block = _check_anchor(entry, item, digest, reader, altered=False)
        _check_signer(entry, recovered, block, reader)
        if first != index:
            # A second copy of an event says nothing new, moves nothing and counts once:
            # a copy must not stand in for an event the bundle leaves out.
            repeats[index] = first
            _check_repeat(entry, item, block, reader, first)
            continue
        moves = advance(leaves, digest, item.event, entry.participant_id)
        if block is not None and item.anchor is not None:
            transition_root = reader.transition_root(item.anchor.root)
            if any(transition_root) and item.event.action.on_chain:
                replayed.update(item.event.batch_ids())
                _check_replay(entry, item, block, reader, rules, moves, known, transition_root)
            elif any(transition_root) and reader.fraud(item.anchor.root):
                entry.checks.append(
                    CheckResult(
                        Check.ACCEPTED_ON_CHAIN, Outcome.FAIL, _fraudulent(item.anchor.root)
                    )
                )
        _check_hash_chain(entry, item, digest, heads, known, altered, elsewhere, pallets)
        _advance(item, digest, entry, lifecycle)
    _check_batches(
        bundle,
        reader,
        report,
        by_batch,
        lifecycle,
        altered,
        elsewhere,
        ends_at or {},
        starts_from or {},
        {b: rules.get(b) for b in replayed},
        repeats,
    )
    return report


#: Why a check of an altered event (one failing ``event-hash``) is not run.
_ALTERED = "not checked: the event's fields do not hash to its eventHash (event-hash)"


# ----- the bundle as a whole -----


def _check_chain(bundle: Bundle, reader: ChainReader, report: Report) -> bool:
    """``chain``: every field of the bundle's ``chain`` against the chain (see
    :func:`_chain_problem`); nothing else is checked when it fails."""
    chain = bundle.chain
    named = Contracts(
        to_checksum_address(chain.participant_registry),
        to_checksum_address(chain.batch_registry),
        to_checksum_address(chain.anchor_registry),
    )
    problem = _chain_problem(chain.chain_id, named, reader)
    if problem:
        report.checks.append(CheckResult(Check.CHAIN, Outcome.FAIL, problem))
        return False
    report.checks.append(
        CheckResult(
            Check.CHAIN,
            Outcome.PASS,
            f"chain {chain.chain_id}; BatchRegistry {named.batch_registry} calls "
            f"ParticipantRegistry {named.participant_registry} and AnchorRegistry "
            f"{named.anchor_registry}",
        )
    )
    return True


def _chain_problem(chain_id: int, named: Contracts, reader: ChainReader) -> str:
    """Why the bundle's chain and registries are not the ones to check it against, or "".

    The RPC serves chain ``chainId``; the reader reads the registries the bundle names;
    there is code at each; the two registries answer as what they are named (so a swap is
    caught before anything is asked of them); and the BatchRegistry — the EIP-712
    ``verifyingContract`` every signature names — was built with the other two: they are
    its constructor's immutables, which solc writes into the runtime code as PUSH32.
    """
    served = reader.chain_id()
    if served != chain_id:
        return f"the bundle is for chain {chain_id}, the RPC serves chain {served}"
    ours = _registries(named)
    if named != reader.contracts:
        return "; ".join(
            f"the bundle names {name} {address}, this verifier reads {theirs}"
            for (name, address), (_, theirs) in zip(
                ours, _registries(reader.contracts), strict=True
            )
            if address != theirs
        )
    missing = [f"{name} {address}" for name, address in ours if not reader.has_code(address)]
    if missing:
        return "no contract at " + ", ".join(missing)
    registries = [ours[0], ours[2]]  # participantRegistry, anchorRegistry
    strangers = [
        f"the contract at {name} {address} does not answer as one"
        for (name, address), answered in zip(registries, reader.registries_answer(), strict=True)
        if not answered
    ]
    if strangers:
        return "; ".join(strangers)
    code = reader.code(named.batch_registry)
    unwired = [f"{name} {address}" for name, address in registries if _push32(address) not in code]
    if unwired:
        return (
            f"the BatchRegistry at {named.batch_registry} was not built with "
            + " or ".join(unwired)
            + " (its code holds the registries it calls)"
        )
    return ""


def _registries(contracts: Contracts) -> list[tuple[str, ChecksumAddress]]:
    return [
        ("participantRegistry", contracts.participant_registry),
        ("batchRegistry", contracts.batch_registry),
        ("anchorRegistry", contracts.anchor_registry),
    ]


def _push32(address: str) -> bytes:
    """How solc writes an ``immutable`` address into runtime code: PUSH32, left-padded."""
    return b"\x7f" + bytes(12) + bytes.fromhex(address[2:])


# ----- one event -----


def _check_hash(entry: EventReport, item: BundleEvent, digest: bytes) -> bool:
    if digest == item.event_hash:
        entry.checks.append(CheckResult(Check.EVENT_HASH, Outcome.PASS))
        return True
    entry.checks.append(
        CheckResult(
            Check.EVENT_HASH,
            Outcome.FAIL,
            f"the event's fields hash to 0x{digest.hex()}, not the stated "
            f"0x{item.event_hash.hex()}: a field was altered",
        )
    )
    return False


def _recover(digest: bytes, signature: bytes) -> bytes | str:
    """The signing key, or why there is none."""
    try:
        return recover_signer(digest, signature)
    except InvalidSignatureError as exc:
        return str(exc)


def _check_signature(entry: EventReport, signer: bytes | str) -> bytes | None:
    if isinstance(signer, str):
        entry.checks.append(CheckResult(Check.SIGNATURE, Outcome.FAIL, f"bad signature: {signer}"))
        return None
    entry.signer = signer
    entry.checks.append(
        CheckResult(Check.SIGNATURE, Outcome.PASS, f"signed by {checksum_address(signer)}")
    )
    return signer


def _prefetch(bundle: Bundle, reader: ChainReader, signers: list[bytes | str]) -> None:
    """Ask the chain everything the checks will ask, in two batched rounds."""
    keys = {s for s in signers if isinstance(s, bytes)}
    creators = _creators(bundle)
    splits = {
        b.batch_id: split
        for b in bundle.batches
        if isinstance(split := _split(b.identifier), IdentifierSplit)
        and b.batch_id in creators
        and bundle.events[creators[b.batch_id]].anchor is not None
    }
    roots = {e.anchor.root for e in bundle.events if e.anchor is not None}
    roots |= {b.state.root for b in bundle.batches if b.state is not None}
    reader.prefetch(
        roots=roots,
        state_roots=roots,
        transition_roots=roots,
        keys=keys | {e.event.counterparty for e in bundle.events if e.event.action is Action.SHIP},
        batches=[b.batch_id for b in bundle.batches],
        licences={(s.kind, c) for s in splits.values() for c in s.candidates},
    )
    statuses: set[tuple[int, int]] = set()
    for item, signer in zip(bundle.events, signers, strict=True):
        if not isinstance(signer, bytes):
            continue
        participant = reader.key(signer).participant_id
        if participant == 0:
            continue
        anchored = reader.anchor(item.anchor.root) if item.anchor is not None else None
        statuses.add((participant, anchored.block_number if anchored else reader.head()))
    owners = {reader.key(k).participant_id for k in keys}
    custodians = {reader.batch(b.batch_id).custodian_id for b in bundle.batches}
    licences: set[tuple[PrefixKind, str, int]] = set()
    for batch_id, split in splits.items():
        anchor = bundle.events[creators[batch_id]].anchor
        anchored = reader.anchor(anchor.root) if anchor is not None else None
        if anchored is None:
            continue
        for candidate in split.candidates:
            current = reader.licence(split.kind, candidate)
            if current.holder and not current.valid_at(anchored.block_number):
                licences.add((split.kind, candidate, anchored.block_number))
    reader.prefetch(
        statuses=statuses, participants=(owners | custodians) - {0}, licences_at=licences
    )


def _check_payload(entry: EventReport, item: BundleEvent) -> None:
    if item.payload is None:
        detail = "no payload" if item.event.payload_hash == ZERO32 else "payload withheld"
        entry.checks.append(CheckResult(Check.PAYLOAD, Outcome.SKIPPED, detail))
    elif keccak(item.payload) == item.event.payload_hash:
        entry.checks.append(CheckResult(Check.PAYLOAD, Outcome.PASS))
    else:
        entry.checks.append(
            CheckResult(
                Check.PAYLOAD,
                Outcome.FAIL,
                "the payload does not hash to payloadHash (keccak256 of its RFC 8785 form)",
            )
        )


def _check_anchor(
    entry: EventReport, item: BundleEvent, digest: bytes, reader: ChainReader, *, altered: bool
) -> int | None:
    """Merkle proof, root on-chain (in the stated block, by the stated transaction),
    acceptance by BatchRegistry; the root's block, or None.

    ``altered``: the event's fields do not hash to its stated hash, so the checks that
    start from its hash (the proof, the acceptance) are not run; the anchor's own fields
    (root, block, transaction) are checked all the same.
    """
    anchor = item.anchor
    lifecycle = item.event.action.on_chain
    if anchor is None:
        for check in (Check.MERKLE_PROOF, Check.ROOT_ON_CHAIN, Check.ACCEPTED_ON_CHAIN):
            if check is Check.ACCEPTED_ON_CHAIN and not lifecycle:
                continue
            entry.checks.append(CheckResult(check, Outcome.PENDING, "not anchored yet"))
        return None
    entry.root, entry.tx_hash = anchor.root, anchor.tx_hash
    if altered:
        entry.checks.append(CheckResult(Check.MERKLE_PROOF, Outcome.SKIPPED, _ALTERED))
    elif process_proof(digest, anchor.proof) == anchor.root:
        entry.checks.append(CheckResult(Check.MERKLE_PROOF, Outcome.PASS))
    else:
        entry.checks.append(
            CheckResult(
                Check.MERKLE_PROOF,
                Outcome.FAIL,
                f"the proof does not lead from the event to root 0x{anchor.root.hex()}",
            )
        )
    info = reader.anchor(anchor.root)
    if info is None:
        entry.checks.append(
            CheckResult(
                Check.ROOT_ON_CHAIN,
                Outcome.FAIL,
                f"AnchorRegistry holds no root 0x{anchor.root.hex()}",
            )
        )
        if lifecycle:
            entry.checks.append(
                CheckResult(
                    Check.ACCEPTED_ON_CHAIN,
                    Outcome.SKIPPED,
                    "not checked: the root is not on the chain (root-on-chain)",
                )
            )
        return None
    entry.block_number = info.block_number
    outcome = reader.commit_outcome(anchor.tx_hash)
    problems = []
    if anchor.block_number != info.block_number:
        problems.append(
            f"the bundle says block {anchor.block_number}, AnchorRegistry anchored the root "
            f"in block {info.block_number}"
        )
    if outcome is None:
        problems.append(f"there is no transaction 0x{anchor.tx_hash.hex()} on the chain")
    elif anchor.root not in outcome.roots:
        problems.append(
            f"transaction 0x{anchor.tx_hash.hex()} (block {outcome.block_number}) did not "
            f"anchor the root (AnchorRegistry anchored it in block {info.block_number})"
        )
    entry.checks.append(
        CheckResult(Check.ROOT_ON_CHAIN, Outcome.FAIL, "; ".join(problems))
        if problems
        else CheckResult(
            Check.ROOT_ON_CHAIN,
            Outcome.PASS,
            f"anchored in block {info.block_number} by transaction 0x{anchor.tx_hash.hex()} "
            f"(a window of {info.event_count} events)",
        )
    )
    if not lifecycle or (not altered and any(reader.transition_root(anchor.root))):
        return info.block_number  # an anchor-only window's: checked by _check_replay
    if outcome is None or anchor.root not in outcome.roots:
        entry.checks.append(
            CheckResult(
                Check.ACCEPTED_ON_CHAIN,
                Outcome.SKIPPED,
                "not checked: the transaction is not the root's (root-on-chain)",
            )
        )
    elif altered:
        entry.checks.append(CheckResult(Check.ACCEPTED_ON_CHAIN, Outcome.SKIPPED, _ALTERED))
    else:
        entry.checks.append(_accepted(digest, anchor.tx_hash, outcome))
    return info.block_number


def _accepted(digest: bytes, tx_hash: bytes, outcome: CommitOutcome) -> CheckResult:
    """Whether BatchRegistry accepted the event in ``outcome``, the root's transaction."""
    if digest in outcome.accepted:
        return CheckResult(
            Check.ACCEPTED_ON_CHAIN, Outcome.PASS, f"BatchRegistry accepted it in 0x{tx_hash.hex()}"
        )
    if digest in outcome.rejected:
        return CheckResult(
            Check.ACCEPTED_ON_CHAIN,
            Outcome.FAIL,
            f"BatchRegistry rejected it: {decode_error(outcome.rejected[digest])}",
        )
    return CheckResult(
        Check.ACCEPTED_ON_CHAIN,
        Outcome.FAIL,
        f"BatchRegistry did not execute it in transaction 0x{tx_hash.hex()}",
    )


def _check_signer(
    entry: EventReport, signer: bytes | None, block: int | None, reader: ChainReader
) -> None:
    if signer is None:
        entry.checks.append(
            CheckResult(Check.SIGNER, Outcome.SKIPPED, "not checked: no key (signature)")
        )
        return
    at = block if block is not None else reader.head()
    key = reader.key(signer)
    address = checksum_address(signer)
    if key.participant_id == 0:
        entry.checks.append(
            CheckResult(Check.SIGNER, Outcome.FAIL, f"{address} is not a registered key")
        )
        return
    entry.participant_id = key.participant_id
    info = reader.participant(key.participant_id)
    entry.participant_name = info.name if info else ""
    who = f"{entry.participant_name or 'participant ' + str(key.participant_id)} ({address})"
    if at < key.valid_from:
        detail = f"{who}: the key was registered at block {key.valid_from}, after block {at}"
    elif key.valid_until and at >= key.valid_until:
        detail = f"{who}: the key was rotated out at block {key.valid_until}, before block {at}"
    else:
        roles, active = reader.status_at(key.participant_id, at)
        needed = REQUIRED_ROLES[entry.action]
        if not active:
            detail = f"{who} was suspended at block {at}"
        elif not roles & needed:
            detail = f"{who} lacked the role for {entry.action.name} at block {at}"
        else:
            entry.checks.append(
                CheckResult(
                    Check.SIGNER,
                    Outcome.PASS,
                    f"{who}, active {_roles(roles & needed)} at block {at}",
                )
            )
            return
    entry.checks.append(CheckResult(Check.SIGNER, Outcome.FAIL, detail))


#: How a report says that an event's custody was checked in an anchor-only window.
REPLAYED = "custody: checked by replay, anchor-only window (challengeable)"


def _check_replay(
    entry: EventReport,
    item: BundleEvent,
    block: int,
    reader: ChainReader,
    rules: dict[bytes, BatchState],
    moves: list[tuple[StateLeaf, StateLeaf]],
    known: frozenset[bytes],
    transition_root: bytes,
) -> None:
    """``accepted-on-chain`` of a lifecycle event of an anchor-only window, where nothing
    executed it on-chain: the custody rules ingest applies (node.events.rules, the
    contract's) accept it on the batches as the bundle's earlier events left them, with
    its signer's roles at the window's block; and its transitions are leaves of the
    window's anchored transition root, signed by its signer, from and to the states the
    bundle's events lead to (``moves``: node.proofs.state.advance). A failure means the
    window is fraudulent: anyone may prove it to CustodyChallenge (tracenode challenge)."""
    event = item.event
    problems: list[str] = []
    if entry.participant_id == 0:
        entry.checks.append(
            CheckResult(
                Check.ACCEPTED_ON_CHAIN,
                Outcome.SKIPPED,
                "not checked: the signer is not a participant (signer)",
            )
        )
        return
    roles, _ = reader.status_at(entry.participant_id, block)
    actor = Actor(entry.signer or bytes(20), entry.participant_id, roles)
    try:
        apply(event, entry.event_hash, actor, rules, _receiver(event, block, reader))
    except EventRejectedError as exc:
        problems.append(f"it breaks a custody rule: {exc}")
    stated = {t.transition.batch_id: t for t in item.transitions}
    named = sorted(event.batch_ids())
    assert item.anchor is not None
    window = reader.anchor(item.anchor.root) or _NO_ANCHOR
    if [t.transition.batch_id for t in item.transitions] != named:
        problems.append(
            f"the bundle carries transitions of {len(stated)} batch(es), in some order; the "
            f"event names {len(named)}, each needs one (ascending batch id)"
        )
    for pre, post in moves:
        ref = stated.get(pre.batch_id)
        if ref is None:
            continue
        move = replace(ref.transition, event_hash=entry.event_hash)
        where = f"batch 0x{pre.batch_id.hex()}"
        if process_transition_proof(move, ref.proof) != transition_root:
            problems.append(
                f"{where}: the transition's proof does not lead to the window's anchored "
                f"transition root 0x{transition_root.hex()}"
            )
        elif not window.first_seq <= move.seq < window.first_seq + window.event_count:
            problems.append(
                f"{where}: the anchored transition's sequence number {move.seq} lies outside "
                f"its window's, {window.first_seq} to "
                f"{window.first_seq + window.event_count - 1}"
            )
        elif move.signer_id != entry.participant_id:
            problems.append(
                f"{where}: the anchored transition names signer {move.signer_id}, the event "
                f"was signed by participant {entry.participant_id}"
            )
        elif pre.batch_id in known and (move.pre, move.post) != (pre, post):
            problems.append(
                f"{where}: the anchored transition goes from {_leaf_text(move.pre)} to "
                f"{_leaf_text(move.post)}; the bundle's events lead from {_leaf_text(pre)} "
                f"to {_leaf_text(post)}"
            )
    fraud = reader.fraud(item.anchor.root)
    if fraud:
        problems.insert(0, _fraudulent(item.anchor.root))
    elif problems:
        problems.append(
            "the window is fraudulent: anyone may prove it on-chain (tracenode challenge)"
        )
    if problems:
        entry.checks.append(CheckResult(Check.ACCEPTED_ON_CHAIN, Outcome.FAIL, "; ".join(problems)))
    elif fraud is None:
        entry.checks.append(
            CheckResult(Check.ACCEPTED_ON_CHAIN, Outcome.PASS, f"{REPLAYED}; {UNMARKED}")
        )
    else:
        entry.checks.append(CheckResult(Check.ACCEPTED_ON_CHAIN, Outcome.PASS, REPLAYED))


#: How a report says it could not read a window's fraud mark.
UNMARKED = "fraud marks not read: this verifier knows no CustodyChallenge"


def _fraudulent(root: bytes) -> str:
    return (
        f"window 0x{root.hex()} was proven fraudulent on-chain (CustodyChallenge): none of its "
        "events is custody-proven"
    )


def _receiver(event: TraceEvent, block: int, reader: ChainReader) -> Receiver | None:
    """The participant a SHIP names (its key current at ``block``), as the rules take it."""
    if event.action is not Action.SHIP or event.counterparty == bytes(20):
        return None
    key = reader.key(event.counterparty)
    if key.participant_id == 0 or block < key.valid_from:
        return None
    if key.valid_until and block >= key.valid_until:
        return None
    roles, active = reader.status_at(key.participant_id, block)
    return Receiver(key.participant_id, roles, active)


def _leaf_text(leaf: StateLeaf) -> str:
    return (
        f"(head 0x{leaf.head.hex()[:12]}…, {leaf.status.name}, custodian {leaf.custodian}, "
        f"{leaf.count} events)"
    )


def _roles(roles: Role) -> str:
    return "/".join(r.name or "" for r in Role if r & roles)


def _check_hash_chain(
    entry: EventReport,
    item: BundleEvent,
    digest: bytes,
    heads: dict[bytes, bytes],
    known: frozenset[bytes],
    altered: dict[bytes, int],
    elsewhere: dict[bytes, tuple[int, bytes]],
    pallets: set[bytes],
) -> None:
    """The event names a batch of the bundle (a bundle holds its batches' events, no
    other), and extends the heads the earlier events of the bundle left (and moves them,
    even when it does not: the next event is judged against this one, so one gap or fork
    is reported once).

    Only the bundle's batches are followed: a transformation that consumed the subject
    also names its sibling inputs, whose histories belong to another bundle. An event
    extending an altered one is not judged: that event's failure says it all.

    The first event of a batch in the bundle that names a previous event the bundle does
    not hold extends history held by another node (a lot received across nodes) when
    BatchRegistry accepted it (``accepted-on-chain``): the contract executes an event only
    on the batch's head, so the chain held that previous event as the head. Skipped then,
    pending until it is anchored, and a gap otherwise. (``elsewhere`` receives the batch.)

    A packing's pallet is no custody batch (node.events.rules, ``pallet-is-batch``): a
    packing fails that names as its pallet a batch the bundle made before it, and so does
    the event that makes a batch the bundle's packings named as a pallet before (``pallets``
    receives each pallet): a lot or an item is packed, never packed onto.
    """
    event = item.event
    action = event.action
    if not event.batch_ids() & known:
        entry.checks.append(CheckResult(Check.HASH_CHAIN, Outcome.FAIL, FOREIGN))
        return
    problems: list[str] = []
    depends: set[int] = set()
    before: list[tuple[bytes, bytes]] = []  # (batch, the previous event the bundle lacks)

    def expect(batch_id: bytes, prev: bytes) -> None:
        if batch_id not in known:
            return
        if prev in altered:
            depends.add(altered[prev])
            return
        head = heads.get(batch_id)
        if head is None:
            before.append((batch_id, prev))
        elif head != prev:
            problems.append(
                f"batch 0x{batch_id.hex()}: names previous event 0x{prev.hex()}, "
                f"the bundle's last is 0x{head.hex()}"
            )

    updates: dict[bytes, bytes] = {}
    if action in (Action.AGGREGATE, Action.DISAGGREGATE):
        if event.batch_id in heads:
            problems.append(_pallet_is_batch(event.batch_id))
        pallets.add(event.batch_id)
    made: tuple[bytes, ...] = event.outputs if action is Action.TRANSFORM else ()
    if action is Action.COMMISSION or event.adopts():
        made = (event.batch_id,)
    problems.extend(_made_on_pallet(b) for b in made if b in pallets and b not in heads)
    if action is Action.COMMISSION:
        if event.prev_event_hash != ZERO32:
            problems.append("a COMMISSION names no previous event")
        if event.batch_id in heads:
            problems.append(f"batch 0x{event.batch_id.hex()} was created twice")
        updates[event.batch_id] = digest
    elif event.adopts():  # a lot received from outside: its history here starts with it
        if event.batch_id in heads:
            problems.append(
                f"batch 0x{event.batch_id.hex()} is received from outside TraceNode, but the "
                "bundle holds earlier events of it"
            )
        updates[event.batch_id] = digest
    elif action is Action.TRANSFORM:
        for batch_id, prev in zip(event.inputs, event.input_prev_hashes, strict=False):
            expect(batch_id, prev)
            updates[batch_id] = digest
        for batch_id in event.outputs:
            if batch_id in heads:
                problems.append(f"output 0x{batch_id.hex()} existed before")
            updates[batch_id] = digest
    elif action in (Action.AGGREGATE, Action.DISAGGREGATE):
        for batch_id, prev in zip(event.inputs, event.input_prev_hashes, strict=False):
            expect(batch_id, prev)
    else:
        expect(event.batch_id, event.prev_event_hash)
        if action is not Action.OBSERVE:
            updates[event.batch_id] = digest
    heads.update(updates)
    accepted = _outcome(entry, Check.ACCEPTED_ON_CHAIN)
    if problems:
        entry.checks.append(CheckResult(Check.HASH_CHAIN, Outcome.FAIL, "; ".join(problems)))
    elif before and accepted not in (Outcome.PASS, Outcome.PENDING):
        gaps = [f"batch 0x{b.hex()} has no earlier event in the bundle" for b, _ in before]
        entry.checks.append(CheckResult(Check.HASH_CHAIN, Outcome.FAIL, "; ".join(gaps)))
    elif before:
        for batch_id, prev in before:
            elsewhere.setdefault(batch_id, (entry.index, prev))
        heads_named = ", ".join(f"0x{prev.hex()}" for _, prev in before)
        entry.checks.append(
            CheckResult(
                Check.HASH_CHAIN,
                Outcome.SKIPPED if accepted is Outcome.PASS else Outcome.PENDING,
                f"{ELSEWHERE}: it extends {heads_named}, "
                + (
                    "the batch's head on-chain when BatchRegistry accepted it (accepted-on-chain)"
                    if accepted is Outcome.PASS
                    else "which the chain must hold as the batch's head: checked once anchored"
                ),
            )
        )
    elif depends:
        events = ", ".join(f"#{i}" for i in sorted(depends))
        entry.checks.append(
            CheckResult(
                Check.HASH_CHAIN,
                Outcome.SKIPPED,
                f"not checked: it extends event {events}, whose fields were altered",
            )
        )
    else:
        entry.checks.append(CheckResult(Check.HASH_CHAIN, Outcome.PASS))


def _pallet_is_batch(batch_id: bytes) -> str:
    return (
        f"pallet 0x{batch_id.hex()} is a custody batch: a lot or an item is packed, never "
        "packed onto"
    )


def _made_on_pallet(batch_id: bytes) -> str:
    return (
        f"batch 0x{batch_id.hex()} was a pallet before it was made: a lot or an item is packed, "
        "never packed onto"
    )


#: How a report says that an event belongs to no batch of the bundle.
FOREIGN = "the event names no batch of the bundle: a bundle holds only its batches' events"

#: How a report says that a batch's history before an event is not in the bundle.
ELSEWHERE = "history before this event is held by another node"


def _repeated(first: int) -> str:
    return f"the event repeats event #{first}: a bundle holds each event once"


def _check_repeat(
    entry: EventReport, item: BundleEvent, block: int | None, reader: ChainReader, first: int
) -> None:
    """``hash-chain`` of an event the bundle already holds (the same digest): it fails,
    and the replay of an anchor-only window it would be part of is not run again."""
    anchor = item.anchor
    if (
        block is not None
        and anchor is not None
        and item.event.action.on_chain
        and any(reader.transition_root(anchor.root))
    ):
        entry.checks.append(
            CheckResult(
                Check.ACCEPTED_ON_CHAIN, Outcome.SKIPPED, f"not checked: {_repeated(first)}"
            )
        )
    entry.checks.append(CheckResult(Check.HASH_CHAIN, Outcome.FAIL, _repeated(first)))


def _outcome(entry: EventReport, check: Check) -> Outcome | None:
    """The outcome of ``check`` on the event so far, None when it was not run."""
    return next((c.outcome for c in entry.checks if c.check is check), None)


@dataclass(frozen=True, slots=True)
class _Step:
    """A lifecycle event of a batch in the bundle: the status and custodian it leaves, and
    whether the bundle says it is anchored (executed on-chain)."""

    event_hash: bytes
    status: BatchStatus
    custodian: int
    anchored: bool
    receiver: bytes | None = None  # a SHIP's to a participant: the key it names


def _advance(
    item: BundleEvent, digest: bytes, entry: EventReport, steps: dict[bytes, list[_Step]]
) -> None:
    event = item.event
    if not event.action.on_chain:
        return
    anchored = item.anchor is not None  # as the bundle says: its anchor checks say if truly
    for batch_id in event.batch_ids():
        history = steps[batch_id]
        before = history[-1].custodian if history else 0
        moved = transition(event, batch_id, before, entry.participant_id)
        if moved is not None:
            shipped = moved[0] is BatchStatus.IN_TRANSIT
            receiver = event.counterparty if shipped else None
            history.append(_Step(digest, moved[0], moved[1], anchored, receiver))


# ----- batches -----


def _check_batches(
    bundle: Bundle,
    reader: ChainReader,
    report: Report,
    by_batch: dict[bytes, list[int]],
    steps: dict[bytes, list[_Step]],
    altered: dict[bytes, int],
    elsewhere: dict[bytes, tuple[int, bytes]],
    ends_at: Mapping[bytes, bytes],
    starts_from: Mapping[bytes, bytes],
    replayed: Mapping[bytes, BatchState | None],
    repeats: Mapping[int, int],
) -> None:
    parents = _check_lineage(bundle, report, altered)
    creators = _creators(bundle)
    for item in bundle.batches:
        batch = BatchReport(
            batch_id=item.batch_id,
            identifier=item.identifier,
            parents=tuple(parents.get(item.batch_id, ())),
            events=by_batch.get(item.batch_id, []),
        )
        created_at = creators.get(item.batch_id)
        if created_at is not None and bundle.events[created_at].event.adopts():
            batch.adopted_at = created_at
            batch.first_seen_mid_chain = first_seen_mid_chain(bundle, created_at)
        if item.batch_id in elsewhere:
            batch.elsewhere_at, batch.extends = elsewhere[item.batch_id]
        batch.checks.append(
            CheckResult(
                Check.IDENTIFIER,
                Outcome.PASS if item.identifier else Outcome.SKIPPED,
                item.identifier or "no identifier",
            )
        )
        batch.checks.append(_check_licence(bundle, report, reader, batch, creators, altered))
        custody = (
            _replayed_custody(
                reader,
                batch,
                steps.get(item.batch_id, []),
                replayed,
                report,
                _as_of(item, batch, report),
            )
            if item.batch_id in replayed
            else _custody(
                item.batch_id,
                reader,
                batch,
                steps.get(item.batch_id, []),
                ends_at.get(item.batch_id),
                starts_from.get(item.batch_id),
                report,
            )
        )
        broken = [
            i
            for i in batch.events
            if any(
                c.check is Check.HASH_CHAIN and c.outcome is Outcome.FAIL
                for c in report.events[i].checks
            )
        ]
        if custody.outcome is Outcome.FAIL and altered:
            # An altered event may belong to this batch under its true fields: the batch's
            # history in the bundle is not known, its failure is the altered event's.
            custody = CheckResult(
                Check.CUSTODY, Outcome.SKIPPED, f"not checked: {_altered_events(altered)}"
            )
        elif custody.outcome is Outcome.FAIL and broken:
            # Where the events lead is not known across a gap or a fork: hash-chain says so.
            custody = CheckResult(
                Check.CUSTODY,
                Outcome.SKIPPED,
                "not checked: the batch's history in the bundle is broken at event "
                + ", ".join(f"#{i}" for i in broken)
                + " (hash-chain)",
            )
        batch.checks.append(custody)
        batch.checks.append(_check_complete(item, bundle, report, reader, altered, broken, repeats))
        report.batches.append(batch)


def first_seen_mid_chain(bundle: Bundle, index: int) -> bool:
    """Whether the adoption ``bundle.events[index]`` is of a lot first seen mid-chain
    (docs/epcis.md): the bundle's next event extending it was signed over the same payload
    (one EPCIS event: the lot's adoption and the event that first named it) and is no
    receipt."""
    adoption = bundle.events[index]
    for later in bundle.events[index + 1 :]:
        event = later.event
        if adoption.event_hash == event.prev_event_hash or (
            adoption.event_hash in event.input_prev_hashes
        ):
            return (
                event.payload_hash == adoption.event.payload_hash
                and event.action is not Action.RECEIVE
            )
    return False


def _creators(bundle: Bundle) -> dict[bytes, int]:
    """For each batch, the first event of the bundle that creates it (its COMMISSION, the
    TRANSFORM that output it, or the RECEIVE that adopted it from outside), as an index
    into the bundle's events."""
    creators: dict[bytes, int] = {}
    for index, item in enumerate(bundle.events):
        for batch_id in item.event.created_batch_ids():
            creators.setdefault(batch_id, index)
    return creators


def _split(identifier: str | None) -> IdentifierSplit | str:
    """Where the prefix of ``identifier`` can sit, or why the ``licence`` check does not
    apply to it."""
    if identifier is None:
        return "no identifier"
    parsed = parse_identifier(identifier)  # as the bundle reader did: it parses
    if parsed.kind is IdentifierKind.BATCH_ID:
        return f"{identifier} is a bare batch id: it names no identifier, no licence covers it"
    return identifier_split(parsed)


def _named(identifier: str, split: IdentifierSplit) -> str:
    """How a licence check names the identifier: the GTIN of a GS1 one, else the handle."""
    if split.kind is PrefixKind.GS1:
        return "GTIN " + split.canonical[len(split.head) - 1 :][:14]
    return "handle " + identifier


def _who(participant_id: int, reader: ChainReader) -> str:
    info = reader.participant(participant_id)
    return info.name if info and info.name else f"participant {participant_id}"


def _licence_at(reader: ChainReader, kind: PrefixKind, prefix: str, block: int) -> Licence:
    """``licenceAt(kind, prefix, block)``, asked only when the prefix's current licence does
    not answer it: a prefix never licensed has no licence at any block, and one whose
    latest licence is valid at ``block`` has that one (licences of a prefix never overlap
    and are never granted for past blocks). The current licences are asked for every
    candidate at once, the same for every block; most candidates were never licensed."""
    current = reader.licence(kind, prefix)
    if current.holder == 0 or current.valid_at(block):
        return current
    return reader.licence_at(kind, prefix, block)


def _check_licence(
    bundle: Bundle,
    report: Report,
    reader: ChainReader,
    batch: BatchReport,
    creators: dict[bytes, int],
    altered: dict[bytes, int],
) -> CheckResult:
    """``licence``: the creator of the batch held its identifier's prefix at the block its
    creating event was accepted in (see the module docstring)."""
    split = _split(batch.identifier)
    if isinstance(split, str):
        return CheckResult(Check.LICENCE, Outcome.SKIPPED, split)
    index = creators.get(batch.batch_id)
    if split.kind is PrefixKind.OTHER:
        made_by = report.events[index].participant_id if index is not None else 0
        node = f"{_who(made_by, reader)}'s node" if made_by else "the node that created it"
        return CheckResult(
            Check.LICENCE,
            Outcome.SKIPPED,
            f"{split.canonical}: node-local identifier: no prefix, no brand owner; allowed by "
            f"the open-identifier policy of {node} (a policy, not a licence)",
        )
    if index is None:
        return CheckResult(
            Check.LICENCE,
            Outcome.SKIPPED,
            "not checked: the event that created the batch is not in the bundle",
        )
    entry = report.events[index]
    if entry.event_hash in altered:
        return CheckResult(
            Check.LICENCE,
            Outcome.SKIPPED,
            f"not checked: the fields of event #{index}, which created the batch, were altered "
            "(event-hash)",
        )
    if bundle.events[index].anchor is None:
        return CheckResult(
            Check.LICENCE,
            Outcome.PENDING,
            f"event #{index}, which created the batch, is not anchored yet",
        )
    block = entry.block_number
    if block is None:
        return CheckResult(
            Check.LICENCE,
            Outcome.SKIPPED,
            f"not checked: the root of event #{index}, which created the batch, is not on the "
            "chain (root-on-chain)",
        )
    if entry.participant_id == 0:
        return CheckResult(
            Check.LICENCE,
            Outcome.SKIPPED,
            f"not checked: event #{index}, which created the batch, has no registered signer "
            "(signer)",
        )
    named = _named(batch.identifier or "", split)
    held: tuple[str, Licence] | None = None
    for prefix in split.candidates:
        licence = _licence_at(reader, split.kind, prefix, block)
        if licence.holder == entry.participant_id:
            held = (prefix, licence)
            break
        if held is None and licence.holder != 0:
            held = (prefix, licence)
    creator = _who(entry.participant_id, reader)
    adopted = bundle.events[index].event.adopts()
    came = (
        "first seen mid-chain (history before it not captured here), adopted"
        if batch.first_seen_mid_chain
        else "received from outside TraceNode"
    )
    if held is None and adopted:
        # A lot from outside under a prefix nobody in the network holds: what the contract
        # lets any participant receive (no one here speaks for its brand).
        return CheckResult(
            Check.LICENCE,
            Outcome.PASS,
            f"{named}: {came} by {creator} at block {block}; no "
            "prefix of it is licensed in the network, so its brand owner is outside it",
        )
    if held is None:
        return CheckResult(
            Check.LICENCE,
            Outcome.FAIL,
            f"{named}: no prefix of it was licensed to anyone at block {block}, when "
            f"{creator} created the batch",
        )
    prefix, licence = held
    holder = _who(licence.holder, reader)
    info = reader.participant(licence.holder)
    batch.licence = BatchLicence(
        split.kind,
        prefix,
        licence.holder,
        info.name if info else "",
        licence.valid_from,
        licence.valid_until,
    )
    if licence.holder != entry.participant_id:
        did = "created the batch"
        if adopted:
            did = (
                "adopted it first seen mid-chain"
                if batch.first_seen_mid_chain
                else ("received it from outside")
            )
        return CheckResult(
            Check.LICENCE,
            Outcome.FAIL,
            f"{named}: prefix {prefix} was licensed to {holder} at block {block}, not to "
            f"{creator}, who {did}",
        )
    until = f" until block {licence.valid_until}" if licence.valid_until else ""
    return CheckResult(
        Check.LICENCE,
        Outcome.PASS,
        f"{named}: prefix {prefix}, licensed to {holder} since block {licence.valid_from}{until}",
    )


def _altered_events(altered: dict[bytes, int]) -> str:
    indexes = sorted(set(altered.values()))
    return "the fields of event " + ", ".join(f"#{i}" for i in indexes) + " were altered"


def _check_lineage(
    bundle: Bundle, report: Report, altered: dict[bytes, int]
) -> dict[bytes, list[bytes]]:
    """The subject is the first batch, every other batch is its ancestor through the
    lineage links, every link is backed by a transformation or packing event of the
    bundle, and no ancestor is missing: every input of a transformation that made a bundle
    batch, and every lot a packing put on a bundle pallet, is a bundle batch with its link
    (as the node's export holds them: the ancestry of the subject). Returns each batch's
    parents."""
    bundle_events = {
        r.event_hash: bundle.events[r.index].event
        for r in report.events
        if r.event_hash not in altered
    }
    known = [b.batch_id for b in bundle.batches]
    members = set(known)
    parents: dict[bytes, list[bytes]] = defaultdict(list)
    problems: list[str] = []
    unchecked = 0
    if known[0] != bundle.subject:
        problems.append(
            f"the subject 0x{bundle.subject.hex()} is not the bundle's first batch "
            f"0x{known[0].hex()}"
        )
    if len(members) != len(known):
        problems.append("a batch is listed twice")
    for link in bundle.lineage:
        parents[link.child].append(link.parent)
        if link.parent not in members or link.child not in members:
            problems.append(
                f"link 0x{link.parent.hex()} -> 0x{link.child.hex()} names a batch that is "
                "not in the bundle"
            )
        elif link.event_hash in altered:
            unchecked += 1
        elif not _links(bundle_events.get(link.event_hash), link.parent, link.child):
            problems.append(
                f"link 0x{link.parent.hex()} -> 0x{link.child.hex()} is not backed by a "
                "transformation or packing event of the bundle"
            )
    reached = {bundle.subject}
    queue = [bundle.subject]
    while queue:
        for parent in parents.get(queue.pop(), ()):
            if parent not in reached:
                reached.add(parent)
                queue.append(parent)
    strays = [b for b in known if b not in reached]
    if strays:
        problems.append(
            f"{len(strays)} batch(es) are not ancestors of the subject through the lineage "
            "links: " + ", ".join(f"0x{b.hex()}" for b in strays)
        )
    linked = {(link.parent, link.child, link.event_hash) for link in bundle.lineage}
    for event_hash, event in bundle_events.items():
        made = [(p, c) for p, c in _made_from(event) if c in members]
        if not made:
            continue
        missing = [b for b in event.inputs if b not in members]
        if missing and event.action is Action.TRANSFORM:
            problems.append(
                f"transformation 0x{event_hash.hex()} consumed {len(missing)} "
                "batch(es) missing from the bundle"
            )
        elif missing:
            problems.append(
                f"packing 0x{event_hash.hex()} put {len(missing)} batch(es) missing from "
                f"the bundle on pallet 0x{event.batch_id.hex()}"
            )
        unlinked = [(p, c) for p, c in made if p in members and (p, c, event_hash) not in linked]
        if unlinked:
            problems.append(
                "the lineage lacks "
                + ", ".join(f"0x{p.hex()} -> 0x{c.hex()}" for p, c in unlinked)
                + f", made by event 0x{event_hash.hex()}"
            )
    if problems:
        result = CheckResult(Check.LINEAGE, Outcome.FAIL, "; ".join(problems))
    elif unchecked:
        result = CheckResult(
            Check.LINEAGE,
            Outcome.SKIPPED,
            f"{unchecked} link(s) not checked: {_altered_events(altered)}",
        )
    else:
        result = CheckResult(Check.LINEAGE, Outcome.PASS, f"{len(bundle.lineage)} link(s)")
    report.checks.append(result)
    return parents


def _made_from(event: TraceEvent) -> list[tuple[bytes, bytes]]:
    """The lineage links an event makes, (parent, child): a transformation's from each
    input to each output, a packing's from each lot to its pallet (node.events.rules);
    none for any other event (an unpacking links nothing)."""
    if event.action is Action.TRANSFORM:
        return [(p, c) for c in event.outputs for p in event.inputs]
    if event.action is Action.AGGREGATE:
        return [(p, event.batch_id) for p in event.inputs]
    return []


def _links(event: TraceEvent | None, parent: bytes, child: bytes) -> bool:
    return event is not None and (parent, child) in _made_from(event)


def _custody(
    batch_id: bytes,
    reader: ChainReader,
    batch: BatchReport,
    history: list[_Step],
    ends_at: bytes | None = None,
    starts_from: bytes | None = None,
    report: Report | None = None,
) -> CheckResult:
    """The batch's on-chain head, status and custodian against what its events lead to;
    with ``ends_at``, the head its history must end at; with ``starts_from``, the head it
    must start from (see :func:`verify_bundle`)."""
    on_chain = reader.batch(batch_id)
    batch.status = on_chain.status
    batch.custodian_id = on_chain.custodian_id
    if on_chain.custodian_id:
        info = reader.participant(on_chain.custodian_id)
        batch.custodian_name = info.name if info else ""
    if not history:
        if on_chain.status is BatchStatus.NONE:
            return CheckResult(Check.CUSTODY, Outcome.SKIPPED, "not a custody unit (a pallet)")
        return CheckResult(
            Check.CUSTODY,
            Outcome.FAIL,
            "the chain holds this batch, the bundle has no event that made it",
        )
    if starts_from is not None and batch.extends != starts_from:
        starts = f"extends 0x{batch.extends.hex()}" if batch.extends else "starts in it"
        return CheckResult(
            Check.CUSTODY,
            Outcome.FAIL,
            f"this part must start from 0x{starts_from.hex()}, where the part before it "
            f"ends; its history of the batch {starts}",
        )
    if ends_at is not None:
        return _ends_at(history, ends_at)
    position = next((i for i, step in enumerate(history) if step.event_hash == on_chain.head), None)
    if position is None:
        if on_chain.status is BatchStatus.NONE and not any(s.anchored for s in history):
            return CheckResult(Check.CUSTODY, Outcome.PENDING, "not on the chain yet")
        continued = _continued(reader, batch, history, on_chain.head, report)
        if continued is not None:
            return continued
        return CheckResult(
            Check.CUSTODY,
            Outcome.FAIL,
            f"the chain's last event for this batch, 0x{on_chain.head.hex()}, is not in the "
            "bundle: the bundle is older than the chain or leaves events out",
        )
    later = history[position + 1 :]
    if any(step.anchored for step in later):
        return CheckResult(
            Check.CUSTODY,
            Outcome.FAIL,
            f"the chain's last event for this batch is 0x{on_chain.head.hex()}; the bundle's "
            "later events were never executed on-chain",
        )
    step = history[position]
    if on_chain.status != step.status or (
        step.custodian and on_chain.custodian_id != step.custodian
    ):
        return CheckResult(
            Check.CUSTODY,
            Outcome.FAIL,
            f"on-chain {on_chain.status.name}, custodian {on_chain.custodian_id}; the events "
            f"lead to {step.status.name}, custodian {step.custodian}",
        )
    return _held(on_chain.status, batch.custodian_name or str(on_chain.custodian_id), len(later))


def _held(status: BatchStatus, holder: str, later: int, how: str = "") -> CheckResult:
    """``custody`` holding: the batch ``status``, held by ``holder`` (``how``: how that was
    checked); pending while ``later`` events are not committed."""
    if later:
        return CheckResult(Check.CUSTODY, Outcome.PENDING, f"{later} event(s) not committed yet")
    return CheckResult(Check.CUSTODY, Outcome.PASS, f"{status.name}, held by {holder}{how}")


def _replayed_custody(
    reader: ChainReader,
    batch: BatchReport,
    history: list[_Step],
    replayed: Mapping[bytes, BatchState | None],
    report: Report,
    as_of: int | None,
) -> CheckResult:
    """``custody`` of a batch moved in anchor-only windows: no contract holds its state,
    the custody rules replayed from the bundle do (each event's ``accepted-on-chain``),
    and its anchored state leaf must be where they lead (``complete``). It holds as of the
    block of that state (``as_of``) only: nothing on-chain shows a later window."""
    broken = [
        i
        for i in batch.events
        if _outcome(report.events[i], Check.ACCEPTED_ON_CHAIN) is Outcome.FAIL
    ]
    if broken:
        return CheckResult(
            Check.CUSTODY,
            Outcome.FAIL,
            "event " + ", ".join(f"#{i}" for i in broken) + " broke the custody rules in an "
            "anchor-only window (accepted-on-chain): its custody is not proven",
        )
    state = replayed.get(batch.batch_id)
    if state is None:
        return CheckResult(Check.CUSTODY, Outcome.FAIL, "no event of the bundle made this batch")
    batch.status, batch.custodian_id = state.status, state.custodian_id
    batch.custodian_name = _who(state.custodian_id, reader)
    later = [s for s in history if not s.anchored]
    return _held(state.status, batch.custodian_name, len(later), f": {REPLAYED}; {_unseen(as_of)}")


#: What a check of an anchor-only batch cannot see (docs/proofs.md, "Limits of a bundle"):
#: the chain keeps each window's roots, no head per batch, so nothing on-chain says that a
#: later window moved the batch.
LATER_UNSEEN = (
    "later windows cannot be seen on-chain in anchor-only mode (the chain keeps no head per "
    "batch): an event after it, a RECALL too, would not show here"
)


def _unseen(block: int | None) -> str:
    return LATER_UNSEEN if block is None else f"as of block {block}: {LATER_UNSEEN}"


def _as_of(item: BundleBatch, batch: BatchReport, report: Report) -> int | None:
    """The block an anchor-only batch's checks hold as of: its state's window's, else the
    last its events were anchored in (None: none is)."""
    if item.state is not None:
        return item.state.block_number
    blocks = [b for i in batch.events if (b := report.events[i].block_number) is not None]
    return max(blocks, default=None)


def _continued(
    reader: ChainReader,
    batch: BatchReport,
    history: list[_Step],
    head: bytes,
    report: Report | None,
) -> CheckResult | None:
    """``custody`` of a batch whose chain head is no event of the bundle, when its later
    history is held by another node: the bundle's last lifecycle event of it is a SHIP,
    anchored (its own checks say whether truly), to a participant another registrar
    registered than the shipper's (another node's participant). Skipped, never passed:
    what the chain's head leads to is the later part's to prove (node/network/lineage.py).
    None when that is not so: the bundle is then older than the chain, or leaves out."""
    last = history[-1]
    if last.receiver is None or not last.anchored:
        return None
    receiver = reader.key(last.receiver).participant_id
    if receiver == 0 or reader.registrar_of(receiver) == reader.registrar_of(last.custodian):
        return None
    if report is not None:
        batch.continued_at = next(
            i for i in reversed(batch.events) if report.events[i].event_hash == last.event_hash
        )
    batch.continued_to, batch.chain_head = receiver, head
    now = batch.custodian_name or f"participant {batch.custodian_id}"
    return CheckResult(
        Check.CUSTODY,
        Outcome.SKIPPED,
        f"{CONTINUED}: the chain's head is 0x{head.hex()}, after this bundle's last event "
        f"0x{last.event_hash.hex()}, a SHIP to {_who(receiver, reader)}, another node's "
        f"participant; the chain records it {batch.status.name}, held by {now}",
    )


#: How a report says that a batch's history after its last event is held by another node.
CONTINUED = "continued on another node"


def _ends_at(history: list[_Step], head: bytes) -> CheckResult:
    """``custody`` of a part of a batch's history that another node's event continued: its
    lifecycle events, all anchored, end exactly at ``head``."""
    last = history[-1] if history else None
    if last is None or last.event_hash != head:
        ends = f"0x{last.event_hash.hex()}" if last else "no lifecycle event"
        return CheckResult(
            Check.CUSTODY,
            Outcome.FAIL,
            f"this part must end at 0x{head.hex()}, the head the next event extends; "
            f"its events end at {ends}",
        )
    if not all(step.anchored for step in history):
        return CheckResult(Check.CUSTODY, Outcome.PENDING, "its events are not all anchored yet")
    return CheckResult(
        Check.CUSTODY,
        Outcome.PASS,
        f"ends at 0x{head.hex()}, {last.status.name}, held by participant {last.custodian}: "
        "the head the next event extends",
    )


def _check_complete(
    item: BundleBatch,
    bundle: Bundle,
    report: Report,
    reader: ChainReader,
    altered: dict[bytes, int],
    broken: list[int],
    repeats: Mapping[int, int],
) -> CheckResult:
    """``complete``: the bundle holds every event of the batch up to the state its latest
    window anchored (node.proofs.state): exactly ``count`` distinct events (a repeated one
    counts once, and fails), leading to its head, custodian and status; later events are
    reported as not covered yet."""
    named = [i for i in range(len(bundle.events)) if item.batch_id in report.events[i].batch_ids]
    indexes = [i for i in named if i not in repeats]
    again = [i for i in named if i in repeats]
    stated = item.state
    # Windows of the batch's events that have a state root: the bundle must carry one at
    # least as late as each (a state root is anchored for every window since they exist).
    covered = [
        (i, a)
        for i in indexes
        if (a := bundle.events[i].anchor) is not None and any(reader.state_root(a.root))
    ]
    if stated is None:
        if covered:
            return _incomplete(
                f"the window of event #{covered[-1][0]} has an anchored state root; the bundle "
                "carries no state for this batch"
            )
        if any(bundle.events[i].anchor is not None for i in indexes):
            return CheckResult(
                Check.COMPLETE,
                Outcome.SKIPPED,
                "not proven: no window of this batch's events has an anchored state root",
            )
        return CheckResult(
            Check.COMPLETE, Outcome.PENDING, "no event of this batch is anchored yet"
        )
    problem = _state_problem(stated, reader)
    if problem:
        return _incomplete(problem)
    block = stated.block_number
    later = [i for i, a in covered if (reader.anchor(a.root) or _NO_ANCHOR).block_number > block]
    if later:
        return _incomplete(
            f"event #{later[-1]} was anchored after block {block} in a window with a state "
            "root: the bundle's state is not the batch's latest"
        )
    if altered:
        # An altered event may belong to this batch under its true fields (as custody).
        return CheckResult(
            Check.COMPLETE, Outcome.SKIPPED, f"not checked: {_altered_events(altered)}"
        )
    leaf = stated.leaf
    count = leaf.count
    if len(indexes) < count:
        distinct = ""
        if again:
            distinct = f" distinct ones (event #{again[0]} repeats #{repeats[again[0]]})"
        return _incomplete(
            f"incomplete: the state anchored at block {block} counts {count} events of this "
            f"batch, the bundle holds {len(indexes)}{distinct}"
        )
    if again:
        return _incomplete(
            f"event #{again[0]} repeats event #{repeats[again[0]]}: the state anchored at block "
            f"{block} counts each event of this batch once"
        )
    if broken:
        return CheckResult(
            Check.COMPLETE,
            Outcome.SKIPPED,
            "not checked: the batch's history in the bundle is broken at event "
            + ", ".join(f"#{i}" for i in broken)
            + " (hash-chain)",
        )
    unsigned = [i for i in indexes[:count] if report.events[i].participant_id == 0]
    if unsigned:
        return CheckResult(
            Check.COMPLETE,
            Outcome.SKIPPED,
            f"not checked: event #{unsigned[0]}'s signer is not a participant (signer)",
        )
    replayed = replay(
        (report.events[i].event_hash, bundle.events[i].event, report.events[i].participant_id)
        for i in indexes[:count]
    ).get(item.batch_id, StateLeaf(item.batch_id))
    if replayed.head != leaf.head:
        return _incomplete(
            f"incomplete: the state anchored at block {block} ends at event 0x{leaf.head.hex()}; "
            f"the bundle's first {count} events of this batch end at 0x{replayed.head.hex()}"
        )
    if (replayed.status, replayed.custodian) != (leaf.status, leaf.custodian):
        return _incomplete(
            f"the state anchored at block {block} is {leaf.status.name}, custodian "
            f"{leaf.custodian}; the events lead to {replayed.status.name}, custodian "
            f"{replayed.custodian}"
        )
    extra = indexes[count:]
    counted = [
        i for i in extra if (a := bundle.events[i].anchor) is not None and a.block_number <= block
    ]
    if counted:
        return _incomplete(
            f"event #{counted[0]} was anchored by block {block}, but the state anchored then "
            f"counts {count} events of this batch, and the bundle holds more"
        )
    if extra:
        return CheckResult(
            Check.COMPLETE,
            Outcome.PENDING,
            f"{count} events complete as anchored at block {block}; {len(extra)} later "
            "event(s) not covered by an anchored state yet",
        )
    unseen = f"; {_unseen(block)}" if any(reader.transition_root(stated.root)) else ""
    return CheckResult(
        Check.COMPLETE,
        Outcome.PASS,
        f"complete: {count} events, as anchored at block {block}{unseen}",
    )


_NO_ANCHOR = AnchorInfo(0, 0, 0, 0)


def _incomplete(detail: str) -> CheckResult:
    return CheckResult(Check.COMPLETE, Outcome.FAIL, detail)


def _state_problem(stated: StateRef, reader: ChainReader) -> str:
    """What is wrong with a batch's state leaf, its proof or its anchor ("" when nothing)."""
    anchored = reader.anchor(stated.root)
    if anchored is None:
        return f"the state's window root 0x{stated.root.hex()} is not anchored"
    if anchored.block_number != stated.block_number:
        return (
            f"the state's window root was anchored in block {anchored.block_number}, "
            f"not {stated.block_number}"
        )
    on_chain = reader.state_root(stated.root)
    if not any(on_chain):
        return f"AnchorRegistry holds no state root for window 0x{stated.root.hex()}"
    if on_chain != stated.state_root:
        return (
            f"AnchorRegistry's state root for the window is 0x{on_chain.hex()}, not "
            f"0x{stated.state_root.hex()}"
        )
    if process_state_proof(stated.leaf, stated.proof) != stated.state_root:
        return "the state proof does not lead from the batch's state leaf to the state root"
    return ""


# ----- the report as JSON (the CLI's --json and the HTTP API) -----


def _checks_json(checks: list[CheckResult]) -> list[dict[str, str]]:
    return [
        {"check": c.check.value, "outcome": c.outcome.value, "detail": c.detail} for c in checks
    ]


def _licence_json(licence: BatchLicence | None) -> dict[str, object] | None:
    if licence is None:
        return None
    return {
        "kind": licence.kind.label,
        "prefix": licence.prefix,
        "holder": {"id": licence.holder_id, "name": licence.holder_name},
        "validFrom": str(licence.valid_from),
        "validUntil": str(licence.valid_until) if licence.valid_until else None,
    }


def report_json(report: Report) -> dict[str, object]:
    """The verification report as one JSON document (docs/proofs.md)."""
    return {
        "subject": "0x" + report.subject.hex(),
        "outcome": report.outcome.value,
        "chainId": str(report.chain_id),
        "contracts": report.contracts,
        "checks": _checks_json(report.checks),
        "failures": report.failures(),
        "batches": [
            {
                "batchId": "0x" + b.batch_id.hex(),
                "identifier": b.identifier,
                "outcome": b.outcome.value,
                "parents": ["0x" + p.hex() for p in b.parents],
                "status": b.status.name,
                "custodian": {"id": b.custodian_id, "name": b.custodian_name},
                "licence": _licence_json(b.licence),
                "events": b.events,
                "adoptedAt": b.adopted_at,
                "firstSeenMidChain": b.first_seen_mid_chain,
                "elsewhereAt": b.elsewhere_at,
                "continuedAt": b.continued_at,
                "continuedTo": b.continued_to or None,
                "chainHead": None if b.chain_head is None else "0x" + b.chain_head.hex(),
                "checks": _checks_json(b.checks),
            }
            for b in report.batches
        ],
        "events": [
            {
                "index": e.index,
                "eventHash": "0x" + e.event_hash.hex(),
                "action": e.action.name,
                "batchIds": ["0x" + b.hex() for b in e.batch_ids],
                "eventTime": str(e.event_time),
                "signer": to_checksum_address(e.signer) if e.signer else None,
                "participant": {"id": e.participant_id, "name": e.participant_name},
                "blockNumber": None if e.block_number is None else str(e.block_number),
                "txHash": "0x" + e.tx_hash.hex() if e.tx_hash else None,
                "root": "0x" + e.root.hex() if e.root else None,
                "outcome": e.outcome.value,
                "checks": _checks_json(e.checks),
            }
            for e in report.events
        ],
    }
