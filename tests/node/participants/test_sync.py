"""The store's participant mirror follows ParticipantRegistry, history included."""

from __future__ import annotations

from itertools import pairwise

import pytest
from alembic import command
from alembic.config import Config
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import text
from web3 import Web3

from node.chain.registry import ParticipantChange, ParticipantRegistryClient
from node.events.identifiers import Licence, PrefixKind
from node.events.typed_data import Role
from node.participants.sync import sync_participants
from node.store.engine import MIGRATIONS, make_engine
from node.store.store import Store
from tests.conftest import Chain


def test_mirror_follows_registrations_status_roles_and_rotation(chain: Chain, store: Store) -> None:
    client = ParticipantRegistryClient(chain.w3, chain.deployment)
    newcomer: LocalAccount = Account.create()
    pid = client.register(
        chain.admin, key=newcomer.address, name="Dairy Co", roles=Role.PROCESSOR, prefix="0614999"
    )
    registered_at = chain.w3.eth.block_number
    client.suspend(chain.admin, pid)
    client.reactivate(chain.admin, pid)
    client.set_roles(chain.admin, pid, Role.PROCESSOR | Role.RETAILER)
    rotated: LocalAccount = Account.create()
    client.rotate_key(chain.admin, pid, rotated.address)
    suspended_at = registered_at + 1

    applied = sync_participants(store=store, source=client, head=chain.w3.eth.block_number)
    again = sync_participants(store=store, source=client, head=chain.w3.eth.block_number)

    # The fixture's five participants and the licences of its three prefixes, then this
    # one's five changes and its prefix's licence.
    assert applied == 5 + 3 + 5 + 1
    assert again == 0
    with store.read() as conn:
        row = store.participants.get(conn, pid)
        signers = store.participants.signers(
            conn, [bytes.fromhex(a.address[2:]) for a in (newcomer, rotated)]
        )
        at_suspension = store.participants.status_at(conn, pid, suspended_at)
        at_registration = store.participants.status_at(conn, pid, registered_at)
    assert row is not None
    assert (row.name, row.prefix, row.active) == ("Dairy Co", "0614999", True)
    assert row.roles == Role.PROCESSOR | Role.RETAILER
    old, new = (signers[bytes.fromhex(a.address[2:])] for a in (newcomer, rotated))
    assert (old.current, new.current) == (False, True)
    assert old.participant_id == new.participant_id == pid
    assert at_suspension == (Role.PROCESSOR, False)
    assert at_registration == (Role.PROCESSOR, True)


def test_licence_mirror_follows_grants_revocations_and_history(chain: Chain, store: Store) -> None:
    client = ParticipantRegistryClient(chain.w3, chain.deployment)
    farm = chain.participants.functions.keyRecord(chain.keys["farm"].address).call()[0]
    shop = chain.participants.functions.keyRecord(chain.keys["shop"].address).call()[0]
    client.license(chain.admin, farm, kind=PrefixKind.GS1, prefix="9506000", valid_until=10**6)
    sync_participants(store=store, source=client, head=chain.w3.eth.block_number)
    client.revoke(chain.admin, kind=PrefixKind.GS1, prefix="9506000")
    client.license(chain.admin, shop, kind=PrefixKind.GS1, prefix="9506000")
    client.license(chain.admin, shop, kind=PrefixKind.HANDLE, prefix="88.7")
    head = chain.w3.eth.block_number
    sync_participants(store=store, source=client, head=head)
    sync_participants(store=store, source=client, head=head)  # nothing new: nothing changes

    with store.read() as conn:
        history = store.licences.of_prefix(conn, PrefixKind.GS1, "9506000")
        current = store.licences.current(
            conn, [(PrefixKind.GS1, "9506000"), (PrefixKind.GS1, "0614141"), (PrefixKind.GS1, "1")]
        )
        shops = store.licences.of_holder(conn, shop)
        holder_now = store.licences.holder_at(conn, PrefixKind.GS1, ["95060001", "9506000"], head)
    # The mirror says what the chain says, licence for licence.
    assert [r.licence for r in history] == client.licences(PrefixKind.GS1, "9506000")
    assert [r.revoked_block is not None for r in history] == [True, False]
    assert history[0].licence.holder == farm
    assert not history[0].licence.held
    assert current[(PrefixKind.GS1, "9506000")] == Licence(shop, head - 1, 0, True)
    assert current[(PrefixKind.GS1, "0614141")].holder == farm
    assert (PrefixKind.GS1, "1") not in current
    assert [(r.kind, r.prefix) for r in shops] == [
        (PrefixKind.HANDLE, "88.123.45"),
        (PrefixKind.GS1, "9506000"),
        (PrefixKind.HANDLE, "88.7"),
    ]
    assert holder_now == shop


def test_an_upgraded_store_reads_the_registry_again_and_keeps_its_licences(
    chain: Chain, store_url: str
) -> None:
    # A store of revision 0014 whose participants' mirror had read the chain to its head.
    head = chain.w3.eth.block_number
    engine = make_engine(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "0014")
        conn.execute(
            text("INSERT INTO sync_cursors (name, block) VALUES ('participants', :b)"), {"b": head}
        )
    engine.dispose()
    client = ParticipantRegistryClient(chain.w3, chain.deployment)

    upgraded = Store.open(store_url)
    try:
        applied = sync_participants(store=upgraded, source=client, head=head)
    finally:
        upgraded.close()
    reopened = Store.open(store_url)  # a restart: the mirror stays, nothing is read twice
    try:
        again = sync_participants(store=reopened, source=client, head=head)
        with reopened.read() as conn:
            held = reopened.licences.of_prefix(conn, PrefixKind.HANDLE, "88.123.45")
    finally:
        reopened.close()

    assert (applied, again) == (5 + 3, 0)
    assert [(r.licence.held, r.block) for r in held] == [(True, r.licence.valid_from) for r in held]
    assert len(held) == 1


