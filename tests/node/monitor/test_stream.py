"""The monitor's watch over the refusal record against a real node, on SQLite and
PostgreSQL: refusals recorded as the gateway records them (api/refusals.py) raise their
alerts in the next cycle, each beside its near-miss; the cursor reads each refusal once;
old refusals are pruned; the log samples a flood and never fails a refusal."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.events.signatures import sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, TraceEvent
from node.monitor.access import DAY_MS, AccessPolicy
from node.monitor.refusals import Attempt, RefusalLog, attempt
from node.monitor.service import Monitor
from node.monitor.stream import WINDOWS_CURSOR
from node.store.engine import make_engine
from node.store.models import AlertSeverity
from node.store.records import Finding
from node.store.store import Store
from node.testing.harness import TraceNodeHarness
from node.testing.plugin import HarnessFactory
from tests.node.monitor.test_custody import CHEESE, MILK, cheese_from_milk

LOT = "https://id.gs1.org/01/09506000134352/10/WATCH-1"


@pytest.fixture
def h(tracenode_factory: HarnessFactory, store_url: str) -> TraceNodeHarness:
    return tracenode_factory(database_url=store_url)


class Gateway:
    """Submits as the gateway does and records each refusal in the node's refusal log."""

    def __init__(self, h: TraceNodeHarness, clock: Callable[[], float] = time.time) -> None:
        self.h = h
        self.log = RefusalLog(h.node.store, clock=clock)
        self.nonce = 10_000

    def sign(self, key: LocalAccount, event: TraceEvent) -> SignedEvent:
        return SignedEvent(event, sign_digest(event.digest(self.h.node.domain), bytes(key.key)))

    def refuse(
        self,
        who: str,
        key: LocalAccount,
        action: Action,
        identifiers: tuple[str, ...] = (),
        **fields: object,
    ) -> str:
        """Submit an event signed by ``key`` with ``who``'s API key, naming ``identifiers``
        (what a new batch needs); it must be refused."""
        self.nonce += 1
        event = TraceEvent(action, event_time=int(time.time() * 1000), nonce=self.nonce, **fields)  # type: ignore[arg-type]
        signed = self.sign(key, event)
        signed = SignedEvent(signed.event, signed.signature, identifiers=identifiers)
        pid = self.h.participant_id(who)
        (result,) = self.h.node.ingest.submit_many([signed], as_participant=pid)
        assert result.error is not None, "the node accepted it"
        caller = Attempt(
            code="",
            caller=f"key:tn_{who}",
            client="203.0.113.7",
            key_id=f"tn_{who}",
            claimed_participant=pid,
        )
        self.log.note(attempt(caller, result.error.code, signed=signed, result=result))
        return result.error.code


def ship(gateway: Gateway, who: str, batch_id: bytes, prev: bytes, to: str) -> str:
    """``who`` signs a shipment of ``batch_id`` from ``prev`` to ``to``: its refusal's code."""
    h = gateway.h
    return gateway.refuse(
        who,
        h.keys[who],
        Action.SHIP,
        batch_id=batch_id,
        prev_event_hash=prev,
        counterparty=address(h, to),
    )


def head(h: TraceNodeHarness, identifier: str) -> bytes:
    with h.node.store.read() as conn:
        state = h.node.store.batches.get(conn, h.batch_id(identifier))
    assert state is not None
    return state.head


def address(h: TraceNodeHarness, who: str) -> bytes:
    return bytes.fromhex(h.keys[who].address[2:])


def cycle(h: TraceNodeHarness) -> list[Finding]:
    return Monitor.of(h.node).cycle().findings


def test_a_participant_signing_two_branches_of_one_head_is_critical(h: TraceNodeHarness) -> None:
    gateway = Gateway(h)
    h.submit("farm", Action.COMMISSION, LOT, product="milk", quantity=10)
    h.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=10)
    created, other = head(h, LOT), head(h, MILK)
    shipped = h.submit("farm", Action.SHIP, LOT, to="processor")
    lot, milk = h.batch_id(LOT), h.batch_id(MILK)

    # the farm signs a second shipment of the head it already shipped from
    refused = ship(gateway, "farm", lot, created, "shop")
    # near-miss: a regulator's recall of the same (stale) head is another participant's
    gateway.refuse(
        "regulator", h.keys["regulator"], Action.RECALL, batch_id=lot, prev_event_hash=created
    )
    # near-miss: refused (to the regulator, who holds no custody), then signed again
    # correctly on the same head: the first was never a valid branch
    wrong = ship(gateway, "farm", milk, other, "regulator")
    h.submit("farm", Action.SHIP, MILK, to="processor")

    (found,) = cycle(h)

    assert (refused, wrong) == ("head-mismatch", "invalid-receiver")
    assert (found.kind, found.severity, found.participant_id, found.batch_id) == (
        "equivocation",
        AlertSeverity.CRITICAL,
        h.participant_id("farm"),
        lot,
    )
    assert "0x" + shipped.hex() in {e["eventHash"] for e in found.evidence["events"]}


