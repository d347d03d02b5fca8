"""Cross-node custody: two nodes on one deployment on one anvil chain, each with its own
store (node A on SQLite, node B on PostgreSQL) and its own node key, each relaying its own
participants' events. A lot node A's farm ships to node B's shop is received through B,
judged on the chain's record of the batch (B's store never saw it); B ships it back to
A's farm, whose node's stale view is corrected from the chain. Refusals keep parity with
BatchRegistry; a head race lost on-chain is reported like any other rejection.

(The same through real ``tracenode serve`` processes: tests/api/test_crossnode_serve.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import Wei

from node.chain.reader import ChainBatch, ChainReader, Contracts
from node.chain.transact import send_transaction
from node.commit.worker import CommitPolicy, CommitWorker
from node.events.batch import BatchState
from node.events.identifiers import parse_identifier
from node.events.signatures import sign_digest
from node.events.typed_data import Action, BatchStatus, Role, TraceEvent
from node.exceptions import (
    BatchInNetworkError,
    BatchRecalledError,
    ChainUnavailableError,
    HeadMismatchError,
    NotReceiverError,
    UnknownBatchError,
)
from node.ingest.chain_view import FROM_CHAIN, ChainView
from node.ingest.service import IngestService
from node.monitor.service import Monitor
from node.participants.sync import sync_participants
from node.proofs.verify import ELSEWHERE, Check, Outcome, report_json, verify_bundle
from node.provenance.service import ProvenanceService
from node.store.models import EventStatus
from node.store.store import Store
from node.testing.serving import free_port
from tests.anvil import Anvil, AnvilNode, start_anvil, stop_anvil
from tests.environment import postgres_database
from tests.events import IDENTIFIERS, lot_id, signed
from tests.web.test_verify_core import _checks, _summary, node_js


class OtherNode:
    """Node B: its own store and node key (granted the node role by the deployment's
    admin), the same deployment and participant registry as node A."""

    def __init__(self, a: AnvilNode, database_url: str) -> None:
        self.a = a
        self.store = Store.open(database_url)
        self.key: LocalAccount = Account.create()
        w3 = a.w3
        tx = w3.eth.send_transaction(
            {"from": w3.eth.accounts[0], "to": self.key.address, "value": Wei(10**21)}
        )
        w3.eth.wait_for_transaction_receipt(tx)
        client = a.client()
        for registry in (client.batches, client.anchors):
            role = registry.functions.NODE_ROLE().call()
            send_transaction(w3, registry.functions.grantRole(role, self.key.address), a.admin)
        sync_participants(store=self.store, source=a.registry, head=w3.eth.block_number)
        self.ingest = IngestService(store=self.store, domain=a.domain, chain=chain_view(a))

    def worker(self) -> CommitWorker:
        return CommitWorker(
            store=self.store,
            client=self.a.client(),
            node=self.key,
            policy=CommitPolicy(poll_interval=0.02, receipt_timeout=20),
        )


def chain_view(a: AnvilNode) -> ChainView:
    d = a.deployment
    return ChainView(a.w3, Contracts(d.participant_registry, d.batch_registry, d.anchor_registry))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AnvilNode, OtherNode]]:
    anvil: Anvil = start_anvil()
    tmp: Path = tmp_path_factory.mktemp("crossnode")
    try:
        with postgres_database() as url:
            a = AnvilNode.deployed(anvil, f"sqlite:///{tmp / 'a.sqlite3'}")
            a.ingest = IngestService(store=a.store, domain=a.domain, chain=chain_view(a))
            b = OtherNode(a, url)
            try:
                yield a, b
            finally:
                b.store.close()
                a.close()
    finally:
        stop_anvil(anvil.process)


def sign(a: AnvilNode, who: str, event: TraceEvent) -> tuple[TraceEvent, bytes]:
    return event, sign_digest(event.digest(a.domain), a.keys[who].key)


def submit(
    a: AnvilNode, ingest: IngestService, who: str, action: Action, batch: bytes, **f: object
) -> bytes:
    a.nonces[who] = a.nonces.get(who, 0) + 1
    nonce = a.nonces[who]
    fields: dict[str, object] = {
        "batch_id": batch,
        "nonce": nonce,
        "event_time": int(time.time() * 1000),
    }
    if action is Action.COMMISSION:
        fields |= {"product": bytes(32), "quantity": 10}
    event = TraceEvent(action, **(fields | f))  # type: ignore[arg-type]
    return ingest.submit(signed(*sign(a, who, event))).event_hash


def shipped_to_shop(a: AnvilNode, lot: bytes, to: str = "shop") -> tuple[bytes, bytes]:
    """Node A's farm commissions ``lot`` and ships it to node B's shop (or ``to``), through
    A: the COMMISSION's and the SHIP's hashes."""
    made = submit(a, a.ingest, "farm", Action.COMMISSION, lot)
    shipped = submit(
        a, a.ingest, "farm", Action.SHIP, lot, prev_event_hash=made, counterparty=a.address(to)
    )
    return made, shipped


def reader(a: AnvilNode) -> ChainReader:
    d = a.deployment
    return ChainReader(a.w3, Contracts(d.participant_registry, d.batch_registry, d.anchor_registry))


def stored_head(store: Store, batch: bytes) -> bytes:
    state = stored(store, batch)
    assert state is not None
    return state.head


def chain_state(a: AnvilNode, batch: bytes) -> ChainBatch:
    return chain_view(a)([batch])[batch]


def stored(store: Store, batch: bytes) -> BatchState | None:
    with store.read() as conn:
        return store.batches.get(conn, batch)


def same(state: BatchState | None, chain: ChainBatch) -> bool:
    assert state is not None
    return (
        state.producer_id,
        state.custodian_id,
        state.receiver_id,
        state.status,
        state.head,
    ) == (chain.producer_id, chain.custodian_id, chain.receiver_id, chain.status, chain.head)


def test_a_lot_shipped_on_one_node_is_received_and_shipped_on_through_another(
    nodes: tuple[AnvilNode, OtherNode],
) -> None:
    a, b = nodes
    lot = lot_id("cross-1")
    made, shipped = shipped_to_shop(a, lot)
    # Before A anchored the shipment, the chain does not show it: B refuses, as the
    # contract would (the batch does not exist on-chain yet).
    with pytest.raises(UnknownBatchError):
        submit(a, b.ingest, "shop", Action.RECEIVE, lot, prev_event_hash=shipped)
    assert a.worker().commit_once() is not None

    # Forged and stale receptions: refused with the contract's reasons, nothing stored.
    with pytest.raises(NotReceiverError):
        submit(a, b.ingest, "carrier", Action.RECEIVE, lot, prev_event_hash=shipped)
    with pytest.raises(HeadMismatchError) as stale:
        submit(a, b.ingest, "shop", Action.RECEIVE, lot, prev_event_hash=made)
    assert stale.value.details["expected"] == shipped
    with pytest.raises(BatchInNetworkError):  # adopting it "from outside": it is in the network
        submit(a, b.ingest, "shop", Action.RECEIVE, lot)
    assert stored(b.store, lot) is None

    received = submit(a, b.ingest, "shop", Action.RECEIVE, lot, prev_event_hash=shipped)
    known = stored(b.store, lot)
    assert known is not None
    assert known.created_by == FROM_CHAIN
    assert (known.producer_id, known.custodian_id) == (a.ids["farm"], a.ids["shop"])
    # B's participant mirror knows A's participants: B's shop ships back to A's farm.
    back = submit(
        a,
        b.ingest,
        "shop",
        Action.SHIP,
        lot,
        prev_event_hash=received,
        counterparty=a.address("farm"),
    )
    result = b.worker().commit_once()
    assert result is not None
    assert (result.anchored, result.rejected) == (2, 0)
    assert same(stored(b.store, lot), chain_state(a, lot))
    bundle = ProvenanceService(b.store, a.w3, a.deployment).export(lot)
    verified = verify_bundle(bundle, reader(a))
    assert verified.outcome is Outcome.PASS, verified.failures()
    first = {c.check: c for c in verified.events[0].checks}
    assert first[Check.HASH_CHAIN].outcome is Outcome.SKIPPED
    assert first[Check.HASH_CHAIN].detail.startswith(ELSEWHERE)
    assert "0x" + shipped.hex() in first[Check.HASH_CHAIN].detail
    assert first[Check.ACCEPTED_ON_CHAIN].outcome is Outcome.PASS
    (batch,) = verified.batches
    assert batch.elsewhere_at == 0
    assert batch.extends == shipped  # where A's part of the history ends
    # The browser's verifier says the same, check for check.
    ours: dict[str, Any] = report_json(verified)
    js = node_js(
        "console.log(JSON.stringify(await core.verifyBundle(core.parseBundle(data.bundle), "
        "new core.Rpc(data.rpc))));",
        {"bundle": bundle.as_json(), "rpc": a.anvil.url},
    )
    assert _checks(js) == _checks(ours)
    assert [_summary(x) for x in js["batches"]] == [_summary(x) for x in ours["batches"]]

    # A's view is stale (in transit to B's shop): the chain, whose head A does not hold,
    # corrects it, and A's farm receives the lot back.
    home = submit(a, a.ingest, "farm", Action.RECEIVE, lot, prev_event_hash=back)
    result = a.worker().commit_once()
    assert result is not None
    assert (result.anchored, result.rejected) == (1, 0)
    assert same(stored(a.store, lot), chain_state(a, lot))
    assert chain_state(a, lot).head == home
    assert chain_state(a, lot).status is BatchStatus.ACTIVE

    # B's view is stale now (in transit to A's farm): its monitor follows the chain, whose
    # head B does not hold, and finds nothing amiss.
    assert not same(stored(b.store, lot), chain_state(a, lot))
    d = a.deployment
    monitor = Monitor(
        store=b.store,
        w3=a.w3,
        contracts=Contracts(d.participant_registry, d.batch_registry, d.anchor_registry),
        domain=a.domain,
    )
    findings = monitor.cycle().findings
    assert [f for f in findings if f.batch_id == lot] == []
    assert same(stored(b.store, lot), chain_state(a, lot))


def test_a_cross_node_event_that_loses_a_race_on_chain_is_reported_rejected(
    nodes: tuple[AnvilNode, OtherNode],
) -> None:
    a, b = nodes
    lot = lot_id("cross-race")
    _, shipped = shipped_to_shop(a, lot)
    assert a.worker().commit_once() is not None
    # B accepts the reception on the chain's record; before B commits it, the producer
    # recalls the lot through A, and A commits first.
    received = submit(a, b.ingest, "shop", Action.RECEIVE, lot, prev_event_hash=shipped)
    submit(a, a.ingest, "farm", Action.RECALL, lot, prev_event_hash=shipped)
    assert a.worker().commit_once() is not None
    result = b.worker().commit_once()
    assert result is not None
    assert (result.anchored, result.rejected) == (0, 1)
    with b.store.read() as conn:
        record = b.store.events.get(conn, received)
    assert record is not None
    assert record.status is EventStatus.REJECTED
    assert same(stored(b.store, lot), chain_state(a, lot))  # B's view is the chain's again
    with pytest.raises(BatchRecalledError):
        submit(a, b.ingest, "shop", Action.RECEIVE, lot, prev_event_hash=chain_state(a, lot).head)


def test_a_batch_unknown_everywhere_stays_unknown(nodes: tuple[AnvilNode, OtherNode]) -> None:
    a, b = nodes
    with pytest.raises(UnknownBatchError):
        submit(a, b.ingest, "shop", Action.RECEIVE, lot_id("nowhere"), prev_event_hash=b"\x01" * 32)


def test_a_chain_that_cannot_be_read_refuses_nothing_the_chain_would_accept(
    nodes: tuple[AnvilNode, OtherNode],
) -> None:
    """Node B's chain connection down (a port nobody listens on): a batch B's store lacks
    cannot be judged (503, try again); a refusal on B's own view stands."""
    a, b = nodes
    d = a.deployment
    down = Web3(
        Web3.HTTPProvider(
            f"http://127.0.0.1:{free_port()}",
            request_kwargs={"timeout": 2},
            exception_retry_configuration=None,
        )
    )
    contracts = Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
    ingest = IngestService(store=b.store, domain=a.domain, chain=ChainView(down, contracts))
    lot = lot_id("cross-down")
    _, shipped = shipped_to_shop(a, lot)
    assert a.worker().commit_once() is not None
    with pytest.raises(ChainUnavailableError):
        submit(a, ingest, "shop", Action.RECEIVE, lot, prev_event_hash=shipped)
    received = submit(a, b.ingest, "shop", Action.RECEIVE, lot, prev_event_hash=shipped)
    with pytest.raises(HeadMismatchError):
        submit(a, ingest, "shop", Action.RECEIVE, lot, prev_event_hash=shipped)
    assert stored(b.store, lot) is not None
    assert received == stored_head(b.store, lot)


