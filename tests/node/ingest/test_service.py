"""Ingest on SQLite and PostgreSQL: every check, idempotency, bulk, nothing partly written."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace

import pytest
from eth_hash.auto import keccak

from node.events.identifiers import gtin_check_digit, prefix_kind
from node.events.payload import payload_hash
from node.events.signatures import SECP256K1_N, address_of, sign_digest
from node.events.submission import SignedEvent, parse_submission, submission_document
from node.events.typed_data import Action, BatchStatus, Domain, Role, TraceEvent
from node.exceptions import (
    BatchExistsError,
    BatchInNetworkError,
    BatchRecalledError,
    HeadMismatchError,
    InvalidEventError,
    InvalidIdentifierProofError,
    InvalidReceiverError,
    InvalidSignatureError,
    InvalidStatusError,
    LicenceNotValidError,
    LicensedElsewhereError,
    MissingRoleError,
    NonceUsedError,
    NotCustodianError,
    NotRecallerError,
    NotReceiverError,
    PayloadMismatchError,
    SignerSuspendedError,
    UnknownBatchError,
    UnknownSignerError,
    UnlicensedIdentifierError,
)
from node.ingest.service import IngestService, Outcome
from node.participants.sync import CURSOR
from node.store.store import Store

DOMAIN = Domain(31337, bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3"))
#: Identifiers of the lots these tests create, by batch id: a new batch needs its own.
KNOWN: dict[bytes, str] = {}


def lot_id(name: str, gtin: str = "09506000134352") -> bytes:
    """The batch id of lot ``name`` of ``gtin`` (by default under the farm's licence of
    9506000), remembered for :meth:`World.sign`."""
    uri = f"https://id.gs1.org/01/{gtin}/10/{name}"
    KNOWN[keccak(uri.encode())] = uri
    return keccak(uri.encode())


LOT_URI = "https://id.gs1.org/01/09506000134352/10/ABC1"
LOT = lot_id("ABC1")
#: A GTIN under the processor's licence of 9506001.
PROCESSOR_GTIN = "095060010000" + "1"
PROCESSOR_GTIN += str(gtin_check_digit(PROCESSOR_GTIN))
#: The licence mirror's head in these tests (World sets the participants' cursor to it).
HEAD = 10


@dataclass
class Party:
    participant_id: int
    key: bytes
    roles: Role

    @property
    def address(self) -> bytes:
        return address_of(self.key)


class World:
    """Participants in the mirror, an ingest service, and helpers to sign events."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ingest = IngestService(store=store, domain=DOMAIN)
        self.nonces: dict[int, int] = {}
        self.heads: dict[bytes, bytes] = {}
        self.parties: dict[str, Party] = {}
        for pid, (name, roles) in enumerate(
            [
                ("farm", Role.PRODUCER),
                ("processor", Role.PROCESSOR),
                ("carrier", Role.LOGISTICS),
                ("shop", Role.RETAILER),
                ("regulator", Role.REGULATOR),
                ("auditor", Role.AUDITOR),
                ("grower", Role.PRODUCER),  # licensed nothing unless a test licenses it
            ],
            start=1,
        ):
            party = Party(pid, os.urandom(32), roles)
            self.parties[name] = party
            with store.write() as conn:
                store.participants.put(
                    conn,
                    participant_id=pid,
                    key=party.address,
                    name=name,
                    prefix="",
                    roles=int(roles),
                    active=True,
                    block=1,
                )
        self.grants = 0
        self.license("farm", "9506000")
        self.license("processor", "9506001")
        with store.write() as conn:
            store.participants.set_cursor(conn, CURSOR, HEAD)

    def license(
        self, party: str, prefix: str, *, valid_from: int = 1, valid_until: int = 0, block: int = 1
    ) -> None:
        """Mirror a licence of ``prefix`` to ``party`` granted at ``block``."""
        self.grants += 1
        with self.store.write() as conn:
            self.store.licences.grant(
                conn,
                kind=prefix_kind(prefix),
                prefix=prefix,
                holder=self[party].participant_id,
                valid_from=valid_from,
                valid_until=valid_until,
                block=block,
                log_index=self.grants,
            )

    def revoke(self, party: str, prefix: str, *, block: int) -> None:
        """Mirror the revocation of ``party``'s licence of ``prefix`` at ``block``."""
        with self.store.write() as conn:
            self.store.licences.revoke(
                conn,
                kind=prefix_kind(prefix),
                prefix=prefix,
                holder=self[party].participant_id,
                valid_until=block,
                block=block,
                log_index=0,
            )

    def __getitem__(self, name: str) -> Party:
        return self.parties[name]

    def event(
        self, action: Action, party: Party, batch_id: bytes = LOT, **fields: object
    ) -> TraceEvent:
        nonce = self.nonces.get(party.participant_id, 0)
        self.nonces[party.participant_id] = nonce + 1
        defaults: dict[str, object] = {
            "batch_id": batch_id,
            "prev_event_hash": self.heads.get(batch_id, bytes(32)),
            "event_time": 1_732_000_000_000,
            "payload_hash": keccak(os.urandom(8)),
            "nonce": nonce,
        }
        if action is Action.COMMISSION:
            defaults |= {"product": keccak(b"gtin"), "quantity": 100}
        defaults.update(fields)
        return TraceEvent(action, **defaults)  # type: ignore[arg-type]

    def sign(self, event: TraceEvent, party: Party, **extra: object) -> SignedEvent:
        """``event`` signed by ``party``, naming the identifiers of the batches it creates
        (unless ``extra`` gives them)."""
        signature = sign_digest(event.digest(DOMAIN), party.key)
        created = tuple(KNOWN[b] for b in event.created_batch_ids() if b in KNOWN)
        extra = {"identifiers": created} | extra
        return SignedEvent(event, signature, **extra)  # type: ignore[arg-type]

    def submit(self, event: TraceEvent, party: Party) -> bytes:
        result = self.ingest.submit(self.sign(event, party))
        if event.action.on_chain:
            for batch_id in {event.batch_id, *event.inputs, *event.outputs} - {bytes(32)}:
                self.heads[batch_id] = result.event_hash
        return result.event_hash

    def commission(self, batch_id: bytes = LOT, party: str = "farm") -> bytes:
        return self.submit(self.event(Action.COMMISSION, self[party], batch_id), self[party])

    def ship(self, batch_id: bytes, sender: str, receiver: str) -> bytes:
        event = self.event(Action.SHIP, self[sender], batch_id, counterparty=self[receiver].address)
        return self.submit(event, self[sender])

    def receive(self, batch_id: bytes, receiver: str) -> bytes:
        return self.submit(self.event(Action.RECEIVE, self[receiver], batch_id), self[receiver])

    def batch(self, batch_id: bytes = LOT) -> object:
        with self.store.read() as conn:
            return self.store.batches.get(conn, batch_id)

    def event_count(self) -> int:
        with self.store.read() as conn:
            return self.store.events.count(conn)


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


