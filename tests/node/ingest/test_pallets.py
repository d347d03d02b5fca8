"""A packing's pallet (docs/events.md, "Pallets"): an AGGREGATE or DISAGGREGATE never
names as its pallet a custody batch (a lot packed onto another party's lot would add
ancestors and events to that lot's history), nor a lot, an item or a handle under a
prefix another participant holds (a lot another brand commissions later would start with
the stranger's packings), nor a bare batch id (it names no prefix to judge). An SSCC, an
asset, any other URI, or a lot, an item or a handle of the signer's own prefix or of one
nobody holds (as for a lot adopted from outside) is a pallet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.events.identifiers import parse_identifier
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action
from node.exceptions import (
    InvalidIdentifierProofError,
    LicensedElsewhereError,
    PalletIsBatchError,
)
from node.ingest.service import IngestResult, IngestService, Outcome
from node.store.store import Store
from tests.conftest import Chain, make_chain
from tests.events import lot_id, next_event, signed

SSCC = "https://id.gs1.org/00/106141411234567897"
ASSET = "urn:example:pallet:7"


class Packer:
    def __init__(self, tmp_path: Path) -> None:
        self.chain: Chain = make_chain()
        self.store = Store.open(f"sqlite:///{tmp_path / 's.sqlite3'}")
        self.chain.commit_key(self.store)
        self.ingest = IngestService(store=self.store, domain=self.chain.domain)
        self.nonces: dict[str, int] = {}

    def submit(
        self,
        who: str,
        action: Action,
        batch_id: bytes,
        identifiers: tuple[str, ...] | None = None,
        **fields: Any,
    ) -> IngestResult:
        self.nonces[who] = self.nonces.get(who, 0) + 1
        event = next_event(self.store, action, batch_id, self.nonces[who], **fields)
        signature = sign_digest(event.digest(self.chain.domain), self.chain.keys[who].key)
        item = signed(event, signature)
        if identifiers is not None:
            item = SignedEvent(event, signature, identifiers=identifiers)
        return self.ingest.submit(item)

    def carrier_holds(self, name: str) -> tuple[bytes, bytes]:
        """A farm lot the carrier holds: its id and head."""
        lot = lot_id(name)
        carrier = bytes.fromhex(self.chain.keys["carrier"].address[2:])
        steps: list[tuple[str, Action, dict[str, Any]]] = [
            ("farm", Action.COMMISSION, {}),
            ("farm", Action.SHIP, {"counterparty": carrier}),
            ("carrier", Action.RECEIVE, {}),
        ]
        for who, action, fields in steps:
            assert self.submit(who, action, lot, **fields).outcome is Outcome.ACCEPTED
        with self.store.read() as conn:
            state = self.store.batches.get(conn, lot)
        assert state is not None
        return lot, state.head

    def pack(
        self, who: str, pallet: bytes, lot: bytes, head: bytes, *names: str, unpack: bool = False
    ) -> IngestResult:
        return self.submit(
            who,
            Action.DISAGGREGATE if unpack else Action.AGGREGATE,
            pallet,
            identifiers=names,
            prev_event_hash=bytes(32),
            inputs=(lot,),
            input_prev_hashes=(head,),
        )


@pytest.fixture
def packer(tmp_path: Path) -> Packer:
    return Packer(tmp_path)


def _ident(text: str) -> bytes:
    return bytes(parse_identifier(text).batch_id)


@pytest.mark.parametrize("unpack", [False, True])
def test_a_lot_of_another_party_is_never_a_pallet(packer: Packer, unpack: bool) -> None:
    victim = lot_id("PALLET-VICTIM")
    assert packer.submit("farm", Action.COMMISSION, victim).outcome is Outcome.ACCEPTED
    lot, head = packer.carrier_holds("PALLET-R")
    name = "https://id.gs1.org/01/00614141123452/10/PALLET-VICTIM"
    with pytest.raises(PalletIsBatchError) as refused:
        packer.pack("carrier", victim, lot, head, name, unpack=unpack)
    assert refused.value.code == "pallet-is-batch"
    assert str(refused.value) == (
        "the pallet is a custody batch: a lot or an item is packed, never packed onto"
    )


def test_nor_its_own_lot(packer: Packer) -> None:
    """A custody batch is packed, never packed onto, whoever holds it."""
    lot, head = packer.carrier_holds("PALLET-OWN-A")
    other, _ = packer.carrier_holds("PALLET-OWN-B")
    name = "https://id.gs1.org/01/00614141123452/10/PALLET-OWN-B"
    with pytest.raises(PalletIsBatchError):
        packer.pack("carrier", other, lot, head, name)


def test_a_future_lot_of_another_brand_is_never_a_pallet(packer: Packer) -> None:
    future = lot_id("PALLET-FUTURE")
    lot, head = packer.carrier_holds("PALLET-R2")
    name = "https://id.gs1.org/01/00614141123452/10/PALLET-FUTURE"
    with pytest.raises(LicensedElsewhereError) as refused:
        packer.pack("carrier", future, lot, head, name)
    assert refused.value.code == "licensed-elsewhere"
    assert str(refused.value) == (
        f"{name} is under prefix 0614141, licensed to participant 1: its brand owner is in "
        "the network and creates its lots itself"
    )
    # so the farm's lot starts with its own COMMISSION
    assert packer.submit("farm", Action.COMMISSION, future).outcome is Outcome.ACCEPTED


def test_a_bare_batch_id_names_no_pallet(packer: Packer) -> None:
    future = lot_id("PALLET-BARE")
    lot, head = packer.carrier_holds("PALLET-R3")
    with pytest.raises(InvalidIdentifierProofError, match="a packing needs its pallet's"):
        packer.pack("carrier", future, lot, head)


@pytest.mark.parametrize("pallet", [SSCC, ASSET])
def test_an_sscc_or_an_asset_is_a_pallet(packer: Packer, pallet: str) -> None:
    from node.events.identifiers import parse_record

    key = bytes(parse_record(pallet).batch_id)
    lot, head = packer.carrier_holds("PALLET-R4" + str(len(pallet)))
    assert packer.pack("carrier", key, lot, head, pallet).outcome is Outcome.ACCEPTED
    result = packer.pack("carrier", key, lot, head, pallet, unpack=True)
    assert result.outcome is Outcome.ACCEPTED


def test_a_lot_of_the_signer_s_own_prefix_is_a_pallet(packer: Packer) -> None:
    """The farm packs its lots onto a lot id of its own prefix, as it could create it."""
    name = "https://id.gs1.org/01/00614141123452/10/PALLET-MINE"
    lot = lot_id("PALLET-L")
    assert packer.submit("farm", Action.COMMISSION, lot).outcome is Outcome.ACCEPTED
    with packer.store.read() as conn:
        state = packer.store.batches.get(conn, lot)
    assert state is not None
    result = packer.pack("farm", _ident(name), lot, state.head, name)
    assert result.outcome is Outcome.ACCEPTED


@pytest.mark.parametrize("name", ["88.777.1/PALLET-9", "https://id.gs1.org/01/09999990000019/10/P"])
def test_a_lot_of_a_prefix_nobody_holds_is_a_pallet(packer: Packer, name: str) -> None:
    lot, head = packer.carrier_holds("PALLET-N" + str(len(name)))
    assert packer.pack("carrier", _ident(name), lot, head, name).outcome is Outcome.ACCEPTED


def test_no_lot_is_made_on_a_pallet_s_id(packer: Packer) -> None:
    """The farm packs onto a lot id of its own prefix; that id stays a pallet's: a
    COMMISSION under it would start the lot's history with the packings."""
    name = "https://id.gs1.org/01/00614141123452/10/PALLET-THEN-LOT"
    lot = lot_id("PALLET-L2")
    assert packer.submit("farm", Action.COMMISSION, lot).outcome is Outcome.ACCEPTED
    with packer.store.read() as conn:
        state = packer.store.batches.get(conn, lot)
    assert state is not None
    assert packer.pack("farm", _ident(name), lot, state.head, name).outcome is Outcome.ACCEPTED
    with pytest.raises(PalletIsBatchError, match="is a pallet, named by earlier packings"):
        packer.submit("farm", Action.COMMISSION, lot_id("PALLET-THEN-LOT"))
