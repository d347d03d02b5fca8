"""The batches repository's search on SQLite and PostgreSQL: a product's lots, and the
lots of one code of any product, exactly, bounded."""

from __future__ import annotations

from urllib.parse import quote

from node.events.batch import BatchState
from node.events.identifiers import LotCode, Product, parse_identifier
from node.events.typed_data import BatchStatus
from node.store.records import BatchListing
from node.store.store import Store

MILK = "09506000134352"
CHEESE = "09506000134369"


def batch(identifier: str, status: BatchStatus = BatchStatus.ACTIVE) -> BatchState:
    parsed = parse_identifier(identifier)
    return BatchState(
        batch_id=bytes(parsed.batch_id),
        producer_id=3,
        custodian_id=3,
        receiver_id=0,
        status=status,
        head=bytes(32),
        created_by=bytes(32),
        identifier=parsed.canonical if parsed.canonical != parsed.batch_id_hex else None,
    )


def lot(gtin: str, code: str) -> str:
    return parse_identifier(f"https://id.gs1.org/01/{gtin}/10/{quote(code, safe='')}").canonical


def seed(store: Store, *states: BatchState) -> None:
    with store.write() as conn:
        store.batches.save_created(conn, list(states), epoch=0, dormant=())


def names(found: list[BatchListing]) -> list[str]:
    return [b.identifier for b in found]


def test_a_product_lists_its_lots_and_items_and_nothing_else(store: Store) -> None:
    seed(
        store,
        batch(lot(MILK, "A1")),
        batch(lot(MILK, "B2"), BatchStatus.RECALLED),
        batch(f"https://id.gs1.org/01/{MILK}/21/S1"),
        batch(lot(CHEESE, "A1")),
        batch("88.123.45/A1"),
        batch("0x" + "ab" * 32),
    )
    with store.write() as conn:  # a batch the chain never created: a NONE row
        store.batches.forget(conn, bytes(parse_identifier(lot(MILK, "B2")).batch_id))
    seed(store, batch(lot(MILK, "C3")))

    with store.read() as conn:
        milk = store.batches.matching(conn, Product(MILK), limit=10)
        unknown = store.batches.matching(conn, Product("00000000000000"), limit=10)

    assert names(milk.batches) == [
        lot(MILK, "A1"),
        lot(MILK, "C3"),
        f"https://id.gs1.org/01/{MILK}/21/S1",
    ]
    assert milk.more is False
    first = milk.batches[0]
    assert first.batch_id == bytes(parse_identifier(lot(MILK, "A1")).batch_id)
    assert (first.status, first.producer_id) == (BatchStatus.ACTIVE, 3)
    assert unknown.batches == []


def test_a_lot_code_finds_that_lot_of_every_product_exactly(store: Store) -> None:
    seed(
        store,
        batch(lot(MILK, "LOT-7")),
        batch(lot(CHEESE, "LOT-7"), BatchStatus.CONSUMED),
        batch(lot(MILK, "lot-7")),  # lots are case-sensitive
        batch(lot(MILK, "LOT-70")),
        batch(lot(MILK, "XLOT-7")),
        batch(f"https://id.gs1.org/01/{MILK}/21/LOT-7"),  # a serial, not a lot
        batch("88.123.45/LOT-7"),
        batch(lot(MILK, "A/B%C")),
        batch(lot(MILK, "A_B")),
    )

    with store.read() as conn:
        found = store.batches.matching(conn, LotCode("LOT-7"), limit=10)
        escaped = store.batches.matching(conn, LotCode("A/B%C"), limit=10)
        wildcard = store.batches.matching(conn, LotCode("A%B"), limit=10)

    assert names(found.batches) == [lot(MILK, "LOT-7"), lot(CHEESE, "LOT-7")]
    assert [b.status for b in found.batches] == [BatchStatus.ACTIVE, BatchStatus.CONSUMED]
    assert names(escaped.batches) == [lot(MILK, "A/B%C")]
    assert wildcard.batches == []  # '%' and '_' are no wildcards here


def test_a_search_returns_the_first_n_in_identifier_order_and_says_there_are_more(
    store: Store,
) -> None:
    seed(store, *(batch(lot(MILK, f"L{n:03d}")) for n in range(25)))

    with store.read() as conn:
        first = store.batches.matching(conn, Product(MILK), limit=10)
        exact = store.batches.matching(conn, Product(MILK), limit=25)

    assert names(first.batches) == [lot(MILK, f"L{n:03d}") for n in range(10)]
    assert first.more is True
    assert len(exact.batches) == 25
    assert exact.more is False
