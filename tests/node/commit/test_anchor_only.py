"""The commit worker in the anchor-only custody mode (node.commit.custody): a window is
one anchorWindow carrying its event, state and transition roots; nothing is relayed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

import pytest
from web3.types import Wei

from node.chain.commits import CommitClient, anchor_window_calldata
from node.chain.deploy import contract
from node.chain.logs import window_commitment
from node.chain.reader import ChainReader, Contracts
from node.commit.custody import CustodyMode
from node.commit.worker import WindowResult
from node.events.hashing import keccak
from node.events.typed_data import ZERO32, Action, BatchStatus
from node.exceptions import ConfigurationError
from node.ingest.service import IngestService
from node.monitor.service import Monitor
from node.proofs.bundle import Bundle, loads
from node.proofs.challenge import claims, send_claim, simulate, transition_claim
from node.proofs.state import StateLeaf
from node.proofs.transitions import Transition, process_transition_proof
from node.proofs.verify import (
    LATER_UNSEEN,
    REPLAYED,
    UNMARKED,
    Check,
    Outcome,
    Report,
    verify_bundle,
)
from node.provenance.service import ProvenanceService
from node.store.models import EventStatus
from node.store.store import Store
from tests.conftest import Chain, make_chain
from tests.environment import postgres_database
from tests.events import lot_id
from tests.node.commit.test_worker import Rig


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One anchor-only deployment (the registries and their CustodyChallenge) and one
    store per module and database: each test works on lots of its own."""
    chain = make_chain(challenge=True)
    url: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path_factory.mktemp('anchor-only') / 'store.sqlite3'}")
        if request.param == "sqlite"
        else postgres_database()
    )
    with url as opened:
        store = Store.open(opened)
        try:
            yield anchor_only_rig(chain, store)
        finally:
            store.close()


def anchor_only_rig(chain: Chain, store: Store) -> Rig:
    """An anchor-only node's commit worker, ingest and store on ``chain``."""
    return Rig(
        chain=chain,
        store=store,
        ingest=IngestService(store=store, domain=chain.domain),
        client=CommitClient(chain.w3, chain.deployment, custody=CustodyMode.ANCHOR_ONLY),
        node=chain.commit_key(store),
        nonces={},
    )


def committed(rig: Rig) -> WindowResult:
    result = rig.worker().commit_once()
    assert result is not None
    return result


def test_a_window_is_anchored_with_its_state_and_transitions_and_nothing_relayed(
    rig: Rig,
) -> None:
    lot = lot_id("anchor-only-1")
    carrier = rig.chain.keys["carrier"].address
    made = rig.submit("farm", Action.COMMISSION, lot)
    shipped = rig.submit("farm", Action.SHIP, lot, counterparty=bytes.fromhex(carrier[2:]))
    first = committed(rig)
    received = rig.submit("carrier", Action.RECEIVE, lot)
    rig.submit("carrier", Action.OBSERVE, lot, payload_hash=keccak(b"4.1 C"))

    second = committed(rig)

    assert (second.first_seq, second.anchored, second.rejected) == (first.first_seq + 2, 2, 0)
    anchors = rig.chain.anchors.functions
    with rig.store.read() as conn:
        windows = [rig.store.windows.get(conn, r.window_id) for r in (first, second)]
        events = rig.store.windows.events(conn, second.window_id)
        moves = rig.store.windows.transitions_of(conn, [(second.window_id, received)])
    assert {e.status for e in events} == {EventStatus.ANCHORED}
    for window in windows:
        assert window is not None
        assert window.transition_root is not None
        assert window.state_root is not None
        assert window.state_block  # anchored with the window, in its block
        # The chain keeps one commitment to the two roots; the window's log carries them.
        assert bytes(anchors.stateRootOf(window.root).call()) == ZERO32
        assert rig.client.window_commitment_of(window.root) == window_commitment(
            window.state_root, window.transition_root
        )
        assert reader_of(rig).window_roots(window.root) == (
            window.state_root,
            window.transition_root,
        )
    # Nothing executed on BatchRegistry: the chain holds no record of the lot.
    assert rig.client.batch_state(lot)[3] is BatchStatus.NONE
    # The RECEIVE's transition starts where the first window's SHIP left the lot.
    [(leaf, proof)] = moves[received]
    move = Transition.decoded(leaf)
    farm, carrier_id = 1, 3
    assert move.pre == StateLeaf(lot, shipped, farm, BatchStatus.IN_TRANSIT, 2)
    assert move.post == StateLeaf(lot, received, carrier_id, BatchStatus.ACTIVE, 3)
    assert (move.seq, move.signer_id) == (second.first_seq, carrier_id)
    assert windows[1] is not None
    assert process_transition_proof(move, proof) == reader_of(rig).transition_root(windows[1].root)
    assert made != ZERO32
    # One transaction each, at tens of thousands of gas, not one relay per event.
    assert second.gas_used < 200_000


