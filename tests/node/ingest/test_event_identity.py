"""One row per event hash: an event signed again by another key, on SQLite and PostgreSQL.

The event hash covers an event's content and nonce, not its signer. The same content and
nonce signed again by another key of the same participant (after a key rotation) is the
same event: ``duplicate``. Signed by another participant, it is refused with
``EventExistsError``. In neither case is a second row written, and a packing signed
again raises no IntegrityError (event_batches' key): every action, alone and inside one
bulk, and after the node rolled its view back for an event the chain refused.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from node.events.compose import EventSpec, compose, heads_needed
from node.events.signatures import address_of, sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Role, TraceEvent
from node.exceptions import EventExistsError, UnknownSignerError
from node.ingest.service import IngestResult, IngestService, Outcome
from node.store.store import Store
from node.store.tables import EVENTS
from node.testing.harness import TraceNodeHarness
from tests.node.ingest.test_service import DOMAIN

LOT = "https://id.gs1.org/01/09506000134352/10/ID-{}"
PALLET = "https://id.gs1.org/01/09506000134352/10/PALLET-1"


@pytest.fixture
def harness(tracenode_factory: Callable[..., TraceNodeHarness], store_url: str) -> TraceNodeHarness:
    return tracenode_factory(database_url=store_url)


_nonces = itertools.count(1)


def sign(
    h: TraceNodeHarness,
    who: str,
    action: Action,
    batch: str | None = None,
    *,
    to: str | None = None,
    **fields: Any,
) -> SignedEvent:
    """An event by ``who`` extending the batches' current heads, signed: what
    compose_event does, with a nonce of the test's own (compose_event's
    Store.next_nonce takes max() of a bytea, which PostgreSQL does not have)."""
    spec = EventSpec(action=action, batch=batch, **fields)
    with h.node.store.read() as conn:
        stored = h.node.store.batches.load(conn, heads_needed(spec))
    event, canonical, identifiers = compose(
        spec,
        counterparty=bytes.fromhex(h.keys[to].address[2:]) if to else bytes(20),
        heads={batch_id: state.head for batch_id, state in stored.items()},
        nonce=next(_nonces),
    )
    digest = event.digest(h.node.domain)
    return SignedEvent(event, sign_digest(digest, bytes(h.keys[who].key)), canonical, identifiers)


def resign(h: TraceNodeHarness, signed: SignedEvent, key: LocalAccount) -> SignedEvent:
    """The very same event (content and nonce: the same hash) signed by ``key``."""
    digest = signed.event.digest(h.node.domain)
    return replace(signed, signature=sign_digest(digest, bytes(key.key)))


def rows_by_hash(h: TraceNodeHarness) -> dict[bytes, int]:
    """How many stored rows have each event hash, read from the events table itself."""
    with h.node.store.read() as conn:
        rows = conn.execute(select(EVENTS.c.event_hash, func.count()).group_by(EVENTS.c.event_hash))
        return {bytes(event_hash): count for event_hash, count in rows}


def story(h: TraceNodeHarness) -> dict[Action, tuple[str, SignedEvent]]:
    """One accepted event of each kind that can be signed again: (its signer, the event)."""
    made: dict[Action, tuple[str, SignedEvent]] = {}

    def submit(who: str, action: Action, batch: str | None = None, **fields: Any) -> None:
        signed = sign(h, who, action, batch, **fields)
        assert h.node.ingest.submit(signed).outcome is Outcome.ACCEPTED
        made[action] = (who, signed)

    for n in range(1, 5):
        submit("farm", Action.COMMISSION, LOT.format(n), product="milk", quantity=10)
    submit("regulator", Action.OBSERVE, LOT.format(1), payload={"temperature": 4})
    submit("farm", Action.SHIP, LOT.format(2), to="carrier")
    submit("farm", Action.AGGREGATE, PALLET, inputs=[LOT.format(3), LOT.format(4)])
    submit("farm", Action.DISAGGREGATE, PALLET, inputs=[LOT.format(3), LOT.format(4)])
    submit("farm", Action.TRANSFORM, inputs=[LOT.format(1)], outputs=[LOT.format(5)], quantity=5)
    return made


#: For each action, a participant other than its signer that holds a role the action
#: needs, so that only the event's identity refuses it.
OTHER = {
    Action.COMMISSION: "processor",
    Action.OBSERVE: "carrier",
    Action.SHIP: "carrier",
    Action.AGGREGATE: "carrier",
    Action.DISAGGREGATE: "shop",
    Action.TRANSFORM: "processor",
}


def test_an_event_signed_again_after_a_key_rotation_is_a_duplicate(
    harness: TraceNodeHarness,
) -> None:
    made = story(harness)
    before = rows_by_hash(harness)
    for who in {"farm", "regulator"}:
        harness.rotate(who)

    again = {
        action: harness.node.ingest.submit_many([resign(harness, signed, harness.keys[who])])[0]
        for action, (who, signed) in made.items()
    }

    assert {a: (r.outcome, r.event_hash, r.error) for a, r in again.items()} == {
        a: (Outcome.DUPLICATE, signed.event.digest(harness.node.domain), None)
        for a, (_, signed) in made.items()
    }
    assert rows_by_hash(harness) == before
    assert set(before.values()) == {1}


def test_an_event_signed_again_by_another_participant_is_refused(
    harness: TraceNodeHarness,
) -> None:
    made = story(harness)
    before = rows_by_hash(harness)

    again = {
        action: harness.node.ingest.submit_many(
            [resign(harness, signed, harness.keys[OTHER[action]])]
        )[0]
        for action, (_, signed) in made.items()
    }

    assert {a: (r.outcome, type(r.error)) for a, r in again.items()} == dict.fromkeys(
        made, (Outcome.REJECTED, EventExistsError)
    )
    for action, result in again.items():
        assert result.error is not None
        assert result.error.details == {
            "eventHash": made[action][1].event.digest(harness.node.domain),
            "signer": harness.keys[OTHER[action]].address.lower(),
        }
    assert rows_by_hash(harness) == before


def test_a_key_no_participant_holds_is_refused_as_unknown(harness: TraceNodeHarness) -> None:
    made = story(harness)
    before = rows_by_hash(harness)
    stranger = harness.new_key()

    again = harness.node.ingest.submit_many(
        [resign(harness, signed, stranger) for _, signed in made.values()]
    )

    assert {type(r.error) for r in again} == {UnknownSignerError}
    assert rows_by_hash(harness) == before


def test_inside_one_bulk_the_first_signature_is_stored_and_the_others_answered(
    harness: TraceNodeHarness,
) -> None:
    for n in range(1, 3):
        lot = sign(harness, "farm", Action.COMMISSION, LOT.format(n), product="milk", quantity=9)
        harness.node.ingest.submit(lot)
    observe = sign(harness, "regulator", Action.OBSERVE, LOT.format(1))
    pack = sign(harness, "farm", Action.AGGREGATE, PALLET, inputs=[LOT.format(1), LOT.format(2)])
    commission = sign(harness, "farm", Action.COMMISSION, LOT.format(3), quantity=1)
    old_farm = harness.keys["farm"]
    harness.rotate("farm")
    # Signed by the rotated-out key: refused on its own, a duplicate once the new key's
    # signature of the same event is held.
    old_pack = resign(harness, pack, old_farm)
    new_pack = resign(harness, pack, harness.keys["farm"])
    new_commission = resign(harness, commission, harness.keys["farm"])

    results = harness.node.ingest.submit_many(
        [
            observe,
            resign(harness, observe, harness.keys["carrier"]),
            old_pack,
            new_pack,
            resign(harness, pack, harness.keys["carrier"]),
            old_pack,
            new_commission,
            resign(harness, commission, harness.keys["processor"]),
            new_commission,
        ]
    )

    assert [(r.outcome, type(r.error) if r.error else None) for r in results] == [
        (Outcome.ACCEPTED, None),
        (Outcome.REJECTED, EventExistsError),
        (Outcome.REJECTED, UnknownSignerError),
        (Outcome.ACCEPTED, None),
        (Outcome.REJECTED, EventExistsError),
        (Outcome.DUPLICATE, None),
        (Outcome.ACCEPTED, None),
        (Outcome.REJECTED, EventExistsError),
        (Outcome.DUPLICATE, None),
    ]
    held = rows_by_hash(harness)
    assert [held[r.event_hash] for r in results] == [1] * len(results)
    assert set(held.values()) == {1}
    assert _participants(harness, results[3]) == harness.participant_id("farm")


def _participants(h: TraceNodeHarness, result: IngestResult) -> int:
    with h.node.store.read() as conn:
        row = h.node.store.events.get(conn, result.event_hash)
    assert row is not None
    return row.participant_id


@pytest.mark.parametrize("action", [Action.COMMISSION, Action.SHIP])
def test_an_event_the_chain_refused_is_held_once_after_the_node_rolls_back(
    harness: TraceNodeHarness, action: Action
) -> None:
    """The commit worker, when the chain refuses an event, keeps its row (REJECTED) and
    sets the batch back to the chain's state: the rules would take the event again."""
    commission = sign(harness, "farm", Action.COMMISSION, LOT.format(1), quantity=3)
    harness.node.ingest.submit(commission)
    store = harness.node.store
    if action is Action.COMMISSION:
        refused = commission
        with store.write() as conn:
            store.batches.forget(conn, commission.event.batch_id)
    else:
        with store.read() as conn:
            before = store.batches.get(conn, commission.event.batch_id)
        assert before is not None
        refused = sign(harness, "farm", Action.SHIP, LOT.format(1), to="carrier")
        harness.node.ingest.submit(refused)
        with store.write() as conn:
            store.batches.replace(conn, before)
    harness.rotate("farm")

    again = harness.node.ingest.submit_many([resign(harness, refused, harness.keys["farm"])])

    assert (again[0].outcome, again[0].error) == (Outcome.DUPLICATE, None)
    assert set(rows_by_hash(harness).values()) == {1}