def test_commission_is_stored_under_its_eip712_hash(world: World) -> None:
    event = world.event(Action.COMMISSION, world["farm"])

    event_hash = world.submit(event, world["farm"])

    assert event_hash == event.digest(DOMAIN)
    with world.store.read() as conn:
        row = world.store.events.get(conn, event_hash)
    assert row is not None
    assert row.signer == world["farm"].address
    assert row.participant_id == 1
    batch = world.batch()
    assert batch is not None
    assert (batch.status, batch.custodian_id, batch.producer_id, batch.head) == (  # type: ignore[attr-defined]
        BatchStatus.ACTIVE,
        1,
        1,
        event_hash,
    )


def test_same_event_twice_is_a_duplicate_with_the_same_hash(world: World) -> None:
    signed = world.sign(world.event(Action.COMMISSION, world["farm"]), world["farm"])

    first = world.ingest.submit(signed)
    second = world.ingest.submit(signed)
    both = world.ingest.submit_many([signed, signed])

    assert first.outcome is Outcome.ACCEPTED
    assert second.outcome is Outcome.DUPLICATE
    assert {r.outcome for r in both} == {Outcome.DUPLICATE}
    assert first.event_hash == second.event_hash == both[0].event_hash
    assert world.event_count() == 1


def test_a_malleated_signature_is_refused(world: World) -> None:
    signed = world.sign(world.event(Action.COMMISSION, world["farm"]), world["farm"])
    s = int.from_bytes(signed.signature[32:64], "big")
    v = 55 - signed.signature[64]  # flip 27 <-> 28
    high_s = signed.signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((v,))

    with pytest.raises(InvalidSignatureError):
        world.ingest.submit(replace(signed, signature=high_s))
    assert world.event_count() == 0