def test_a_node_s_own_lots_cost_no_chain_read(nodes: tuple[AnvilNode, OtherNode]) -> None:
    """A lot commissioned and shipped in one call, and moved on later, is the node's own:
    the ingest asks the chain nothing (the chain is read only where the store's view ends)."""
    a, _ = nodes
    asked: list[Sequence[bytes]] = []
    view = chain_view(a)

    def counted(batch_ids: Sequence[bytes]) -> dict[bytes, ChainBatch]:
        asked.append(batch_ids)
        return view(batch_ids)

    ingest = IngestService(store=a.store, domain=a.domain, chain=counted)
    lot = lot_id("own-lot")
    events: list[tuple[TraceEvent, bytes]] = []
    for who, action, fields in (
        ("farm", Action.COMMISSION, {"product": bytes(32), "quantity": 3}),
        ("farm", Action.SHIP, {"counterparty": a.address("carrier")}),
    ):
        a.nonces[who] = a.nonces.get(who, 0) + 1
        event = TraceEvent(
            action,
            batch_id=lot,
            prev_event_hash=events[-1][0].digest(a.domain) if events else bytes(32),
            nonce=a.nonces[who],
            event_time=int(time.time() * 1000),
            **fields,
        )
        events.append(sign(a, who, event))
    results = ingest.submit_many([signed(*e) for e in events])
    assert [r.error for r in results] == [None, None]
    submit(a, ingest, "carrier", Action.RECEIVE, lot, prev_event_hash=results[1].event_hash)
    assert asked == []


