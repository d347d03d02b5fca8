"""The store's participant mirror follows ParticipantRegistry, history included."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.chain.registry import ParticipantRegistryClient
from node.events.typed_data import Role
from node.participants.sync import sync_participants
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

    assert applied == 5 + 5  # the fixture's five participants, then this one's five changes
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
