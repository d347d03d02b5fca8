"""Integrity rules: the store disagrees with the chain or with itself, as after someone
edited the database. Each is a pure function of what the store and the chain say, so it is
tested on its own; :mod:`node.monitor.service` gathers the inputs.

- ``window-root-mismatch``: a window's events do not rebuild the root it recorded;
- ``root-not-on-chain``: a confirmed window whose root AnchorRegistry does not hold, or
  holds for other sequence numbers;
- ``anchored-event-missing``: the chain anchored more (or fewer) events under a root than
  the store holds in that window;
- ``state-root-mismatch``: a window's stored state leaves do not rebuild its state root,
  or the state root AnchorRegistry holds for the window is another (node.proofs.state);
- ``window-fraudulent``: an anchor-only window whose stored state and transition roots do
  not hash to the commitment AnchorRegistry holds for it, or that CustodyChallenge marked
  fraudulent (node.proofs.transitions);
- ``event-altered``: a stored event whose fields no longer hash to its event hash, or
  whose signature does not recover to its stored signer;
- ``custody-mismatch``: a batch whose custodian, status or head in the store differ from
  the chain's, with none of its events waiting to be anchored.

All are critical: proven (hashes and the chain do not lie) and they mislead every buyer
and auditor who reads the node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from node.chain.logs import window_commitment
from node.chain.reader import AnchorInfo, ChainBatch
from node.events.batch import BatchState
from node.events.merkle import MerkleTree
from node.events.signatures import Recover, recover_signers
from node.events.typed_data import BatchStatus, Domain
from node.monitor.grading import Confidence, Impact, grade
from node.proofs.state import StateLeaf, state_tree
from node.store.records import EventRecord, Finding, WindowRecord, WindowStateRecord

#: Every integrity finding: proven, and the record misleads whoever reads it.
SEVERITY, SCORE = grade(Impact(integrity=3, safety=1), Confidence.PROVEN)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _proven(
    kind: str,
    subject: object,
    *,
    detail: str,
    evidence: Mapping[str, object],
    block_number: int | None = None,
    batch_id: bytes | None = None,
    event_hash: bytes | None = None,
    participant_id: int | None = None,
) -> Finding:
    """A finding of this module: proven from the store and the chain, graded alike, one
    incident per ``kind`` and ``subject`` (a window id, an event hash)."""
    return Finding(
        kind=kind,
        severity=SEVERITY,
        score=SCORE,
        incident=f"{kind}:{subject}",
        detail=detail,
        evidence=evidence,
        batch_id=batch_id,
        event_hash=event_hash,
        participant_id=participant_id,
        block_number=block_number,
    )


def check_window(
    window: WindowRecord,
    events: Sequence[EventRecord],
    anchor: AnchorInfo | None,
    *,
    states: Sequence[WindowStateRecord] = (),
    state_root: bytes | None = None,
    commitment: bytes | None = None,
    fraud: int | None = None,
) -> list[Finding]:
    """A confirmed window against its events and the chain's record of its root; and its
    state leaves (``states``) against the chain's state root for it (``state_root``); an
    anchor-only window's stored state and transition roots against the chain's commitment
    to them (``commitment``: AnchorRegistry's ``windowCommitmentOf``), and CustodyChallenge's
    mark of it (``fraud``: its FraudKind, 0 none; None: not read)."""
    found: list[Finding] = []
    where = {"windowId": window.id, "root": _hex(window.root), "txHash": _hex(window.tx_hash)}
    rebuilt = MerkleTree([e.event_hash for e in events]).root if events else None
    if rebuilt != window.root:
        found.append(
            _proven(
                "window-root-mismatch",
                window.id,
                detail=f"window {window.id}'s stored events do not rebuild its root",
                evidence=where
                | {
                    "rebuiltRoot": _hex(rebuilt) if rebuilt else None,
                    "events": [_hex(e.event_hash) for e in events],
                },
                block_number=window.block_number,
            )
        )
    if anchor is None or anchor.first_seq != window.first_seq:
        found.append(
            _proven(
                "root-not-on-chain",
                window.id,
                detail=(
                    f"window {window.id}'s root is not anchored on-chain"
                    if anchor is None
                    else f"window {window.id}'s root is anchored for other sequence numbers"
                ),
                evidence=where
                | {
                    "storedFirstSeq": str(window.first_seq),
                    "chainFirstSeq": None if anchor is None else str(anchor.first_seq),
                },
                block_number=window.block_number,
            )
        )
    elif anchor.event_count != len(events) or window.event_count != len(events):
        found.append(
            _proven(
                "anchored-event-missing",
                window.id,
                detail=(
                    f"the chain anchored {anchor.event_count} events under window "
                    f"{window.id}'s root; the store holds {len(events)}"
                ),
                evidence=where
                | {"chainEventCount": anchor.event_count, "storedEventCount": len(events)},
                block_number=anchor.block_number,
            )
        )
    if anchor is not None and anchor.first_seq == window.first_seq:
        # (A root the chain does not hold has no state there either: reported once, above.)
        found += _check_state(window, states, state_root, where)
        found += _check_transitions(window, commitment, fraud, where)
    return found


def _check_transitions(
    window: WindowRecord, on_chain: bytes | None, fraud: int | None, where: dict[str, object]
) -> list[Finding]:
    """``window-fraudulent``: only for an anchor-only window. The chain keeps one
    commitment to its two roots (node.chain.logs.window_commitment): the stored roots must
    hash to it."""
    if window.transition_root is None:
        return []
    problems = []
    stored = (
        window_commitment(window.state_root, window.transition_root)
        if window.state_root is not None
        else None
    )
    if on_chain != stored:
        problems.append(
            f"window {window.id}'s state and transition roots are not the ones anchored "
            "on-chain (they do not hash to its commitment)"
        )
    if fraud:
        problems.append(f"CustodyChallenge marked window {window.id} fraudulent (kind {fraud})")
    if not problems:
        return []
    return [
        _proven(
            "window-fraudulent",
            window.id,
            detail="; ".join(problems),
            evidence=where
            | {
                "storedStateRoot": _hex(window.state_root) if window.state_root else None,
                "storedTransitionRoot": _hex(window.transition_root),
                "storedCommitment": _hex(stored) if stored else None,
                "chainCommitment": _hex(on_chain) if on_chain and any(on_chain) else None,
                "fraudKind": fraud,
            },
            block_number=window.block_number,
        )
    ]


def _check_state(
    window: WindowRecord,
    states: Sequence[WindowStateRecord],
    on_chain: bytes | None,
    where: dict[str, object],
) -> list[Finding]:
    """``state-root-mismatch``: only for a window whose state root the node anchored (an
    anchor-only window's is in its commitment, checked by :func:`_check_transitions`)."""
    if window.state_root is None or not window.state_block:
        return []
    leaves = [
        StateLeaf(s.batch_id, s.head, s.custodian, BatchStatus(s.status), s.count) for s in states
    ]
    rebuilt = state_tree(leaves)[1].root if leaves else None
    problems = []
    if rebuilt != window.state_root:
        problems.append(f"window {window.id}'s stored state leaves do not rebuild its state root")
    if window.transition_root is None and on_chain != window.state_root:
        problems.append(f"window {window.id}'s state root is not the one anchored on-chain")
    if not problems:
        return []
    return [
        _proven(
            "state-root-mismatch",
            window.id,
            detail="; ".join(problems),
            evidence=where
            | {
                "storedStateRoot": _hex(window.state_root),
                "rebuiltStateRoot": _hex(rebuilt) if rebuilt else None,
                "chainStateRoot": _hex(on_chain) if on_chain and any(on_chain) else None,
            },
            block_number=window.block_number,
        )
    ]


def check_events(
    events: Iterable[EventRecord],
    domain: Domain,
    recover: Recover | None = recover_signers,
) -> list[Finding]:
    """Stored events whose fields or signature no longer match their hash and signer.

    ``recover``: the signers of (digest, signature) pairs, None where one does not
    recover (a serving node's recovery processes: node.events.signatures); None: the
    fields only, the signatures are not recovered (the monitor's watch leaves them to
    its cycle: a recovery costs more than the rest of an event's checks)."""
    records = list(events)
    digests = [record.event.digest(domain) for record in records]
    signers: list[bytes | None] = (
        recover([(d, r.signature) for d, r in zip(digests, records, strict=True)])
        if recover is not None
        else [r.signer for r in records]
    )
    found: list[Finding] = []
    for record, digest, signer in zip(records, digests, signers, strict=True):
        problems: list[str] = []
        if digest != record.event_hash:
            problems.append("its fields do not hash to its event hash")
        elif signer is None:
            problems.append("its signature does not recover")
        elif signer != record.signer:
            problems.append("its signature recovers to another key than its signer")
        if problems:
            found.append(
                _proven(
                    "event-altered",
                    _hex(record.event_hash),
                    detail=f"stored event {_hex(record.event_hash)}: " + "; ".join(problems),
                    evidence={
                        "eventHash": _hex(record.event_hash),
                        "fieldsHashTo": _hex(digest),
                        "signer": _hex(record.signer),
                        "windowId": record.window_id,
                    },
                    batch_id=record.event.batch_id,
                    event_hash=record.event_hash,
                    participant_id=record.participant_id,
                )
            )
    return found


def check_custody(
    local: Iterable[BatchState], chain: Mapping[bytes, ChainBatch], unsettled: set[bytes]
) -> list[Finding]:
    """Batches whose custody in the store differs from the chain's (``unsettled``: batches
    with events not yet anchored, where the store is rightly ahead of the chain)."""
    found: list[Finding] = []
    for state in local:
        if state.batch_id in unsettled or state.batch_id not in chain:
            continue
        on_chain = chain[state.batch_id]
        stored = (state.custodian_id, state.status, state.head, state.producer_id)
        actual = (on_chain.custodian_id, on_chain.status, on_chain.head, on_chain.producer_id)
        if stored == actual:
            continue
        found.append(
            _proven(
                "custody-mismatch",
                _hex(state.batch_id),
                detail=(
                    f"batch {state.identifier or _hex(state.batch_id)}: the store says "
                    f"{state.status.name} with participant {state.custodian_id}, the chain "
                    f"{on_chain.status.name} with participant {on_chain.custodian_id}"
                ),
                evidence={
                    "batchId": _hex(state.batch_id),
                    "stored": {
                        "custodian": state.custodian_id,
                        "status": state.status.name,
                        "head": _hex(state.head),
                        "producer": state.producer_id,
                    },
                    "chain": {
                        "custodian": on_chain.custodian_id,
                        "status": on_chain.status.name,
                        "head": _hex(on_chain.head),
                        "producer": on_chain.producer_id,
                    },
                },
                batch_id=state.batch_id,
                participant_id=state.custodian_id or None,
            )
        )
    return found


# ----- in plain words, for the buyer's page (node.monitor.words) -----


def say_window_root(evidence: Mapping[str, object]) -> str:
    return (
        "Records stored with this lot no longer match the fingerprint the blockchain "
        "holds for them: the node's copy was changed."
    )


def say_root_not_on_chain(evidence: Mapping[str, object]) -> str:
    return "The node says records are on the blockchain that the blockchain does not hold."


def say_state_root(evidence: Mapping[str, object]) -> str:
    return (
        "The node's record of where this lot stood no longer matches the one the blockchain "
        "holds: the node's copy was changed."
    )


def say_window_fraudulent(evidence: Mapping[str, object]) -> str:
    return (
        "Records about this lot were anchored in a batch of records that was proven, on the "
        "blockchain, to break the custody rules: their custody is not proven."
    )


def say_event_missing(evidence: Mapping[str, object]) -> str:
    return "The blockchain anchored records that the node's copy no longer holds as they were."


def say_event_altered(evidence: Mapping[str, object]) -> str:
    return "A record about this lot was changed after it was signed."


def say_custody(evidence: Mapping[str, object]) -> str:
    return "The node's record of who holds this lot disagrees with the blockchain."