def test_a_signature_over_another_event_recovers_an_unknown_signer(world: World) -> None:
    signed = world.sign(world.event(Action.COMMISSION, world["farm"]), world["farm"])
    altered = replace(signed, event=replace(signed.event, quantity=999_999))

    with pytest.raises(UnknownSignerError):
        world.ingest.submit(altered)
    assert world.batch() is None


def test_suspended_and_rotated_keys_are_refused(world: World) -> None:
    farm = world["farm"]
    with world.store.write() as conn:
        world.store.participants.set_status(
            conn, 1, roles=int(Role.PRODUCER), active=False, block=5
        )
    with pytest.raises(SignerSuspendedError):
        world.commission()

    new_key = os.urandom(32)
    with world.store.write() as conn:
        world.store.participants.set_status(conn, 1, roles=int(Role.PRODUCER), active=True, block=6)
        world.store.participants.rotate_key(
            conn, 1, old=farm.address, new=address_of(new_key), block=7
        )
    with pytest.raises(UnknownSignerError):
        world.commission()

    world.parties["farm"] = Party(1, new_key, farm.roles)
    world.commission()
    assert world.batch().custodian_id == 1  # type: ignore[attr-defined]


def test_role_is_required_for_the_action(world: World) -> None:
    with pytest.raises(MissingRoleError) as raised:
        world.commission(party="carrier")

    assert raised.value.details["action"] == Action.COMMISSION
    assert world.event_count() == 0


def test_a_nonce_is_never_accepted_twice(world: World) -> None:
    farm = world["farm"]
    world.submit(world.event(Action.COMMISSION, farm, nonce=7), farm)
    other = world.event(Action.COMMISSION, farm, lot_id("other-lot"), nonce=7)

    with pytest.raises(NonceUsedError):
        world.submit(other, farm)
    assert world.batch(lot_id("other-lot")) is None


def test_custody_moves_only_as_the_rules_allow(world: World) -> None:
    world.commission()
    with pytest.raises(NotCustodianError):
        world.ship(LOT, "carrier", "shop")
    with pytest.raises(InvalidReceiverError):
        world.ship(LOT, "farm", "auditor")
    world.ship(LOT, "farm", "carrier")
    with pytest.raises(NotReceiverError):
        world.receive(LOT, "shop")
    world.receive(LOT, "carrier")

    batch = world.batch()
    assert (batch.custodian_id, batch.status, batch.receiver_id) == (3, BatchStatus.ACTIVE, 0)  # type: ignore[attr-defined]


# ----- parties outside the network (docs/contracts.md) -----

#: A GTIN under company prefix 4012345, which nobody in these tests holds.
FOREIGN_GTIN = "040123450000" + "1"
FOREIGN_GTIN += str(gtin_check_digit(FOREIGN_GTIN))


def test_a_lot_shipped_out_of_the_network_and_back_keeps_its_producer(world: World) -> None:
    world.commission()
    world.ship(LOT, "farm", "carrier")
    world.receive(LOT, "carrier")
    out = world.event(Action.SHIP, world["carrier"], LOT)  # counterparty zero: outside
    world.submit(out, world["carrier"])
    exported = world.batch()
    assert (exported.status, exported.custodian_id, exported.receiver_id) == (  # type: ignore[attr-defined]
        BatchStatus.EXPORTED,
        3,
        0,
    )
    with pytest.raises(InvalidStatusError):
        world.ship(LOT, "carrier", "shop")

    world.receive(LOT, "shop")  # anyone with custody receives it back, on the export's head

    back = world.batch()
    assert (back.status, back.custodian_id, back.producer_id) == (BatchStatus.ACTIVE, 4, 1)  # type: ignore[attr-defined]


def test_a_lot_never_seen_is_adopted_with_its_identifier_and_no_known_producer(
    world: World,
) -> None:
    imported = lot_id("IMPORT-1", FOREIGN_GTIN)
    received = world.receive(imported, "shop")  # no previous event: from outside

    batch = world.batch(imported)
    assert batch is not None
    assert (batch.status, batch.custodian_id, batch.producer_id, batch.head) == (  # type: ignore[attr-defined]
        BatchStatus.ACTIVE,
        4,
        0,
        received,
    )
    assert batch.identifier == KNOWN[imported]  # type: ignore[attr-defined]
    world.ship(imported, "shop", "carrier")  # and it moves like any other lot


