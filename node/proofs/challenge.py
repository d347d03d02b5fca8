"""Build the calls that prove an anchor-only window fraudulent to CustodyChallenge.

Anyone holding a proof bundle may do it (docs/proofs.md, "Anchor-only windows"): the
verifier (node.proofs.verify) names the events of anchor-only windows that break the
custody rules or whose anchored transitions are not what the bundle's events lead to;
each becomes a *claim* here, with everything the contract needs from the bundle:

- ``challengeTransition`` (``…WithEvidence`` for a RECEIVE, which needs the SHIP that
  named its receiver, and a RECALL, which needs the transition that created its batch):
  one transition of the event, its proof, the signed event, its proof in the window's
  event root and the identifier proofs of the batches it creates;
- ``challengeLinkage``: two transitions of one batch, in sequence order, that contradict
  each other (a forged pre-state, a fork, a double creation), both from the bundle.

Each claim names its windows as the contract's ``Window``: the event root, and the state
and transition roots AnchorRegistry keeps only as their commitment, which the reader
takes from the window's ``WindowAnchored`` log once they hash to it
(:meth:`ChainReader.window_roots`); the contract checks them against it first.

A claim is what the bundle suggests, not a verdict: the contract is. ``tracenode
challenge`` simulates every claim (``eth_call``) and sends only one the contract accepts;
a claim against an honest window reverts with the contract's reason.

Pure but for the chain reads an identifier proof needs (the licences of its prefixes)
and a window's roots.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_account.signers.local import LocalAccount
from web3 import Web3

from node.chain.commits import identifier_proof
from node.chain.deploy import contract
from node.chain.errors import decode_error, revert_data
from node.chain.reader import ChainReader
from node.events.identifiers import identifier_split, parse_identifier
from node.events.typed_data import ZERO32, Action, BatchStatus
from node.exceptions import ChainError
from node.proofs.bundle import Bundle, BundleEvent, TransitionRef
from node.proofs.transitions import Transition
from node.proofs.verify import Check, EventReport, Outcome, Report

#: The TraceEvent ABI tuple of "no event" (an Evidence field left out).
NO_EVENT: Final[tuple[Any, ...]] = (
    0,
    ZERO32,
    ZERO32,
    [],
    [],
    [],
    "0x" + "00" * 20,
    ZERO32,
    0,
    0,
    ZERO32,
    ZERO32,
    0,
)
#: Transition tuple of "no transition".
NO_TRANSITION: Final[tuple[Any, ...]] = (ZERO32, 0, 0, ZERO32, ZERO32, 0, 0, 0, ZERO32, 0, 0, 0)
#: Window tuple of "no window" (an Evidence's creation window left out).
NO_WINDOW: Final[tuple[bytes, bytes, bytes]] = (ZERO32, ZERO32, ZERO32)


def window(reader: ChainReader, root: bytes) -> tuple[bytes, bytes, bytes]:
    """CustodyChallenge's ``Window`` of the anchor-only window ``root``: its event root and
    the roots its commitment holds. ChainError when ``root`` is no anchor-only window."""
    roots = reader.window_roots(root)
    if roots is None:
        raise ChainError(f"window 0x{root.hex()} is no anchor-only window: nothing to challenge")
    return (root, *roots)


@dataclass(frozen=True, slots=True)
class Claim:
    """A call of CustodyChallenge that may prove window ``root`` fraudulent."""

    function: str
    args: tuple[Any, ...]
    root: bytes  # the window it would mark
    event_hash: bytes
    batch_id: bytes
    why: str  # what the bundle shows


def claims(bundle: Bundle, report: Report, reader: ChainReader) -> list[Claim]:
    """Every claim ``report`` (the verification of ``bundle``) suggests: a transition
    claim for each transition of an event that failed ``accepted-on-chain`` in an
    anchor-only window, then a linkage claim for each contradicting pair."""
    found: list[Claim] = []
    for entry, item in zip(report.events, bundle.events, strict=True):
        failed = next(
            (
                c
                for c in entry.checks
                if c.check is Check.ACCEPTED_ON_CHAIN and c.outcome is Outcome.FAIL
            ),
            None,
        )
        if failed is None or not item.transitions or item.anchor is None:
            continue
        if reader.window_roots(item.anchor.root) is None:
            continue  # transitions a bundle gives an enforced window: nothing to challenge
        for ref in item.transitions:
            found.append(transition_claim(bundle, item, ref, entry, reader, why=failed.detail))
    found.extend(_linkage_claims(bundle, reader))
    return found


def _signed(item: BundleEvent, proofs: Sequence[tuple[bytes, int]]) -> tuple[Any, ...]:
    sig = item.signature
    return (item.event.as_abi_tuple(), sig[64], sig[:32], sig[32:64], list(proofs))


def transition_claim(
    bundle: Bundle,
    item: BundleEvent,
    ref: TransitionRef,
    entry: EventReport,
    reader: ChainReader,
    *,
    why: str = "",
) -> Claim:
    """The ``challengeTransition`` (with the evidence its action needs) of ``ref``, a
    transition of the bundle's event ``item`` (``entry``: its verification)."""
    if item.anchor is None:
        raise ValueError("the event is not anchored: there is no window to challenge")
    event_hash, signer_id = entry.event_hash, entry.participant_id
    by_hash = {e.event_hash: e for e in bundle.events}
    identifiers = {b.batch_id: b.identifier for b in bundle.batches}
    proofs = []
    for batch_id in item.event.created_batch_ids():
        text = identifiers.get(batch_id)
        split = identifier_split(parse_identifier(text)) if text else None
        proofs.append(identifier_proof(split, signer_id, reader))
    move = ref.transition
    base = (
        window(reader, item.anchor.root),
        move.as_tuple(),
        list(ref.proof),
        _signed(item, []),
        list(item.anchor.proof),
        proofs,
    )
    evidence = _evidence(bundle, item.event.action, move, by_hash, reader)
    if evidence is None:
        return Claim("challengeTransition", base, item.anchor.root, event_hash, move.batch_id, why)
    return Claim(
        "challengeTransitionWithEvidence",
        (*base, evidence),
        item.anchor.root,
        event_hash,
        move.batch_id,
        why,
    )