def test_refused_moves_of_a_recalled_lot_and_of_what_it_made_are_critical(
    h: TraceNodeHarness,
) -> None:
    gateway = Gateway(h)
    cheese_from_milk(h)
    cheese, milk = h.batch_id(CHEESE), h.batch_id(MILK)
    # near-miss: refused before the recall (to a receiver without custody)
    ship(gateway, "processor", cheese, head(h, CHEESE), "regulator")
    time.sleep(0.01)
    h.submit("regulator", Action.RECALL, MILK)
    time.sleep(0.01)

    after = [
        ship(gateway, "processor", cheese, head(h, CHEESE), "regulator"),
        ship(gateway, "processor", milk, head(h, MILK), "shop"),
    ]
    found = [f for f in cycle(h) if f.kind == "recall-breach-refused"]

    assert after == ["invalid-receiver", "batch-recalled"]
    assert sorted(f.batch_id for f in found if f.batch_id) == sorted([cheese, milk])
    assert all(f.severity is AlertSeverity.CRITICAL for f in found)
    (on_cheese,) = [f for f in found if f.batch_id == cheese]
    assert len(on_cheese.evidence["attempts"]) == 1  # not the one before the recall
    assert "made from" in on_cheese.detail


def test_rotated_out_and_suspended_keys_refused_by_the_node_or_the_chain(
    h: TraceNodeHarness,
) -> None:
    gateway = Gateway(h)
    h.submit("processor", Action.COMMISSION, CHEESE, product="cheese", quantity=5)
    h.commit()
    old = h.keys["farm"]
    h.rotate("farm")
    h.suspend("carrier")
    # suspended on-chain; the node's mirror does not know yet, so the node accepts
    h.node.registry.suspend(h.node.admin(h.password), h.participant_id("processor"))
    shipped = h.submit("processor", Action.SHIP, CHEESE, to="shop")
    h.commit()

    codes = [
        gateway.refuse(
            "farm",
            old,
            Action.COMMISSION,
            (LOT,),
            batch_id=h.batch_id(LOT),
            product=b"\x01" * 32,
            quantity=1,
        ),
        gateway.refuse("carrier", h.keys["carrier"], Action.OBSERVE, batch_id=h.batch_id(LOT)),
        # near-miss: a key nobody ever held is a refused signature, not a rotated key
        gateway.refuse(
            "farm",
            h.new_key(),
            Action.COMMISSION,
            (MILK,),
            batch_id=h.batch_id(MILK),
            product=b"\x01" * 32,
            quantity=1,
        ),
    ]
    monitor = Monitor.of(h.node)
    first, again = monitor.cycle(), monitor.cycle()
    found = {(f.kind, f.participant_id): f for f in first.findings}

    assert codes == ["unknown-signer", "signer-suspended", "unknown-signer"]
    with h.node.store.read() as conn:
        stored = h.node.store.events.get(conn, shipped)
    assert stored is not None
    assert stored.status.name == "REJECTED"  # by the chain
    farm, carrier, processor = (h.participant_id(p) for p in ("farm", "carrier", "processor"))
    assert set(found) == {
        ("rotated-key-used", farm),
        ("suspended-signer", carrier),
        ("suspended-signer", processor),
    }
    assert found[("suspended-signer", processor)].event_hash == shipped
    # Refused by the node: likely; by the chain only (the node had accepted it): suspected,
    # since the suspension may have come after it was signed.
    by_chain = found[("suspended-signer", processor)]
    assert (by_chain.severity, by_chain.evidence["refusedBy"]) == (AlertSeverity.MEDIUM, "chain")
    assert "refused by the chain only" in by_chain.detail
    assert found[("rotated-key-used", farm)].severity is AlertSeverity.HIGH
    assert found[("suspended-signer", carrier)].severity is AlertSeverity.HIGH
    assert again.refusals == 0  # each refusal and each window read once