def test_an_adoption_is_refused_as_the_contract_refuses_it_and_nothing_stored(
    world: World,
) -> None:
    shop = world["shop"]
    before = world.event_count()
    farms = lot_id("FARM-OWN")  # under the farm's licence of 9506000
    with pytest.raises(LicensedElsewhereError) as elsewhere:
        world.receive(farms, "shop")
    assert elsewhere.value.details == {"batchId": farms, "holder": 1}

    bare = world.event(Action.RECEIVE, shop, lot_id("IMPORT-2", FOREIGN_GTIN))
    with pytest.raises(UnknownBatchError):  # without its identifier: a receipt of nothing
        world.ingest.submit(world.sign(bare, shop, identifiers=()))

    world.commission()
    with pytest.raises(BatchInNetworkError) as held:  # named as never seen, but held here
        world.submit(world.event(Action.RECEIVE, shop, LOT, prev_event_hash=bytes(32)), shop)
    assert held.value.details["status"] == int(BatchStatus.ACTIVE)

    assert world.event_count() == before + 1
    assert world.batch(farms) is None
    assert world.batch().custodian_id == 1  # type: ignore[attr-defined]
    world.receive(farms, "farm")  # the brand owner itself may bring its own lot in


def test_a_fork_of_the_hash_chain_is_refused(world: World) -> None:
    created = world.commission()
    world.ship(LOT, "farm", "carrier")
    stale = world.event(
        Action.SHIP, world["farm"], LOT, prev_event_hash=created, counterparty=world["shop"].address
    )

    with pytest.raises(HeadMismatchError) as raised:
        world.submit(stale, world["farm"])
    assert raised.value.details["given"] == created


def test_transformation_consumes_inputs_and_links_outputs(world: World) -> None:
    milk, cream = lot_id("milk"), lot_id("cream")
    cheese = lot_id("cheese", PROCESSOR_GTIN)
    for lot in (milk, cream):
        world.commission(lot)
        world.ship(lot, "farm", "processor")
        world.receive(lot, "processor")
    event = world.event(
        Action.TRANSFORM,
        world["processor"],
        bytes(32),
        prev_event_hash=bytes(32),
        inputs=(milk, cream),
        input_prev_hashes=(world.heads[milk], world.heads[cream]),
        outputs=(cheese,),
        product=keccak(b"cheese gtin"),
        quantity=10,
    )

    event_hash = world.submit(event, world["processor"])

    assert world.batch(milk).status is BatchStatus.CONSUMED  # type: ignore[attr-defined]
    assert world.batch(cheese).producer_id == 2  # type: ignore[attr-defined]
    with world.store.read() as conn:
        hashes = [row.record.event_hash for row in world.store.events.of_batches(conn, [milk])]
    assert hashes[-1] == event_hash
    with pytest.raises(InvalidStatusError):
        world.ship(milk, "processor", "carrier")


def test_recall_stops_movement_and_only_producer_or_regulator_recall(world: World) -> None:
    world.commission()
    with pytest.raises(NotRecallerError):
        world.submit(world.event(Action.RECALL, world["carrier"]), world["carrier"])
    world.submit(world.event(Action.RECALL, world["regulator"]), world["regulator"])

    with pytest.raises(BatchRecalledError):
        world.ship(LOT, "farm", "carrier")
    assert world.batch().status is BatchStatus.RECALLED  # type: ignore[attr-defined]


def test_observation_attaches_without_advancing_the_head(world: World) -> None:
    created = world.commission()
    observe = world.event(Action.OBSERVE, world["auditor"])

    world.ingest.submit(world.sign(observe, world["auditor"]))

    assert world.batch().head == created  # type: ignore[attr-defined]
    with pytest.raises(UnknownBatchError):
        world.submit(
            world.event(Action.OBSERVE, world["auditor"], keccak(b"nope")), world["auditor"]
        )


def test_payload_must_hash_to_payload_hash_and_is_kept_canonical(world: World) -> None:
    payload = {"temperature": {"value": 4.5, "unit": "CEL"}, "sensor": "T-100"}
    event = world.event(Action.COMMISSION, world["farm"], payload_hash=payload_hash(payload))
    document = submission_document(world.sign(event, world["farm"]))
    document["payload"] = payload
    accepted = world.ingest.submit(parse_submission(document))
    with world.store.read() as conn:
        row = world.store.events.get(conn, accepted.event_hash)
    assert row is not None
    assert row.payload == b'{"sensor":"T-100","temperature":{"unit":"CEL","value":4.5}}'

    document["payload"] = {**payload, "sensor": "T-101"}
    with pytest.raises(PayloadMismatchError):
        parse_submission(document)