def test_the_chain_is_asked_outside_the_write_lock_and_a_sync_meanwhile_is_followed(
    chain: Chain, store: Store
) -> None:
    client = ParticipantRegistryClient(chain.w3, chain.deployment)
    head = chain.w3.eth.block_number
    store.writer_wait = 2.0  # had the chain been asked under the lock: busy in 2 s, no hang
    asked: list[tuple[int, int]] = []
    meanwhile: list[int] = []

    class SyncedMeanwhile:
        """The registry, with serve's sync loop running while the first question is
        asked."""

        def changes(self, from_block: int, to_block: int) -> list[ParticipantChange]:
            asked.append((from_block, to_block))
            if not meanwhile:
                meanwhile.append(sync_participants(store=store, source=client, head=head - 1))
            return client.changes(from_block, to_block)

    applied = sync_participants(store=store, source=SyncedMeanwhile(), head=head)
    again = sync_participants(store=store, source=client, head=head)

    # Asked again from where the other sync left the cursor; nothing applied twice.
    assert asked == [(0, head), (head, head)]
    assert meanwhile[0] + applied == 5 + 3
    assert again == 0
    with store.read() as conn:
        assert len(store.participants.all(conn)) == 5


def test_a_long_chain_is_read_in_spans_from_the_registrys_first_block(
    chain: Chain, store: Store
) -> None:
    # Providers cap eth_getLogs: one request from block 0 to a long chain's head fails
    # on every one of them, every second, forever.
    client = ParticipantRegistryClient(chain.w3, chain.deployment)
    head = chain.w3.eth.block_number
    first = chain.deployment.block_number
    asked: list[tuple[int, int]] = []

    class Asked:
        def changes(self, from_block: int, to_block: int) -> list[ParticipantChange]:
            asked.append((from_block, to_block))
            return client.changes(from_block, to_block)

    applied = sync_participants(store=store, source=Asked(), head=head, first_block=first, span=3)

    assert applied == 5 + 3  # the fixture's participants and licences, as in one request
    assert client.changes(0, first - 1) == []  # nothing of the registry before it
    assert asked[0][0] == first
    assert asked[-1][1] == head
    assert all(b - a + 1 <= 3 for a, b in asked)
    assert all(after[0] == before[1] + 1 for before, after in pairwise(asked))
    with store.read() as conn:
        assert store.participants.cursor(conn, "participants") == head
        assert len(store.participants.all(conn)) == 5


def register_raw(chain: Chain, name: bytes) -> int:
    """A participant registered with ``name`` as raw bytes, as any registrar may send a
    ``string`` the contract only counts the bytes of; its id."""
    selector = Web3.keccak(text="register(address,string,uint8,string)")[:4]
    key = Account.create().address
    arguments = encode(["address", "bytes", "uint8", "string"], [key, name, int(Role.RETAILER), ""])
    sent = chain.w3.eth.send_transaction(
        {"from": chain.admin, "to": chain.participants.address, "data": selector + arguments}
    )
    assert chain.w3.eth.wait_for_transaction_receipt(sent)["status"] == 1
    return int(chain.participants.functions.keyRecord(key).call()[0])


#: Names the contract takes (1..64 bytes) that are not text to store or show as they are,
#: and what the node makes of them (node.chain.text.chain_text).
HOSTILE_NAMES = [
    (b"Evil\x00Co", "EvilCo"),  # PostgreSQL refuses NUL in text
    (b"Evil\xff\xfeCo", "Evil\ufffd\ufffdCo"),  # not UTF-8: web3's decoder refuses it
    (b"Evil\x1b[2J\x7f\xc2\x85Co", "Evil[2JCo"),  # a terminal's escape, DEL, C1 NEL
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE_NAMES)
def test_a_name_that_is_not_text_neither_stops_the_sync_nor_is_stored_as_sent(
    chain: Chain, store: Store, raw: bytes, shown: str
) -> None:
    """One registrar's hostile name stopped every node's mirror for good (each sync
    failed on it, the cursor never moving past it): it is stored as the text the node
    makes of it, and the changes after it are mirrored."""
    client = ParticipantRegistryClient(chain.w3, chain.deployment)
    sync_participants(store=store, source=client, head=chain.w3.eth.block_number)
    hostile = register_raw(chain, raw)
    later = client.register(
        chain.admin, key=Account.create().address, name="Later Co", roles=Role.RETAILER, prefix=""
    )
    client.suspend(chain.admin, later)

    applied = sync_participants(store=store, source=client, head=chain.w3.eth.block_number)

    assert applied == 3
    with store.read() as conn:
        stored, after = store.participants.get(conn, hostile), store.participants.get(conn, later)
    assert stored is not None
    assert stored.name == shown
    assert after is not None
    assert after.active is False