def test_anchor_window_calldata_is_what_the_abi_encodes(rig: Rig) -> None:
    roots = {"root": keccak(b"a"), "state_root": keccak(b"b"), "transition_root": keccak(b"c")}

    ours = anchor_window_calldata(**roots, first_seq=2**64 - 1, event_count=2**32 - 1)

    theirs = rig.chain.anchors.encode_abi("anchorWindow", [*roots.values(), 2**64 - 1, 2**32 - 1])
    assert "0x" + ours.hex() == theirs


def test_an_unknown_custody_mode_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="one of: enforced, anchor-only"):
        CustodyMode.parse("optimistic")


def bundle_of(rig: Rig, lot: bytes) -> Bundle:
    return ProvenanceService(rig.store, rig.chain.w3, rig.chain.deployment).export(lot)


def verified(rig: Rig, bundle: Bundle, *, challenge: bool = True) -> Report:
    return verify_bundle(loads(bundle.dumps()), reader_of(rig, challenge=challenge))


def reader_of(rig: Rig, *, challenge: bool = True) -> ChainReader:
    d = rig.chain.deployment
    return ChainReader(
        rig.chain.w3,
        Contracts(d.participant_registry, d.batch_registry, d.anchor_registry),
        challenge=d.custody_challenge if challenge else None,
    )


def honest_lot(rig: Rig, name: str) -> bytes:
    """A lot the farm makes and ships to the carrier in one window, which the carrier
    receives and observes in the next."""
    lot = lot_id(name)
    carrier = bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    rig.submit("farm", Action.COMMISSION, lot)
    rig.submit("farm", Action.SHIP, lot, counterparty=carrier)
    committed(rig)
    rig.submit("carrier", Action.RECEIVE, lot)
    rig.submit("carrier", Action.OBSERVE, lot, payload_hash=keccak(b"4.1 C"))
    committed(rig)
    return lot


def test_an_honest_anchor_only_bundle_verifies_by_replay(rig: Rig) -> None:
    lot = honest_lot(rig, "ao-honest")

    report = verified(rig, bundle_of(rig, lot))

    assert report.failures() == []
    assert report.ok
    [batch] = report.batches
    custody = next(c for c in batch.checks if c.check is Check.CUSTODY)
    state = bundle_of(rig, lot).batches[0].state
    assert state is not None
    block = state.block_number
    as_of = f"as of block {block}: {LATER_UNSEEN}"
    assert custody.detail == f"ACTIVE, held by carrier: {REPLAYED}; {as_of}"
    complete = next(c for c in batch.checks if c.check is Check.COMPLETE)
    assert complete.outcome is Outcome.PASS
    assert complete.detail.endswith(f"as anchored at block {block}; {as_of}")
    lifecycle = [e for e in report.events if e.action is not Action.OBSERVE]
    for entry in lifecycle:
        accepted = next(c for c in entry.checks if c.check is Check.ACCEPTED_ON_CHAIN)
        assert (accepted.outcome, accepted.detail) == (Outcome.PASS, REPLAYED)


def dishonest_window(rig: Rig, name: str, *, observed: bool = False) -> tuple[bytes, bytes]:
    """A node that skips its custody rules: the carrier ships a lot the farm holds (the
    node's own view of the lot was bent to let it), and the window anchors that (with a
    regulator's observation of the lot after it, ``observed``). The lot and the window's
    root."""
    lot = lot_id(name)
    rig.submit("farm", Action.COMMISSION, lot)
    committed(rig)
    with rig.store.write() as conn:
        state = rig.store.batches.get(conn, lot)
        assert state is not None
        state.custodian_id = 3  # the carrier, in this node's view only
        rig.store.batches.replace(conn, state)
    shop = bytes.fromhex(rig.chain.keys["shop"].address[2:])
    rig.submit("carrier", Action.SHIP, lot, counterparty=shop)
    if observed:
        rig.submit("regulator", Action.OBSERVE, lot, payload_hash=keccak(b"seen"))
    return lot, committed(rig).root


def test_a_window_that_broke_a_custody_rule_fails_verification(rig: Rig) -> None:
    lot, root = dishonest_window(rig, "ao-forged")

    report = verified(rig, bundle_of(rig, lot))

    assert not report.ok
    ship = next(e for e in report.events if e.action is Action.SHIP)
    accepted = next(c for c in ship.checks if c.check is Check.ACCEPTED_ON_CHAIN)
    assert accepted.outcome is Outcome.FAIL
    assert "only the batch's custodian may do this" in accepted.detail
    assert "the window is fraudulent" in accepted.detail
    [batch] = report.batches
    assert next(c for c in batch.checks if c.check is Check.CUSTODY).outcome is Outcome.FAIL
    assert ship.root == root