def test_identifiers_name_the_event_batches(world: World) -> None:
    event = world.event(Action.COMMISSION, world["farm"])
    spelled = "urn:epc:class:lgtin:9506000.013435.ABC1"

    world.ingest.submit(world.sign(event, world["farm"], identifiers=(spelled,)))

    with world.store.read() as conn:
        found = world.store.batches.by_identifier(conn, LOT_URI)
    assert found is not None
    assert found.batch_id == LOT
    other = world.event(Action.COMMISSION, world["farm"], keccak(b"x"))
    with pytest.raises(InvalidEventError):
        world.ingest.submit(world.sign(other, world["farm"], identifiers=(LOT_URI,)))
    bad_check_digit = "https://id.gs1.org/01/09506000134353/10/ABC1"
    results = world.ingest.submit_many(
        [world.sign(other, world["farm"], identifiers=(bad_check_digit,))]
    )
    assert isinstance(results[0].error, InvalidEventError)
    assert "check digit" in str(results[0].error)


def test_bulk_accepts_the_good_reports_the_bad_and_writes_nothing_of_them(world: World) -> None:
    farm, carrier = world["farm"], world["carrier"]
    first = world.event(Action.COMMISSION, farm)
    ship = world.event(
        Action.SHIP, farm, prev_event_hash=first.digest(DOMAIN), counterparty=carrier.address
    )
    by_carrier = world.event(Action.COMMISSION, carrier, lot_id("lot-2"))
    again = world.event(Action.COMMISSION, farm)  # the same batch id again
    broken = world.sign(world.event(Action.COMMISSION, farm, lot_id("lot-3")), farm)
    broken = replace(broken, signature=broken.signature[:64] + b"\x05")

    results = world.ingest.submit_many(
        [
            world.sign(first, farm),
            world.sign(ship, farm),
            world.sign(by_carrier, carrier),
            world.sign(again, farm),
            broken,
        ]
    )

    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
    ]
    assert isinstance(results[2].error, MissingRoleError)
    assert isinstance(results[3].error, BatchExistsError)
    assert isinstance(results[4].error, InvalidSignatureError)
    assert world.event_count() == 2
    assert world.batch().status is BatchStatus.IN_TRANSIT  # type: ignore[attr-defined]
    assert world.batch(lot_id("lot-2")) is None


