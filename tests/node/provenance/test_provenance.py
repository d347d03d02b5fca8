"""Provenance and downstream trace: every ancestor at any depth, every event verified."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import update
from web3.middleware import Web3Middleware

from node.chain.reader import ChainReader
from node.events.typed_data import Action, BatchStatus
from node.exceptions import BatchNotFoundError
from node.proofs.verify import Check, Outcome, verify_bundle
from node.provenance.timing import (
    ANCHORED_LATE_LIMIT,
    CLAIMED_AFTER_TOLERANCE,
    TimeGap,
    time_gap,
    timing_json,
)
from node.store.tables import EVENTS, WINDOWS
from node.testing.harness import TraceNodeHarness
from tests.node.provenance.conftest import PALLET, Story, run_story


def test_provenance_reaches_every_ancestor_and_verifies_every_event(story: Story) -> None:
    result = story.harness.provenance(story.slices)
    report = result.report

    assert report.outcome is Outcome.PASS, report.failures()
    identifiers = {b.identifier for b in result.bundle.batches}
    assert identifiers == {story.slices, story.cheese, *story.milk}  # two levels up
    assert len(report.events) == 14
    for event in report.events:
        outcomes = {c.check: c.outcome for c in event.checks}
        assert outcomes[Check.SIGNATURE] is Outcome.PASS
        assert outcomes[Check.SIGNER] is Outcome.PASS
        assert outcomes[Check.HASH_CHAIN] is Outcome.PASS
        assert outcomes[Check.MERKLE_PROOF] is Outcome.PASS
        assert outcomes[Check.ROOT_ON_CHAIN] is Outcome.PASS
        if event.action.on_chain:
            assert outcomes[Check.ACCEPTED_ON_CHAIN] is Outcome.PASS
    by_id = {b.identifier: b for b in report.batches}
    assert by_id[story.slices].status is BatchStatus.ACTIVE
    assert by_id[story.slices].custodian_name == "shop"
    assert by_id[story.cheese].status is BatchStatus.CONSUMED
    assert {story.harness.batch_id(m) for m in story.milk} == set(by_id[story.cheese].parents)
    assert result.rejected == ()


def test_unanchored_events_are_pending_not_failed(tracenode: TraceNodeHarness) -> None:
    lot = "https://id.gs1.org/01/09506000134352/10/PENDING"
    tracenode.submit("farm", Action.COMMISSION, lot, product="milk", quantity=5)
    report = tracenode.provenance(lot).report
    assert report.outcome is Outcome.PENDING
    assert report.failures() == []
    tracenode.commit()
    assert tracenode.provenance(lot).report.outcome is Outcome.PASS


def test_a_state_root_on_chain_before_the_store_records_it_still_passes(
    tracenode: TraceNodeHarness,
) -> None:
    """The enforced mode anchors a window's state root in a transaction of its own, sent
    once the window is final; the store records its block when the worker next reads the
    receipt. Asked in between, provenance failed ("the window of event #0 has an anchored
    state root; the bundle carries no state for this batch"): the README's session saw it
    once, on a busy machine. The bundle now carries what the chain holds."""
    lot = "https://id.gs1.org/01/09506000134352/10/STATE-RACE"
    h = tracenode
    h.submit("farm", Action.COMMISSION, lot, product="milk", quantity=5)
    (window,) = h.commit()
    # The moment between the state root's block and the store's record of it.
    with h.node.store.write() as conn:
        conn.execute(
            update(WINDOWS).where(WINDOWS.c.id == window.window_id).values(state_block=None)
        )
        assert h.node.store.windows.state_unanchored(conn) is not None
    found = h.provenance(lot)
    assert found.report.failures() == []
    assert found.report.outcome is Outcome.PASS
    (batch,) = found.bundle.batches
    assert batch.state is not None
    assert h.commit() == []  # idle: the worker reads the receipt, records the block
    with h.node.store.read() as conn:
        assert h.node.store.windows.state_unanchored(conn) is None
    assert h.provenance(lot).bundle.batches[0].state == batch.state


def test_a_signer_suspended_before_the_commit_is_flagged(tracenode: TraceNodeHarness) -> None:
    """OBSERVE is anchored, not executed: the verifier checks the signer at the anchor block."""
    lot = "https://id.gs1.org/01/09506000134352/10/SUSPENDED"
    tracenode.submit("farm", Action.COMMISSION, lot, product="milk", quantity=5)
    tracenode.commit()
    tracenode.submit("carrier", Action.OBSERVE, lot, payload={"note": "looked fine"})
    tracenode.suspend("carrier")
    tracenode.commit()

    report = tracenode.provenance(lot).report
    assert report.outcome is Outcome.FAIL
    [failure] = report.failures()
    assert "signer" in failure
    assert "suspended" in failure
    assert "OBSERVE" in failure


def test_a_key_rotated_out_before_the_commit_is_flagged(tracenode: TraceNodeHarness) -> None:
    lot = "https://id.gs1.org/01/09506000134352/10/ROTATED"
    tracenode.submit("farm", Action.COMMISSION, lot, product="milk", quantity=5)
    tracenode.submit("carrier", Action.OBSERVE, lot, payload={"note": "signed by the old key"})
    tracenode.rotate("carrier")
    tracenode.commit()

    [failure] = tracenode.provenance(lot).report.failures()
    assert "rotated out" in failure


def test_a_tampered_stored_event_fails_with_the_reason(story: Story) -> None:
    """Someone edits the node's database: the provenance says which event and why."""
    h = story.harness
    with h.node.store.write() as conn:
        conn.execute(
            update(EVENTS).where(EVENTS.c.action == int(Action.COMMISSION)).values(quantity="999")
        )
    report = h.provenance(story.milk[0]).report
    assert report.outcome is Outcome.FAIL
    failed = {c.check for e in report.events for c in e.failures}
    assert failed == {Check.EVENT_HASH}  # the fields no longer hash to the event
    # ... and that is the only reason given: the checks that would start from those
    # fields (the signature now recovers to a stranger) are not run, and say why.
    (altered,) = [e for e in report.events if e.failures]
    signer = next(c for c in altered.checks if c.check is Check.SIGNER)
    assert signer.outcome is Outcome.SKIPPED
    assert "event-hash" in signer.detail


def test_downstream_trace_follows_every_level_and_the_pallet(story: Story) -> None:
    h = story.harness
    h.submit("shop", Action.AGGREGATE, PALLET, inputs=[story.slices])
    h.submit("regulator", Action.RECALL, story.milk[1], payload={"reason": "residue"})
    h.commit()

    trace = h.trace(story.milk[1])
    depth = {t.identifier or "0x" + t.batch_id.hex(): t.depth for t in trace.batches}
    pallet_id = "0x" + h.batch_id(PALLET).hex()
    assert depth == {story.milk[1]: 0, story.cheese: 1, story.slices: 2, pallet_id: 3}
    by_depth = {t.depth: t for t in trace.batches}
    assert by_depth[0].status is BatchStatus.RECALLED
    assert trace.participants[by_depth[2].custodian_id] == "shop"
    assert [trace.participants[p] for p in by_depth[2].received_by] == ["carrier", "shop"]
    assert by_depth[3].status is BatchStatus.NONE  # a pallet is not a custody unit

    # The pallet's provenance runs back through the packing to the milk.
    pallet = h.provenance(PALLET)
    assert pallet.report.outcome is Outcome.PASS, pallet.report.failures()
    assert len(pallet.bundle.batches) == 5


def test_a_lots_timeline_includes_events_naming_it_as_an_input(story: Story) -> None:
    result = story.harness.provenance(story.milk[0])
    actions = [e.action for e in result.report.events]
    assert actions == [
        Action.COMMISSION,
        Action.OBSERVE,
        Action.SHIP,
        Action.RECEIVE,
        Action.TRANSFORM,  # names the lot only as an input; its sibling is not followed
    ]
    assert result.report.outcome is Outcome.PASS, result.report.failures()


def test_unknown_batches_are_refused(tracenode: TraceNodeHarness) -> None:
    with pytest.raises(BatchNotFoundError):
        tracenode.provenance("https://id.gs1.org/01/09506000134352/10/NEVER")
    with pytest.raises(BatchNotFoundError):
        tracenode.trace("https://id.gs1.org/01/09506000134352/10/NEVER")


def test_proofs_made_before_a_restart_still_verify(tracenode_factory: object) -> None:
    first = tracenode_factory()  # type: ignore[operator]
    story = run_story(first)
    bundle = first.export(story.slices)
    data_dir = first.node.data_dir
    first.close()
    again = tracenode_factory(data_dir)  # type: ignore[operator]
    assert again.verify(bundle).outcome is Outcome.PASS
    assert again.provenance(story.slices).report.outcome is Outcome.PASS


def test_a_reader_falls_back_to_single_calls_when_the_endpoint_refuses_readmany(
    story: Story,
) -> None:
    """Some JSON-RPC endpoints refuse an eth_call without 'to': the answers are the same."""
    h = story.harness
    w3 = h.node.w3

    class RefuseCreationCalls(Web3Middleware):
        def request_processor(self, method: Any, params: Any) -> Any:
            if method == "eth_call" and not params[0].get("to"):
                raise ValueError("eth_call needs 'to'")
            return method, params

    w3.middleware_onion.add(RefuseCreationCalls, name="refuse-creation-calls")
    try:
        reader = ChainReader(w3, h.provenance_service.contracts)
        report = verify_bundle(h.export(story.slices), reader)
    finally:
        w3.middleware_onion.remove("refuse-creation-calls")
    assert report.outcome is Outcome.PASS, report.failures()
    assert reader.batched is False


def test_each_anchoring_block_is_read_once_and_far_claimed_times_are_flagged(
    tracenode: TraceNodeHarness,
) -> None:
    """Three windows anchor six events: provenance reads three block headers (none on a
    second look at the same chain), and gives every event its block's timestamp; a
    claimed time two days before its block, or an hour after it, is flagged."""
    h = tracenode
    lot = "https://id.gs1.org/01/09506000134352/10/TIMES-1"
    now_ms = int(time.time() * 1000)
    h.submit("farm", Action.COMMISSION, lot, product="milk", quantity=5, event_time=now_ms)
    h.submit("farm", Action.OBSERVE, lot, payload={"n": 1}, event_time=now_ms - 2 * 86_400_000)
    h.commit()
    h.submit("farm", Action.OBSERVE, lot, payload={"n": 2}, event_time=now_ms + 3_600_000)
    h.submit("farm", Action.OBSERVE, lot, payload={"n": 3}, event_time=now_ms - 60_000)
    h.commit()
    h.submit("farm", Action.SHIP, lot, to="carrier")
    h.submit("carrier", Action.RECEIVE, lot)
    h.commit()

    headers: list[int] = []

    class CountHeaders(Web3Middleware):
        def request_processor(self, method: Any, params: Any) -> Any:
            if method == "eth_getBlockByNumber" and params[0] != "latest":
                headers.append(int(params[0], 16))
            return method, params

    w3 = h.node.w3
    w3.middleware_onion.add(CountHeaders, name="count-headers")
    try:
        first = h.provenance(lot)
        again = h.provenance(lot)
    finally:
        w3.middleware_onion.remove("count-headers")

    blocks = sorted({e.block_number for e in first.report.events if e.block_number is not None})
    assert len(first.report.events) == 6
    assert len(blocks) == 3
    assert sorted(headers) == blocks  # one read per distinct block, none the second time
    assert again.block_times == first.block_times
    for block in blocks:
        assert first.block_times[block] == w3.eth.get_block(block)["timestamp"]

    gaps = [
        time_gap(e.event_time, first.block_times[e.block_number])
        for e in first.report.events
        if e.block_number is not None
    ]
    kinds = [g.kind if g else None for g in gaps]
    assert kinds == [None, "anchored-long-after", "claimed-after-anchoring", None, None, None]
    late, early = gaps[1], gaps[2]
    assert late is not None
    assert early is not None
    assert 2 * 86_400 - 120 <= late.seconds <= 2 * 86_400 + 120
    assert late.limit == ANCHORED_LATE_LIMIT
    assert 3_600 - 120 <= early.seconds <= 3_600 + 120
    assert early.limit == CLAIMED_AFTER_TOLERANCE


def test_time_gap_thresholds() -> None:
    block = 1_800_000_000
    assert time_gap(block * 1000, block) is None
    assert time_gap((block + CLAIMED_AFTER_TOLERANCE) * 1000, block) is None
    after = time_gap((block + CLAIMED_AFTER_TOLERANCE + 1) * 1000, block)
    assert after == TimeGap("claimed-after-anchoring", CLAIMED_AFTER_TOLERANCE + 1, 300)
    assert time_gap((block - ANCHORED_LATE_LIMIT) * 1000, block) is None
    late = time_gap((block - ANCHORED_LATE_LIMIT) * 1000 - 1, block)
    assert late == TimeGap("anchored-long-after", ANCHORED_LATE_LIMIT, ANCHORED_LATE_LIMIT)
    assert timing_json(block * 1000, None) == {"anchoredAt": None, "timeGap": None}
    assert timing_json((block - 3 * 86_400) * 1000, block) == {
        "anchoredAt": {"time": "2027-01-15T08:00:00Z", "timestamp": "1800000000"},
        "timeGap": {"kind": "anchored-long-after", "seconds": "259200", "limitSeconds": "86400"},
    }


def test_a_lot_shipped_out_of_the_network_verifies_as_exported(
    tracenode: TraceNodeHarness,
) -> None:
    lot = "https://id.gs1.org/01/09506000134352/10/EXPORT"
    tracenode.submit("farm", Action.COMMISSION, lot, product="milk", quantity=5)
    tracenode.submit("farm", Action.SHIP, lot)  # to nobody in the network: counterparty zero
    tracenode.commit()

    report = tracenode.provenance(lot).report

    assert report.outcome is Outcome.PASS, report.failures()
    (batch,) = report.batches
    assert batch.status is BatchStatus.EXPORTED
    assert batch.custodian_id == tracenode.participant_id("farm")  # the last one in the network
