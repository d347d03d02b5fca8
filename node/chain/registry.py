"""ParticipantRegistry on any chain: admin transactions, and its history read from logs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from node.chain.deploy import Deployment, contract
from node.chain.transact import Sender, send_transaction
from node.events.typed_data import Role


class ChangeKind(StrEnum):
    REGISTERED = "registered"
    ROLES_CHANGED = "roles-changed"
    SUSPENDED = "suspended"
    REACTIVATED = "reactivated"
    KEY_ROTATED = "key-rotated"


@dataclass(frozen=True, slots=True)
class ParticipantChange:
    """One change to a participant, in chain order (block, log index)."""

    kind: ChangeKind
    block: int
    log_index: int
    participant_id: int
    key: bytes | None = None  # REGISTERED: the key; KEY_ROTATED: the new key
    old_key: bytes | None = None
    roles: int | None = None
    name: str | None = None
    prefix: str | None = None


_EVENTS = {
    "ParticipantRegistered": ChangeKind.REGISTERED,
    "ParticipantRolesChanged": ChangeKind.ROLES_CHANGED,
    "ParticipantSuspended": ChangeKind.SUSPENDED,
    "ParticipantReactivated": ChangeKind.REACTIVATED,
    "KeyRotated": ChangeKind.KEY_ROTATED,
}


class ParticipantRegistryClient:
    """Reads and (with the registrar's key) writes ParticipantRegistry."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.contract: Contract = contract(
            w3, "ParticipantRegistry", deployment.participant_registry
        )

    def register(
        self, sender: Sender, *, key: ChecksumAddress, name: str, roles: Role, prefix: str
    ) -> int:
        """Register a participant; returns its id."""
        receipt = send_transaction(
            self.w3, self.contract.functions.register(key, name, int(roles), prefix), sender
        )
        (log,) = self.contract.events.ParticipantRegistered().process_receipt(receipt)
        return int(log.args.id)

    def set_roles(self, sender: Sender, participant_id: int, roles: Role) -> None:
        send_transaction(
            self.w3, self.contract.functions.setRoles(participant_id, int(roles)), sender
        )

    def suspend(self, sender: Sender, participant_id: int) -> None:
        send_transaction(self.w3, self.contract.functions.suspend(participant_id), sender)

    def reactivate(self, sender: Sender, participant_id: int) -> None:
        send_transaction(self.w3, self.contract.functions.reactivate(participant_id), sender)

    def rotate_key(self, sender: Sender, participant_id: int, new_key: ChecksumAddress) -> None:
        send_transaction(
            self.w3, self.contract.functions.rotateKey(participant_id, new_key), sender
        )

    def key_participant(self, key: ChecksumAddress) -> int:
        """The id of the participant this key was ever registered for (0: never used)."""
        record = self.contract.functions.keyRecord(key).call()
        return int(record[0])

    def changes(self, from_block: int, to_block: int) -> list[ParticipantChange]:
        """Every participant change in blocks ``from_block`` .. ``to_block``, in chain order."""
        found: list[ParticipantChange] = []
        for event_name, kind in _EVENTS.items():
            event = getattr(self.contract.events, event_name)()
            for log in event.get_logs(from_block=from_block, to_block=to_block):
                found.append(_change(kind, log))
        found.sort(key=lambda c: (c.block, c.log_index))
        return found


def _change(kind: ChangeKind, log: Any) -> ParticipantChange:
    args = log["args"]
    base: dict[str, Any] = {
        "kind": kind,
        "block": int(log["blockNumber"]),
        "log_index": int(log["logIndex"]),
        "participant_id": int(args["id"]),
    }
    if kind is ChangeKind.REGISTERED:
        base |= {
            "key": _address(args["key"]),
            "roles": int(args["roles"]),
            "name": str(args["name"]),
            "prefix": str(args["prefix"]),
        }
    elif kind is ChangeKind.ROLES_CHANGED:
        base["roles"] = int(args["roles"])
    elif kind is ChangeKind.KEY_ROTATED:
        base |= {"key": _address(args["newKey"]), "old_key": _address(args["oldKey"])}
    return ParticipantChange(**base)


def _address(value: str) -> bytes:
    return bytes.fromhex(value[2:])