def test_concurrent_writers_never_both_create_a_batch(world: World) -> None:
    farm = world["farm"]
    events = [world.sign(world.event(Action.COMMISSION, farm), farm) for _ in range(4)]
    results: list[Outcome] = []
    barrier = threading.Barrier(len(events))

    def submit(signed: SignedEvent) -> None:
        barrier.wait()
        results.append(world.ingest.submit_many([signed])[0].outcome)

    threads = [threading.Thread(target=submit, args=(s,)) for s in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == sorted([Outcome.ACCEPTED] + [Outcome.REJECTED] * 3)
    assert world.event_count() == 1


def test_a_new_batch_without_its_identifier_is_refused_and_nothing_stored(world: World) -> None:
    """A bare batch id names no prefix, so the contract could never let it be created:
    ingest refuses it first (invalid-identifier-proof)."""
    farm = world["farm"]
    bare = keccak(b"a lot with no identifier")
    commission = world.sign(world.event(Action.COMMISSION, farm, bare), farm)

    with pytest.raises(InvalidIdentifierProofError) as refused:
        world.ingest.submit(commission)

    assert refused.value.details == {"batchId": "0x" + bare.hex()}
    assert world.batch(bare) is None


# ----- identifier authority: the licence mirror, before the chain -----


def test_a_batch_under_a_prefix_the_signer_does_not_hold_is_refused_and_not_stored(
    world: World,
) -> None:
    grower = world["grower"]
    before = world.event_count()

    with pytest.raises(UnlicensedIdentifierError) as raised:
        world.submit(world.event(Action.COMMISSION, grower, lot_id("grown")), grower)

    assert type(raised.value) is UnlicensedIdentifierError  # the contract's own refusal
    assert raised.value.details == {"batchId": lot_id("grown"), "participant": 7}
    assert world.batch(lot_id("grown")) is None
    assert world.event_count() == before


def test_a_licence_not_valid_at_the_mirror_head_is_refused_as_the_chain_would(
    world: World,
) -> None:
    world.license("grower", "9506002", valid_from=HEAD + 5)  # not yet
    world.license("grower", "9506003", valid_from=1, valid_until=HEAD)  # over
    gtins = [f"0{prefix}00001" for prefix in ("9506002", "9506003")]
    lots = [lot_id("later", g + str(gtin_check_digit(g))) for g in gtins[:1]]
    lots += [lot_id("gone", g + str(gtin_check_digit(g))) for g in gtins[1:]]

    for lot, valid in zip(lots, [(HEAD + 5, 0), (1, HEAD)], strict=True):
        with pytest.raises(LicenceNotValidError) as raised:
            world.submit(world.event(Action.COMMISSION, world["grower"], lot), world["grower"])
        assert (raised.value.details["validFrom"], raised.value.details["validUntil"]) == valid
        assert world.batch(lot) is None


def test_revoked_then_refused(world: World) -> None:
    world.license("grower", "88.7")
    first, second = "88.7.1/first", "88.7.1/second"
    for text in (first, second):  # remembered for World.sign, as lot_id does
        KNOWN[keccak(text.encode())] = text

    world.commission(keccak(first.encode()), "grower")  # under a dot-ancestor of 88.7.1
    world.revoke("grower", "88.7", block=HEAD)
    with pytest.raises(LicenceNotValidError):
        world.commission(keccak(second.encode()), "grower")

    assert world.batch(keccak(first.encode())) is not None
    assert world.batch(keccak(second.encode())) is None


def test_a_transform_output_under_another_participants_prefix_is_refused(world: World) -> None:
    milk = lot_id("milk-2")
    world.commission(milk)
    world.ship(milk, "farm", "processor")
    world.receive(milk, "processor")
    head = world.heads[milk]
    event = world.event(
        Action.TRANSFORM,
        world["processor"],
        bytes(32),
        inputs=(milk,),
        input_prev_hashes=(head,),
        outputs=(lot_id("butter", PROCESSOR_GTIN), lot_id("whey")),  # whey: the farm's prefix
        product=keccak(b"butter gtin"),
        quantity=5,
    )

    with pytest.raises(UnlicensedIdentifierError) as raised:
        world.submit(event, world["processor"])

    assert raised.value.details["batchId"] == lot_id("whey")
    assert world.batch(lot_id("butter", PROCESSOR_GTIN)) is None
    state = world.batch(milk)
    assert state is not None
    assert state.head == head  # type: ignore[attr-defined]


def test_a_bulk_refuses_the_unlicensed_and_accepts_the_rest(world: World) -> None:
    farm, grower = world["farm"], world["grower"]
    good = world.sign(world.event(Action.COMMISSION, farm, lot_id("bulk-1")), farm)
    bad = world.sign(world.event(Action.COMMISSION, grower, lot_id("bulk-2")), grower)

    results = world.ingest.submit_many([good, bad])

    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED]
    assert isinstance(results[1].error, UnlicensedIdentifierError)
    assert world.batch(lot_id("bulk-2")) is None


def test_a_missing_identifier_is_judged_where_the_contract_judges_it(world: World) -> None:
    # The contract recovers the signer and checks it before the identifier proof: a
    # forged or unknown signature, or a batch that exists, is refused as such even when
    # the new batch has no identifier (the monitor counts forged signatures by this).
    bare = world.event(Action.COMMISSION, world["farm"], keccak(b"bare lot"))
    signed = world.sign(bare, world["farm"])
    forged = replace(signed, signature=signed.signature[:64] + b"\x05")  # recovers to nobody
    stranger = Party(99, os.urandom(32), Role.PRODUCER)
    world.commission()

    results = world.ingest.submit_many(
        [
            forged,
            world.sign(bare, stranger, identifiers=()),
            world.sign(
                world.event(Action.COMMISSION, world["farm"]), world["farm"], identifiers=()
            ),
            world.sign(bare, world["farm"], identifiers=()),
        ]
    )

    assert [r.error.code if r.error else None for r in results] == [
        "invalid-signature",
        "unknown-signer",
        "batch-exists",
        "invalid-identifier-proof",
    ]
    assert results[3].signer == world["farm"].address  # refused after its signer was known