# ----- the property: never two rows with one event hash -----

ALL_ROLES = Role(63)
PACKS = (Action.AGGREGATE, Action.DISAGGREGATE)
_participant_ids = itertools.count(1000)
_salts = itertools.count()

submission = st.one_of(
    st.tuples(
        st.just("new"),
        st.sampled_from([Action.COMMISSION, Action.OBSERVE, Action.SHIP, Action.RECEIVE, *PACKS]),
        st.integers(0, 2),  # who signs
        st.integers(0, 2),  # which lot (and the next one, for a packing)
        st.integers(0, 2),  # the receiver of a SHIP
    ),
    # The content and nonce of an event made before, signed by someone's current key or
    # by the first key they had (rotated out, or still current).
    st.tuples(
        st.just("again"),
        st.integers(0, 1000),
        st.integers(0, 2),
        st.sampled_from(["current", "first"]),
    ),
)
plans = st.lists(
    st.one_of(
        st.tuples(st.just("rotate"), st.integers(0, 2)),
        st.tuples(st.just("bulk"), st.lists(submission, min_size=1, max_size=4)),
    ),
    min_size=2,
    max_size=12,
)


class Ledger:
    """Three participants with every role, on a store shared by many examples: fresh
    participant ids, lots and nonces for each, so that examples never meet."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ingest = IngestService(store=store, domain=DOMAIN)
        salt = next(_salts)
        self.lots = [keccak(f"lot {salt} {n}".encode()) for n in range(3)]
        self.pallet = keccak(f"pallet {salt}".encode())
        self.pids = [next(_participant_ids) for _ in range(3)]
        self.keys = {pid: [os.urandom(32)] for pid in self.pids}
        self.made: list[TraceEvent] = []
        self.block = 1
        with store.write() as conn:
            for pid in self.pids:
                store.participants.put(
                    conn,
                    participant_id=pid,
                    key=address_of(self.keys[pid][0]),
                    name=f"p{pid}",
                    prefix="",
                    roles=int(ALL_ROLES),
                    active=True,
                    block=self.block,
                )

    def rotate(self, who: int) -> None:
        pid = self.pids[who]
        new = os.urandom(32)
        self.block += 1
        with self.store.write() as conn:
            self.store.participants.rotate_key(
                conn,
                pid,
                old=address_of(self.keys[pid][-1]),
                new=address_of(new),
                block=self.block,
            )
        self.keys[pid].append(new)

    def new_event(self, action: Action, lot: int, to: int) -> TraceEvent:
        subject = self.lots[lot]
        inputs = (subject, self.lots[(lot + 1) % 3]) if action in PACKS else ()
        with self.store.read() as conn:
            heads = {
                b: s.head for b, s in self.store.batches.load(conn, [subject, *inputs]).items()
            }
        fields: dict[str, Any] = {
            "batch_id": subject,
            "prev_event_hash": heads.get(subject, bytes(32)),
            "event_time": 1,
            "payload_hash": keccak(os.urandom(8)),
            "nonce": next(_nonces),
        }
        if action is Action.COMMISSION:
            fields |= {"prev_event_hash": bytes(32), "quantity": 1}
        elif action is Action.SHIP:
            fields["counterparty"] = address_of(self.keys[self.pids[to]][-1])
        elif action in PACKS:
            fields |= {
                "batch_id": self.pallet,
                "prev_event_hash": bytes(32),
                "inputs": inputs,
                "input_prev_hashes": tuple(heads.get(b, bytes(32)) for b in inputs),
            }
        event = TraceEvent(action, **fields)
        self.made.append(event)
        return event

    def signed(self, step: tuple[Any, ...]) -> tuple[int, SignedEvent] | None:
        """(the signer's participant, the signed event) for one submission of a plan."""
        if step[0] == "new":
            _, action, who, lot, to = step
            event, key = self.new_event(action, lot, to), self.keys[self.pids[who]][-1]
        elif self.made:
            _, index, who, which = step
            keys = self.keys[self.pids[who]]
            event, key = self.made[index % len(self.made)], keys[-1 if which == "current" else 0]
        else:
            return None
        return self.pids[who], SignedEvent(event, sign_digest(event.digest(DOMAIN), key))

    def holders(self, hashes: list[bytes]) -> dict[bytes, list[int]]:
        """The participant of every stored row with one of ``hashes``, from the table."""
        found: dict[bytes, list[int]] = {}
        with self.store.read() as conn:
            rows = conn.execute(
                select(EVENTS.c.event_hash, EVENTS.c.participant_id).where(
                    EVENTS.c.event_hash.in_(hashes)
                )
            )
            for event_hash, pid in rows:
                found.setdefault(bytes(event_hash), []).append(int(pid))
        return found

    def repeated_hashes(self) -> list[bytes]:
        with self.store.read() as conn:
            query = (
                select(EVENTS.c.event_hash).group_by(EVENTS.c.event_hash).having(func.count() > 1)
            )
            return [bytes(h) for h in conn.execute(query).scalars()]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans)
def test_no_two_stored_rows_ever_share_an_event_hash(
    store: Store, plan: list[tuple[Any, ...]]
) -> None:
    ledger = Ledger(store)
    for step in plan:
        if step[0] == "rotate":
            ledger.rotate(step[1])
            continue
        made = [s for s in map(ledger.signed, step[1]) if s is not None]
        results = ledger.ingest.submit_many([signed for _, signed in made])

        assert ledger.repeated_hashes() == []
        held = ledger.holders([r.event_hash for r in results])
        for (pid, _), result in zip(made, results, strict=True):
            rows = held.get(result.event_hash, [])
            if result.outcome is not Outcome.REJECTED:
                assert rows == [pid], (result, rows)
            elif isinstance(result.error, EventExistsError):
                assert len(rows) == 1, (result, rows)
                assert rows[0] != pid
            else:  # refused for another reason: never an event its participant holds
                assert rows != [pid], (result, rows)
