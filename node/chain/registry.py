"""ParticipantRegistry on any chain: admin transactions (participants, the identifier
authority's ranges and licences, the network's nodes), and its history read from logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from node.chain.deploy import Deployment, contract
from node.chain.text import chain_text, raw_strings
from node.chain.transact import Sender, send_transaction
from node.events.identifiers import Licence as Licence  # re-exported: its old home
from node.events.identifiers import PrefixKind, prefix_key, prefix_kind
from node.events.typed_data import Role


class ChangeKind(StrEnum):
    REGISTERED = "registered"
    ROLES_CHANGED = "roles-changed"
    SUSPENDED = "suspended"
    REACTIVATED = "reactivated"
    KEY_ROTATED = "key-rotated"
    LICENSED = "licensed"  # a prefix licensed to the participant
    REVOKED = "revoked"  # the participant's licence of a prefix revoked


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
    prefix: str | None = None  # REGISTERED: its prefix; LICENSED, REVOKED: the prefix
    prefix_kind: PrefixKind | None = None  # LICENSED, REVOKED
    valid_from: int | None = None  # LICENSED
    valid_until: int | None = None  # LICENSED, REVOKED (REVOKED: the revocation's block)


_EVENTS = {
    "ParticipantRegistered": ChangeKind.REGISTERED,
    "ParticipantRolesChanged": ChangeKind.ROLES_CHANGED,
    "ParticipantSuspended": ChangeKind.SUSPENDED,
    "ParticipantReactivated": ChangeKind.REACTIVATED,
    "KeyRotated": ChangeKind.KEY_ROTATED,
    "PrefixLicensed": ChangeKind.LICENSED,
    "PrefixRevoked": ChangeKind.REVOKED,
}


@dataclass(frozen=True, slots=True)
class Range:
    """A prefix range delegated to a node's registrar ("": the whole kind)."""

    kind: PrefixKind
    prefix: str


@dataclass(frozen=True, slots=True)
class NetworkNode:
    """A node of the network as the registry holds it (docs/network.md): ``operator`` is
    its registrar, ``url`` its public API base, ``ranges`` the ranges delegated to it."""

    id: int
    operator: ChecksumAddress
    url: str
    ranges: tuple[Range, ...]

    @classmethod
    def from_abi(cls, value: Any) -> NetworkNode:
        node_id, operator, url, ranges = value
        return cls(
            int(node_id),
            Web3.to_checksum_address(operator),
            str(url),
            tuple(Range(PrefixKind(int(kind)), str(prefix)) for kind, prefix in ranges),
        )