def _evidence(
    bundle: Bundle,
    action: Action,
    move: Transition,
    by_hash: dict[bytes, BundleEvent],
    reader: ChainReader,
) -> tuple[Any, ...] | None:
    """The Evidence a RECEIVE (the SHIP at its pre-head) or a RECALL (its batch's creating
    transition) needs, from the bundle; None for other actions."""
    if action is Action.RECEIVE:
        ship = by_hash.get(move.pre.head)
        shipment = ship.event.as_abi_tuple() if ship is not None else NO_EVENT
        return (shipment, NO_WINDOW, NO_TRANSITION, [], NO_EVENT)
    if action is Action.RECALL:
        for item in bundle.events:
            if item.anchor is None or reader.window_roots(item.anchor.root) is None:
                continue
            for ref in item.transitions:
                t = ref.transition
                if t.batch_id == move.batch_id and t.pre.status is BatchStatus.NONE:
                    return (
                        NO_EVENT,
                        window(reader, item.anchor.root),
                        t.as_tuple(),
                        list(ref.proof),
                        item.event.as_abi_tuple(),
                    )
        return (NO_EVENT, NO_WINDOW, NO_TRANSITION, [], NO_EVENT)
    return None


def _linkage_claims(bundle: Bundle, reader: ChainReader) -> Iterator[Claim]:
    """Pairs of transitions of one batch, in sequence order, that contradict each other
    (the contract's three kinds)."""
    moves: dict[bytes, list[tuple[Transition, TransitionRef, bytes]]] = {}
    for item in bundle.events:
        if item.anchor is None or reader.window_roots(item.anchor.root) is None:
            continue
        for ref in item.transitions:
            moves.setdefault(ref.transition.batch_id, []).append(
                (ref.transition, ref, item.anchor.root)
            )
    for batch_id, found in moves.items():
        found.sort(key=lambda m: m[0].seq)
        for i, (a, ref_a, root_a) in enumerate(found):
            for b, ref_b, root_b in found[i + 1 :]:
                why = _contradiction(a, b)
                if why:
                    yield Claim(
                        "challengeLinkage",
                        (
                            window(reader, root_a),
                            a.as_tuple(),
                            list(ref_a.proof),
                            window(reader, root_b),
                            b.as_tuple(),
                            list(ref_b.proof),
                        ),
                        root_b,
                        b.event_hash,
                        batch_id,
                        why,
                    )


def _contradiction(a: Transition, b: Transition) -> str:
    """Why ``b`` (later in the node's sequence) contradicts ``a``, or ""."""
    if b.pre.head == a.event_hash and a.event_hash != ZERO32 and b.pre != a.post:
        return "it extends the earlier event from another state than that event left"
    if (
        a.event_hash != b.event_hash
        and a.pre.head == b.pre.head
        and (
            a.pre.head != ZERO32
            or (a.pre.status is BatchStatus.NONE and b.pre.status is BatchStatus.NONE)
        )
    ):
        return "two events extend one head of the batch (a fork)"
    if b.pre.status is BatchStatus.NONE and a.post.status is not BatchStatus.NONE:
        return "it creates a batch that existed already"
    return ""


def simulate(w3: Web3, address: str, claim: Claim, sender: str) -> str:
    """What CustodyChallenge at ``address`` answers ``claim`` sent by ``sender`` now: ""
    when it would mark the window, else its revert reason (decoded custom error)."""
    call = _call(w3, address, claim)
    try:
        call.call({"from": Web3.to_checksum_address(sender)})
    except Exception as exc:
        data = revert_data(exc)
        if data is None:
            raise
        return str(decode_error(data))
    return ""


def send_claim(w3: Web3, address: str, claim: Claim, account: LocalAccount) -> bytes:
    """Send ``claim`` from ``account`` and wait (at most 120 s) for it to be mined; the
    transaction hash. ChainError when it reverted."""
    call = _call(w3, address, claim)
    tx = call.build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise ChainError(f"the challenge 0x{bytes(tx_hash).hex()} reverted")
    return bytes(tx_hash)


def _call(w3: Web3, address: str, claim: Claim) -> Any:
    challenger = contract(w3, "CustodyChallenge", Web3.to_checksum_address(address))
    return challenger.functions[claim.function](*claim.args)