def test_the_cursor_reads_each_refusal_once_and_old_ones_are_pruned(h: TraceNodeHarness) -> None:
    stranger = h.new_key()
    fields: dict[str, Any] = {
        "identifiers": (LOT,),
        "batch_id": h.batch_id(LOT),
        "product": b"\x01" * 32,
        "quantity": 1,
    }
    # past the retention (14 days): pruned by the next cycle, never read
    Gateway(h, clock=lambda: time.time() - 15 * DAY_MS / 1000).refuse(
        "farm", stranger, Action.COMMISSION, **fields
    )
    # Bursts are counted in buckets of window_ms from the epoch: the refusals are all
    # recorded in the middle of the previous bucket, so that none falls in another
    # whenever the test runs (it failed when it ran across a boundary, hh:h0:00).
    window_ms = AccessPolicy().window_ms
    at = (int(time.time() * 1000) // window_ms * window_ms - window_ms // 2) / 1000
    gateway = Gateway(h, clock=lambda: at)
    for _ in range(10):
        gateway.refuse("farm", stranger, Action.COMMISSION, **fields)
    monitor = Monitor.of(h.node)

    first, second = monitor.cycle(), monitor.cycle()
    gateway.refuse("farm", stranger, Action.COMMISSION, **fields)
    third = monitor.cycle()

    assert (first.refusals, second.refusals, third.refusals) == (10, 0, 1)
    assert (first.raised, second.findings, third.raised, third.updated) == (1, [], 0, 1)
    (burst,) = third.findings
    assert (burst.kind, burst.evidence["refusals"]) == ("refused-signatures", 11)
    with h.node.store.read() as conn:
        assert len(h.node.store.refusals.after(conn, 0, limit=100)) == 11


def test_windows_the_chain_refused_nothing_in_are_read_once(h: TraceNodeHarness) -> None:
    cheese_from_milk(h)
    h.commit()
    monitor = Monitor.of(h.node)

    monitor.cycle()
    h.submit("processor", Action.SHIP, CHEESE, to="shop")
    (window,) = h.commit()
    watched = monitor.watch()

    # Each window's rejected events are read once: the cursor passes windows with none
    # (it stayed behind them, and every watch read them all again, twice a second).
    assert watched.findings == []
    with h.node.store.read() as conn:
        assert h.node.store.refusals.cursor(conn, WINDOWS_CURSOR) == window.window_id


# ----- the log: sampled, budgeted, never failing -----


def note_many(log: RefusalLog, n: int, *, callers: int = 1) -> None:
    for i in range(n):
        caller = f"addr:198.51.100.{i % callers}"
        log.note(Attempt(code="rate-limited", caller=caller, client=caller[5:]))


def test_a_flood_is_sampled_and_counted_in_few_rows(store: Store) -> None:
    now = [1_800_000_000.0]
    log = RefusalLog(store, sample=3, rows_per_minute=1000, clock=lambda: now[0])

    note_many(log, 100)
    with store.read() as conn:
        minute = store.refusals.after(conn, 0, limit=1000)
    now[0] += 60
    note_many(log, 1)
    with store.read() as conn:
        everything = store.refusals.after(conn, 0, limit=1000)

    assert len(minute) == 3 + 7  # 3 in full, then summaries at 1, 2, 4 … 64 beyond them
    assert sum(r.count for r in minute) == 3 + 64  # at least half, as it happens
    assert sum(r.count for r in everything) == 101  # the rest when the caller comes back


def test_the_log_writes_at_most_its_budget_a_minute(store: Store) -> None:
    log = RefusalLog(store, rows_per_minute=10, clock=lambda: 1_800_000_000.0)

    note_many(log, 50, callers=50)

    with store.read() as conn:
        assert len(store.refusals.after(conn, 0, limit=100)) == 10


def test_a_store_that_is_down_never_fails_a_refusal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down = Store(make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"))

    log = RefusalLog(down)

    log.note(Attempt(code="invalid-signature", caller="key:tn_x"))
    log.note(Attempt(code="invalid-signature", caller="key:tn_y"))  # not tried: paused

    assert "refusal invalid-signature by key:tn_x not recorded" in caplog.text
    assert "tn_y" not in caplog.text
