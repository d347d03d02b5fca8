"""Epoch-keyed indexes (node.store.store): every event is found by its hash and by its
batches across epochs; pallets and batches the chain never created keep their events."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from eth_hash.auto import keccak
from sqlalchemy import select, text

from node.events.typed_data import Action, BatchStatus
from node.ingest.service import Outcome
from node.store import tables
from node.store.engine import MIGRATIONS, make_engine, migrate
from node.store.store import Store
from node.store.tables import BATCHES, EVENT_BATCHES, EVENTS
from tests.node.ingest.test_service import LOT, World, lot_id


@pytest.fixture
def world(store: Store, monkeypatch: pytest.MonkeyPatch) -> World:
    # Two events an epoch: a handful of events spans many epochs.
    monkeypatch.setattr(tables, "EPOCH_BITS", 1)
    return World(store)


def _hashes(world: World, batch_id: bytes) -> list[bytes]:
    with world.store.read() as conn:
        return [row.record.event_hash for row in world.store.events.of_batches(conn, [batch_id])]


def test_events_are_found_by_hash_and_by_batch_across_epochs(world: World) -> None:
    lots = [lot_id(f"lot-{n}") for n in range(5)]
    made = {lot: [world.commission(lot)] for lot in lots}
    for lot in lots:  # later epochs than the lots' own
        made[lot].append(world.ship(lot, "farm", "carrier"))
        made[lot].append(world.receive(lot, "carrier"))

    with world.store.read() as conn:
        epochs = set(conn.execute(select(EVENTS.c.epoch)).scalars())
        every = [h for hashes in made.values() for h in hashes]
        found = {h: world.store.events.get(conn, h) for h in every}
        known = world.store.events.known(conn, [*every, keccak(b"never stored")])
    assert len(epochs) >= 6
    assert all(row is not None and row.event_hash == h for h, row in found.items())
    assert set(known) == set(every)
    for lot, hashes in made.items():
        assert _hashes(world, lot) == hashes


def test_a_duplicate_is_found_by_signer_and_nonce_in_an_old_epoch(world: World) -> None:
    farm = world["farm"]
    signed = world.sign(world.event(Action.COMMISSION, farm), farm)
    first = world.ingest.submit(signed)
    for n in range(6):
        world.commission(lot_id(f"later-{n}"))

    again = world.ingest.submit_many([signed])

    assert again[0].outcome is Outcome.DUPLICATE
    assert again[0].event_hash == first.event_hash
    assert world.event_count() == 7


def test_a_forgotten_batch_keeps_its_events_and_can_be_created_again(world: World) -> None:
    first = world.commission()
    with world.store.read() as conn:
        (epoch,) = conn.execute(select(BATCHES.c.epoch).where(BATCHES.c.batch_id == LOT)).one()
    for n in range(4):
        world.commission(lot_id(f"other-{n}"))
    with world.store.write() as conn:  # the chain rejected the creation (commit worker)
        world.store.batches.forget(conn, LOT)
    assert world.batch() is None
    assert _hashes(world, LOT) == [first]

    world.heads.pop(LOT)
    second = world.commission()

    with world.store.read() as conn:
        batch = world.store.batches.get(conn, LOT)
    assert batch is not None
    assert batch.status is BatchStatus.ACTIVE
    assert batch.created_by == second
    assert _hashes(world, LOT) == [first, second]
    with world.store.read() as conn:
        row = conn.execute(select(BATCHES.c.epoch).where(BATCHES.c.batch_id == LOT)).one()
    assert row.epoch == epoch


def test_a_pallet_has_events_but_no_batch_state(world: World) -> None:
    sscc = "https://id.gs1.org/00/095060001343520018"
    pallet = keccak(sscc.encode())
    world.commission()
    pack = world.event(
        Action.AGGREGATE,
        world["farm"],
        pallet,
        prev_event_hash=bytes(32),
        inputs=(LOT,),
        input_prev_hashes=(world.heads[LOT],),
    )

    # (a packing names its pallet's identifier: docs/events.md, "Pallets")
    packed = world.ingest.submit(world.sign(pack, world["farm"], identifiers=(sscc,))).event_hash

    assert world.batch(pallet) is None
    assert _hashes(world, pallet) == [packed]
    assert _hashes(world, LOT)[-1] == packed
    with world.store.read() as conn:
        link = conn.execute(select(EVENT_BATCHES)).one()
        stored = world.store.events.get(conn, packed)
    assert stored is not None
    assert (bytes(link.batch_id), link.event_id) == (LOT, stored.id)


def test_the_migration_gives_stored_events_their_epochs(store_url: str) -> None:
    """A store written before revision 0006: a lot with two events, a pallet with no batch
    row, and a link; after the upgrade each is found as before."""
    engine = make_engine(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    pallet = keccak(b"pallet")
    hashes = [keccak(b"event %d" % n) for n in range(3)]
    common = (
        "action, prev_event_hash, inputs, input_prev_hashes, outputs, counterparty, product, "
        "quantity, event_time, location, payload_hash, signer, participant_id, signature, "
        "status, received_at"
    )
    with engine.begin() as conn:
        for n, (event_hash, subject) in enumerate(zip(hashes, [LOT, LOT, pallet], strict=True)):
            conn.execute(
                text(
                    f"INSERT INTO events (event_hash, batch_id, nonce, {common}) VALUES "
                    "(:h, :b, :n, 1, :z, :e, :e, :e, :a, :z, '1', 1, :z, :z, :a, 1, :s, 1, 1)"
                ),
                {
                    "h": event_hash,
                    "b": subject,
                    "n": n.to_bytes(32, "big"),
                    "z": bytes(32),
                    "e": b"",
                    "a": bytes(20),
                    "s": bytes(65),
                },
            )
        conn.execute(
            text(
                "INSERT INTO batches (batch_id, identifier, producer_id, custodian_id, "
                "receiver_id, status, head, created_by) VALUES (:b, 'lot', 1, 1, 0, 1, :h, :c)"
            ),
            {"b": LOT, "h": hashes[1], "c": hashes[0]},
        )
        conn.execute(
            text("INSERT INTO event_batches (batch_id, event_hash) VALUES (:b, :h)"),
            {"b": LOT, "h": hashes[2]},
        )

    migrate(engine)
    upgraded = Store(engine)
    try:
        with upgraded.read() as conn:
            lot = [r.record.event_hash for r in upgraded.events.of_batches(conn, [LOT])]
            packed = [r.record.event_hash for r in upgraded.events.of_batches(conn, [pallet])]
            found = [upgraded.events.get(conn, h) for h in hashes]
            state = upgraded.batches.get(conn, LOT)
            none_row = upgraded.batches.get(conn, pallet)
        assert lot == hashes
        assert packed == [hashes[2]]
        assert all(row is not None for row in found)
        assert state is not None
        assert state.identifier == "lot"
        assert none_row is None
    finally:
        upgraded.close()
