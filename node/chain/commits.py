"""BatchRegistry.commit on any chain: build and sign the transaction, send exactly those
bytes (again, after a crash), and read back what the contract accepted and rejected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD

from node.chain.deploy import Deployment, contract
from node.events.typed_data import BatchStatus, TraceEvent
from node.exceptions import ChainError

#: Gas the node allows one commit: well under a 30M block, room for ~400 operations.
COMMIT_GAS_LIMIT = 29_000_000


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    tx_hash: bytes


@dataclass(frozen=True, slots=True)
class CommitReceipt:
    """What a mined commit did: its block, and the fate of each relayed event."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    succeeded: bool
    accepted: frozenset[bytes]
    rejected: dict[bytes, bytes]  # event hash -> ABI-encoded custom error
    gas_used: int


class CommitClient:
    """The node's side of BatchRegistry and AnchorRegistry."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.batches: Contract = contract(w3, "BatchRegistry", deployment.batch_registry)
        self.anchors: Contract = contract(w3, "AnchorRegistry", deployment.anchor_registry)

    def next_sequence(self, node: str) -> int:
        return int(self.anchors.functions.nextSequence(Web3.to_checksum_address(node)).call())

    def batch_state(self, batch_id: bytes) -> tuple[int, int, int, BatchStatus, bytes]:
        producer, custodian, receiver, status, head = self.batches.functions.batch(batch_id).call()
        return int(producer), int(custodian), int(receiver), BatchStatus(status), bytes(head)

    def build_commit(
        self,
        node: LocalAccount,
        events: Sequence[tuple[TraceEvent, bytes]],
        *,
        root: bytes,
        first_seq: int,
        event_count: int,
    ) -> SignedTx:
        """Sign (without sending) the commit of ``events`` (event, signature) and a root."""
        signed_events = [
            (event.as_abi_tuple(), signature[64], signature[:32], signature[32:64])
            for event, signature in events
        ]
        call: Any = self.batches.functions.commit(signed_events, root, first_seq, event_count)
        params: dict[str, Any] = {
            "from": node.address,
            "nonce": self.w3.eth.get_transaction_count(node.address, "pending"),
            "gas": COMMIT_GAS_LIMIT,
        }
        # No dry run: it would execute every operation twice. A commit that reverts as a
        # whole is caught from its receipt and its window returned to the queue.
        tx = call.build_transaction(params)
        signed = node.sign_transaction(tx)
        return SignedTx(bytes(signed.raw_transaction), bytes(signed.hash))

    def send(self, tx: SignedTx) -> None:
        """Send ``tx``; sending the same bytes again is harmless (already known / mined)."""
        try:
            self.w3.eth.send_raw_transaction(tx.raw)
        except Exception as exc:
            if self.receipt(tx.tx_hash) is None and "known" not in str(exc).lower():
                raise ChainError(f"could not send commit 0x{tx.tx_hash.hex()}: {exc}") from exc

    def receipt(self, tx_hash: bytes) -> CommitReceipt | None:
        """The commit's receipt, or None while it is not mined."""
        try:
            receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        accepted = frozenset(
            bytes(log.args.eventHash)
            for log in self.batches.events.EventAccepted().process_receipt(receipt, errors=DISCARD)
        )
        rejected = {
            bytes(log.args.eventHash): bytes(log.args.reason)
            for log in self.batches.events.EventRejected().process_receipt(receipt, errors=DISCARD)
        }
        return CommitReceipt(
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]),
            block_hash=bytes(receipt["blockHash"]),
            succeeded=receipt["status"] == 1,
            accepted=accepted,
            rejected=rejected,
            gas_used=int(receipt["gasUsed"]),
        )

    def wait(self, tx_hash: bytes, *, timeout: float = 120) -> CommitReceipt:
        self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout)
        found = self.receipt(tx_hash)
        if found is None:
            raise ChainError(f"commit 0x{tx_hash.hex()} vanished after it was mined")
        return found