class ParticipantRegistryClient:
    """Reads and (with the registrar's key) writes ParticipantRegistry."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.contract: Contract = contract(
            w3, "ParticipantRegistry", deployment.participant_registry
        )

    def register(
        self,
        sender: Sender,
        *,
        key: ChecksumAddress,
        name: str,
        roles: Role,
        prefix: str,
        licences: Sequence[str] = (),
    ) -> int:
        """Register a participant of the sender's node, licensed ``prefix`` (if not empty)
        and each of ``licences`` from this block on; returns its id."""
        receipt = send_transaction(
            self.w3, self.contract.functions.register(key, name, int(roles), prefix), sender
        )
        # The receipt also holds the PrefixLicensed of a registration prefix.
        registered = self.contract.events.ParticipantRegistered()
        (log,) = registered.process_receipt(receipt, errors=DISCARD)
        participant_id = int(log.args.id)
        for extra in licences:
            self.license(sender, participant_id, kind=prefix_kind(extra), prefix=extra)
        return participant_id

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

    # ----- identifier authority -----

    def delegate(
        self, sender: Sender, *, registrar: ChecksumAddress, kind: PrefixKind, prefix: str
    ) -> None:
        """Delegate range ``prefix`` of ``kind`` ("": the whole kind) to a registrar (root)."""
        send_transaction(
            self.w3, self.contract.functions.delegate(registrar, int(kind), prefix), sender
        )

    def withdraw(self, sender: Sender, *, kind: PrefixKind, prefix: str) -> None:
        """Withdraw range ``prefix`` of ``kind`` from its registrar (root)."""
        send_transaction(self.w3, self.contract.functions.withdraw(int(kind), prefix), sender)

    def license(
        self,
        sender: Sender,
        participant_id: int,
        *,
        kind: PrefixKind,
        prefix: str,
        valid_from: int = 0,
        valid_until: int = 0,
    ) -> None:
        """License ``prefix`` to a participant of the sender's node (0: from this block; no end)."""
        send_transaction(
            self.w3,
            self.contract.functions.license(
                participant_id, int(kind), prefix, valid_from, valid_until
            ),
            sender,
        )

    def revoke(self, sender: Sender, *, kind: PrefixKind, prefix: str) -> None:
        send_transaction(self.w3, self.contract.functions.revoke(int(kind), prefix), sender)

    def current_licence(self, kind: PrefixKind, prefix: str) -> Licence:
        """The latest licence of ``prefix`` (holder 0 when it was never licensed)."""
        value = self.contract.functions.currentLicence(prefix_key(kind, prefix)).call()
        return Licence.from_abi(value)

    def licence_at(self, kind: PrefixKind, prefix: str, block: int) -> Licence:
        """The licence of ``prefix`` valid at ``block`` (holder 0 when none was)."""
        return Licence.from_abi(self.contract.functions.licenceAt(int(kind), prefix, block).call())

    def licences(self, kind: PrefixKind, prefix: str) -> list[Licence]:
        """Every licence of ``prefix``, oldest first."""
        return [
            Licence.from_abi(v) for v in self.contract.functions.licences(int(kind), prefix).call()
        ]

    # ----- the open-identifier policy -----

    def set_open_identifiers(
        self, sender: Sender, *, registrar: ChecksumAddress, allowed: bool
    ) -> None:
        """Allow (or stop allowing) identifiers of no prefix kind for the participants
        ``registrar`` registered, i.e. that node's (root only; docs/contracts.md)."""
        send_transaction(
            self.w3, self.contract.functions.setOpenIdentifiers(registrar, allowed), sender
        )

    def open_identifiers(self, participant_id: int) -> bool:
        """Whether participant ``participant_id``'s node allows open identifiers, now."""
        return bool(self.contract.functions.openIdentifiers(participant_id).call())

    # ----- the node registry -----

    def register_node(self, sender: Sender, *, registrar: ChecksumAddress, url: str) -> int:
        """Register the node operated by ``registrar`` at ``url`` (root); returns its id.
        The registrar receives REGISTRAR_ROLE."""
        receipt = send_transaction(
            self.w3, self.contract.functions.registerNode(registrar, url), sender
        )
        (log,) = self.contract.events.NodeRegistered().process_receipt(receipt, errors=DISCARD)
        return int(log.args.id)

    def set_node_url(self, sender: Sender, node_id: int, url: str) -> None:
        """Move node ``node_id`` to ``url`` (its operator, or the root)."""
        send_transaction(self.w3, self.contract.functions.setNodeUrl(node_id, url), sender)

    def nodes(self) -> list[NetworkNode]:
        """Every node of the network, by id."""
        count = int(self.contract.functions.nodeCount().call())
        return [self.node(node_id) for node_id in range(1, count + 1)]

    def node(self, node_id: int) -> NetworkNode:
        """Node ``node_id`` (a contract error when there is none)."""
        return NetworkNode.from_abi(self.contract.functions.node(node_id).call())

    def node_of(self, registrar: ChecksumAddress) -> int:
        """The id of the node ``registrar`` operates (0: none)."""
        return int(self.contract.functions.nodeOf(registrar).call())

    def key_participant(self, key: ChecksumAddress) -> int:
        """The id of the participant this key was ever registered for (0: never used)."""
        record = self.contract.functions.keyRecord(key).call()
        return int(record[0])

    def changes(self, from_block: int, to_block: int) -> list[ParticipantChange]:
        """Every participant change in blocks ``from_block`` .. ``to_block``, in chain order
        (licences granted and revoked included)."""
        found: list[ParticipantChange] = []
        for event_name, kind in _EVENTS.items():
            event = getattr(self.contract.events, event_name)()
            for log in self._logs(event.abi, event.topic, from_block, to_block):
                found.append(_change(kind, log))
        found.sort(key=lambda c: (c.block, c.log_index))
        return found

    def _logs(
        self, abi: dict[str, Any], topic: str, from_block: int, to_block: int
    ) -> list[dict[str, Any]]:
        """The logs of the event ``abi`` (``topic``: its signature's hash) in the blocks
        given, each with its ``args``; a ``string`` argument as its raw bytes
        (node.chain.text: web3's decoder fails on a name that is not UTF-8)."""
        logs = self.w3.eth.get_logs(
            {
                "address": self.contract.address,
                "fromBlock": from_block,
                "toBlock": to_block,
                "topics": [HexBytes(topic).to_0x_hex()],  # as text: every backend takes it
            }
        )
        inputs = abi["inputs"]
        indexed = [i for i in inputs if i["indexed"]]
        stored = [i for i in inputs if not i["indexed"]]
        found = []
        for log in logs:
            args: dict[str, Any] = {}
            for item, value in zip(indexed, log["topics"][1:], strict=True):
                (args[item["name"]],) = self.w3.codec.decode([item["type"]], bytes(value))
            data = self.w3.codec.decode(
                [raw_strings(i["type"]) for i in stored], bytes(log["data"])
            )
            args |= {item["name"]: value for item, value in zip(stored, data, strict=True)}
            found.append(
                {"args": args, "blockNumber": log["blockNumber"], "logIndex": log["logIndex"]}
            )
        return found


def _change(kind: ChangeKind, log: Any) -> ParticipantChange:
    args = log["args"]
    base: dict[str, Any] = {
        "kind": kind,
        "block": int(log["blockNumber"]),
        "log_index": int(log["logIndex"]),
        "participant_id": int(args["holder" if "holder" in args else "id"]),
    }
    if kind is ChangeKind.REGISTERED:
        base |= {
            "key": _address(args["key"]),
            "roles": int(args["roles"]),
            "name": chain_text(args["name"]),
            "prefix": chain_text(args["prefix"]),
        }
    elif kind is ChangeKind.ROLES_CHANGED:
        base["roles"] = int(args["roles"])
    elif kind is ChangeKind.KEY_ROTATED:
        base |= {"key": _address(args["newKey"]), "old_key": _address(args["oldKey"])}
    elif kind in (ChangeKind.LICENSED, ChangeKind.REVOKED):
        base |= {
            "prefix": chain_text(args["prefix"]),
            "prefix_kind": PrefixKind(int(args["kind"])),
            "valid_until": int(args["validUntil"]),
        }
        if kind is ChangeKind.LICENSED:
            base["valid_from"] = int(args["validFrom"])
    return ParticipantChange(**base)


def _address(value: str) -> bytes:
    return bytes.fromhex(value[2:])
