"""Read-only views of the three registries, for verifiers: nothing here sends a transaction.

A :class:`ChainReader` answers the questions a proof check asks of the chain — is this
root anchored and when, whose key was this at block N and what could it do, what did a
commit transaction accept, where does a batch stand now — and remembers each answer for
its lifetime, so verifying a hundred events signed by five keys in three windows costs a
handful of calls, not hundreds. Open a new reader to see a newer chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.logs import DISCARD

from node.chain.deploy import contract
from node.events.typed_data import BatchStatus, Role

#: A view reverted: web3 raises ContractLogicError from a JSON-RPC node, eth-tester
#: (the embedded chain) TransactionFailed.
_REVERTED = (ContractLogicError, TransactionFailed)


@dataclass(frozen=True, slots=True)
class Contracts:
    """Where the registries are; a bundle names them, a data directory records them."""

    participant_registry: ChecksumAddress
    batch_registry: ChecksumAddress
    anchor_registry: ChecksumAddress


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    first_seq: int
    event_count: int
    block_number: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Whose ``key`` is: participant 0 when it was never registered."""

    participant_id: int
    valid_from: int
    valid_until: int  # 0 while the key is current


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    participant_id: int
    key: bytes
    roles: Role
    active: bool
    name: str
    prefix: str


@dataclass(frozen=True, slots=True)
class ChainBatch:
    producer_id: int
    custodian_id: int
    receiver_id: int
    status: BatchStatus
    head: bytes


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What one commit transaction did to the events it relayed."""

    block_number: int
    succeeded: bool
    accepted: frozenset[bytes]
    rejected: dict[bytes, bytes]  # event hash -> ABI-encoded custom error


class ChainReader:
    """Cached read-only calls to the registries at ``contracts`` on ``w3``."""

    def __init__(self, w3: Web3, contracts: Contracts) -> None:
        self.w3 = w3
        self.contracts = contracts
        self.participants: Contract = contract(
            w3, "ParticipantRegistry", contracts.participant_registry
        )
        self.batches: Contract = contract(w3, "BatchRegistry", contracts.batch_registry)
        self.anchors: Contract = contract(w3, "AnchorRegistry", contracts.anchor_registry)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _cached(self, key: tuple[Any, ...], fetch: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def chain_id(self) -> int:
        return int(self._cached(("chain_id",), lambda: self.w3.eth.chain_id))

    def head(self) -> int:
        """The latest block number (read once per reader, like every other answer)."""
        return int(self._cached(("head",), lambda: self.w3.eth.block_number))

    def has_code(self, address: ChecksumAddress) -> bool:
        return bool(self._cached(("code", address), lambda: len(self.w3.eth.get_code(address))))

    def anchor(self, root: bytes) -> AnchorInfo | None:
        """When and for which sequence numbers ``root`` was anchored; None if never."""

        def fetch() -> AnchorInfo | None:
            try:
                first, count, block, timestamp = self.anchors.functions.anchorOf(root).call()
            except _REVERTED:
                return None  # AnchorRegistryUnknownRoot
            return AnchorInfo(int(first), int(count), int(block), int(timestamp))

        result: AnchorInfo | None = self._cached(("anchor", root), fetch)
        return result

    def key(self, key: bytes) -> KeyInfo:
        def fetch() -> KeyInfo:
            pid, valid_from, valid_until = self.participants.functions.keyRecord(
                Web3.to_checksum_address(key)
            ).call()
            return KeyInfo(int(pid), int(valid_from), int(valid_until))

        result: KeyInfo = self._cached(("key", key), fetch)
        return result

    def status_at(self, participant_id: int, block: int) -> tuple[Role, bool]:
        """The participant's roles and whether it was active, at the end of ``block``."""

        def fetch() -> tuple[Role, bool]:
            roles, active = self.participants.functions.statusAt(participant_id, block).call()
            return Role(roles), bool(active)

        result: tuple[Role, bool] = self._cached(("status", participant_id, block), fetch)
        return result

    def participant(self, participant_id: int) -> ParticipantInfo | None:
        def fetch() -> ParticipantInfo | None:
            try:
                pid, key, roles, active, name, prefix = self.participants.functions.participant(
                    participant_id
                ).call()
            except _REVERTED:
                return None
            return ParticipantInfo(
                int(pid), bytes.fromhex(key[2:]), Role(roles), bool(active), name, prefix
            )

        result: ParticipantInfo | None = self._cached(("participant", participant_id), fetch)
        return result

    def batch(self, batch_id: bytes) -> ChainBatch:
        def fetch() -> ChainBatch:
            producer, custodian, receiver, status, head = self.batches.functions.batch(
                batch_id
            ).call()
            return ChainBatch(
                int(producer), int(custodian), int(receiver), BatchStatus(status), bytes(head)
            )

        result: ChainBatch = self._cached(("batch", batch_id), fetch)
        return result

    def commit_outcome(self, tx_hash: bytes) -> CommitOutcome | None:
        """What the commit ``tx_hash`` accepted and rejected; None if no such transaction."""

        def fetch() -> CommitOutcome | None:
            try:
                receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
            if receipt["to"] is None or Web3.to_checksum_address(receipt["to"]) != (
                self.contracts.batch_registry
            ):
                return CommitOutcome(int(receipt["blockNumber"]), False, frozenset(), {})
            events = self.batches.events
            accepted = frozenset(
                bytes(log.args.eventHash)
                for log in events.EventAccepted().process_receipt(receipt, errors=DISCARD)
            )
            rejected = {
                bytes(log.args.eventHash): bytes(log.args.reason)
                for log in events.EventRejected().process_receipt(receipt, errors=DISCARD)
            }
            return CommitOutcome(
                int(receipt["blockNumber"]), receipt["status"] == 1, accepted, rejected
            )

        result: CommitOutcome | None = self._cached(("commit", tx_hash), fetch)
        return result