def test_cheese_made_on_one_node_from_milk_of_another_verifies_with_its_lineage(
    nodes: tuple[AnvilNode, OtherNode],
) -> None:
    """Milk commissioned on node A, shipped to node B's dairy, made into cheese there: B's
    bundle of the cheese holds the cheese's whole history and the milk's from B's
    reception on, which extends A's shipment on the chain."""
    a, b = nodes
    dairy: LocalAccount = Account.create()
    a.keys["dairy"] = dairy
    a.ids["dairy"] = a.registry.register(
        a.admin, key=dairy.address, name="dairy", roles=Role.PROCESSOR, prefix="88.777"
    )
    for store in (a.store, b.store):
        sync_participants(store=store, source=a.registry, head=a.w3.eth.block_number)
    milk = lot_id("cross-milk")
    _, shipped = shipped_to_shop(a, milk, to="dairy")
    assert a.worker().commit_once() is not None
    received = submit(a, b.ingest, "dairy", Action.RECEIVE, milk, prev_event_hash=shipped)
    cheese = parse_identifier("88.777/cheese-1")
    IDENTIFIERS[cheese.batch_id] = cheese.canonical
    submit(
        a,
        b.ingest,
        "dairy",
        Action.TRANSFORM,
        bytes(32),
        inputs=(milk,),
        input_prev_hashes=(received,),
        outputs=(cheese.batch_id,),
        product=bytes(32),
        quantity=1,
    )
    result = b.worker().commit_once()
    assert result is not None
    assert result.rejected == 0  # (with the reception the test before left unanchored)

    report = verify_bundle(
        ProvenanceService(b.store, a.w3, a.deployment).export(cheese.batch_id), reader(a)
    )
    assert report.outcome is Outcome.PASS, report.failures()
    by_id = {x.batch_id: x for x in report.batches}
    assert by_id[milk].elsewhere_at is not None
    assert by_id[cheese.batch_id].elsewhere_at is None
    assert by_id[cheese.batch_id].parents == (milk,)
    licence = {c.check: c for c in by_id[cheese.batch_id].checks}[Check.LICENCE]
    assert licence.outcome is Outcome.PASS
    assert by_id[milk].status is BatchStatus.CONSUMED