def test_a_forged_transition_in_a_bundle_fails_verification(rig: Rig) -> None:
    lot = lot_id("ao-bundle-forged")
    rig.submit("farm", Action.COMMISSION, lot)
    committed(rig)
    bundle = bundle_of(rig, lot)
    [made] = bundle.events
    [ref] = made.transitions
    bent = replace(ref.transition, post=replace(ref.transition.post, custodian=4))
    forged = replace(bundle, events=(replace(made, transitions=(replace(ref, transition=bent),)),))

    report = verified(rig, forged)

    assert not report.ok
    assert any(
        "does not lead to the window's anchored transition root" in f for f in report.failures()
    )


def test_a_dishonest_window_is_challenged_marked_and_then_fails_everywhere(rig: Rig) -> None:
    lot, root = dishonest_window(rig, "ao-challenged-bad")
    bundle = bundle_of(rig, lot)
    reader = reader_of(rig)
    address = rig.chain.deployment.custody_challenge
    assert address is not None
    challenger = rig.chain.keys["regulator"]  # anyone: here a participant with no stake
    rig.chain.w3.eth.send_transaction(
        {"from": rig.chain.admin, "to": challenger.address, "value": Wei(10**20)}
    )

    found = claims(bundle, verified(rig, bundle), reader)
    verdicts = [simulate(rig.chain.w3, address, c, challenger.address) for c in found]
    accepted = [c for c, refused in zip(found, verdicts, strict=True) if not refused]
    send_claim(rig.chain.w3, address, accepted[0], challenger)

    assert [(c.function, c.root) for c in accepted] == [("challengeTransition", root)]
    challenge = contract(rig.chain.w3, "CustodyChallenge", address).functions
    assert challenge.fraudulent(root).call()
    kind, marked_by, _ = challenge.fraudOf(root).call()
    assert (kind, marked_by) == (1, challenger.address)  # INVALID_TRANSITION
    # A window is marked once: the same claim is now refused, naming why.
    assert "CustodyChallengeAlreadyFraudulent" in simulate(
        rig.chain.w3, address, accepted[0], challenger.address
    )
    report = verified(rig, bundle)
    assert not report.ok
    ship = next(e for e in report.events if e.action is Action.SHIP)
    accepted_check = next(c for c in ship.checks if c.check is Check.ACCEPTED_ON_CHAIN)
    assert accepted_check.detail.startswith(f"window 0x{root.hex()} was proven fraudulent")
    # The node's own monitor raises it too.
    d = rig.chain.deployment
    monitor = Monitor(
        store=rig.store,
        w3=rig.chain.w3,
        contracts=Contracts(d.participant_registry, d.batch_registry, d.anchor_registry),
        domain=rig.chain.domain,
        custody=CustodyMode.ANCHOR_ONLY,
        challenge=address,
    )
    marked = [f for f in monitor.cycle().findings if f.kind == "window-fraudulent"]
    assert [f.evidence["root"] for f in marked] == ["0x" + root.hex()]


def test_an_honest_window_cannot_be_challenged(rig: Rig) -> None:
    lot = lot_id("ao-challenged-ok")
    carrier = bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    rig.submit("farm", Action.COMMISSION, lot)
    rig.submit("farm", Action.SHIP, lot, counterparty=carrier)
    committed(rig)
    rig.submit("carrier", Action.RECEIVE, lot)
    root = committed(rig).root
    bundle = bundle_of(rig, lot)
    report = verified(rig, bundle)
    address = rig.chain.deployment.custody_challenge
    assert address is not None
    assert report.ok
    assert claims(bundle, report, reader_of(rig)) == []  # the verifier suggests none

    # Claims against every transition of the honest bundle, made by hand: all refused.
    refusals = []
    for entry, item in zip(report.events, bundle.events, strict=True):
        for ref in item.transitions:
            claim = transition_claim(bundle, item, ref, entry, reader_of(rig))
            refusals.append(simulate(rig.chain.w3, address, claim, rig.chain.admin))

    assert len(refusals) == 3
    assert all("CustodyChallengeTransitionValid" in r for r in refusals), refusals
    assert not contract(rig.chain.w3, "CustodyChallenge", address).functions.fraudulent(root).call()


def test_a_verifier_that_knows_no_custody_challenge_says_so(rig: Rig) -> None:
    lot = lot_id("ao-unmarked")
    rig.submit("farm", Action.COMMISSION, lot)
    committed(rig)

    report = verified(rig, bundle_of(rig, lot), challenge=False)

    [made] = report.events
    check = next(c for c in made.checks if c.check is Check.ACCEPTED_ON_CHAIN)
    assert (check.outcome, check.detail) == (Outcome.PASS, f"{REPLAYED}; {UNMARKED}")
