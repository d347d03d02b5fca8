"""Commit accepted events in windows: lifecycle operations relayed to BatchRegistry and
the window's Merkle root anchored, in one transaction; then every event ANCHORED with its
proof, or REJECTED with the contract's reason.

Crash safety: a window is prepared — events assigned their sequence numbers, tree
positions and proofs, and the *signed* transaction stored — in one database transaction
before anything is sent. Whatever happens after (killed before sending, after sending,
before storing the receipt), the next run finds the prepared window and either reads its
receipt or sends the very same bytes again: an event is never lost and never anchored
twice, and the contract's contiguous-sequence rule would refuse a second anchor anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from node.chain.commits import CommitClient, CommitReceipt, SignedTx
from node.events.batch import BatchState
from node.events.merkle import MerkleTree
from node.events.typed_data import Action, BatchStatus
from node.exceptions import ChainError
from node.store.store import Store, event_from_row

#: Lifecycle operations per transaction: ~67k gas each at most, under a 30M gas block.
MAX_OPERATIONS = 300


@dataclass(frozen=True, slots=True)
class CommitPolicy:
    """Commit every ``interval`` seconds or as soon as ``max_events`` wait, whichever first."""

    interval: float = 1.0
    max_events: int = 1000
    max_operations: int = MAX_OPERATIONS
    confirmations: int = 0


@dataclass(slots=True)
class WindowResult:
    window_id: int
    first_seq: int
    event_count: int
    root: bytes
    tx_hash: bytes
    block_number: int
    anchored: int
    rejected: int
    gas_used: int
    resumed: bool = False


@dataclass
class CommitWorker:
    store: Store
    client: CommitClient
    node: LocalAccount
    policy: CommitPolicy = field(default_factory=CommitPolicy)
    clock: Callable[[], float] = time.time
    #: Called after the window is prepared and before it is sent (tests use it to crash).
    before_send: Callable[[SignedTx], None] | None = None

    def commit_once(self) -> WindowResult | None:
        """Finish a prepared window if there is one, else commit the next; None when idle."""
        with self.store.read() as conn:
            prepared = self.store.prepared_window(conn)
        if prepared is not None:
            return self._resume(prepared)
        return self._commit_next()

    def run(self, stop: threading.Event) -> None:
        """Commit until ``stop`` is set: every ``interval`` or when ``max_events`` wait."""
        last = 0.0
        while not stop.is_set():
            with self.store.read() as conn:
                waiting = self.store.uncommitted_count(conn)
                prepared = self.store.prepared_window(conn) is not None
            due = time.monotonic() - last >= self.policy.interval
            if prepared or waiting >= self.policy.max_events or (waiting and due):
                self.commit_once()
                last = time.monotonic()
            else:
                stop.wait(min(0.05, self.policy.interval))

    # ----- one window -----

    def _commit_next(self) -> WindowResult | None:
        with self.store.read() as conn:
            rows = self.store.uncommitted_events(conn, self.policy.max_events)
        rows = self._within_gas(rows)
        if not rows:
            return None
        tree = MerkleTree([bytes(r["event_hash"]) for r in rows])
        first_seq = self.client.next_sequence(self.node.address)
        operations = [
            (event_from_row(r), bytes(r["signature"])) for r in rows if Action(r["action"]).on_chain
        ]
        tx = self.client.build_commit(
            self.node, operations, root=tree.root, first_seq=first_seq, event_count=len(rows)
        )
        members = [
            {"id": r["id"], "tree_index": tree.tree_index(i), "proof": b"".join(tree.proof(i))}
            for i, r in enumerate(rows)
        ]
        with self.store.write() as conn:
            window_id = self.store.create_window(
                conn,
                first_seq=first_seq,
                root=tree.root,
                raw_tx=tx.raw,
                tx_hash=tx.tx_hash,
                created_at=int(self.clock() * 1000),
                members=members,
            )
        if self.before_send is not None:
            self.before_send(tx)
        self.client.send(tx)
        receipt = self.client.wait(tx.tx_hash)
        return self._finish(window_id, first_seq, len(rows), tree.root, receipt, resumed=False)

    def _resume(self, window: dict[str, Any]) -> WindowResult | None:
        tx = SignedTx(bytes(window["raw_tx"]), bytes(window["tx_hash"]))
        receipt = self.client.receipt(tx.tx_hash)
        if receipt is None:
            if self.client.next_sequence(self.node.address) != window["first_seq"]:
                # Our sequence moved without this transaction: it can never be mined.
                self._abandon(window)
                return None
            try:
                self.client.send(tx)
                receipt = self.client.wait(tx.tx_hash)
            except ChainError:
                if self.client.receipt(tx.tx_hash) is None:
                    self._abandon(window)
                    return None
                raise
        return self._finish(
            window["id"],
            window["first_seq"],
            window["event_count"],
            bytes(window["root"]),
            receipt,
            resumed=True,
        )

    def _abandon(self, window: dict[str, Any]) -> None:
        with self.store.write() as conn:
            self.store.fail_window(conn, window["id"])

    def _finish(
        self,
        window_id: int,
        first_seq: int,
        count: int,
        root: bytes,
        receipt: CommitReceipt,
        *,
        resumed: bool,
    ) -> WindowResult:
        if not receipt.succeeded:
            with self.store.write() as conn:
                self.store.fail_window(conn, window_id)
            raise ChainError(
                f"commit 0x{receipt.tx_hash.hex()} reverted; its events will be retried"
            )
        self._wait_confirmations(receipt.block_number)
        with self.store.write() as conn:
            members = self.store.window_events(conn, window_id)
            touched = {
                b
                for m in members
                if bytes(m["event_hash"]) in receipt.rejected
                for b in event_from_row(m).batch_ids()
            }
            self.store.confirm_window(
                conn,
                window_id,
                block_number=receipt.block_number,
                block_hash=receipt.block_hash,
                rejected=receipt.rejected,
            )
            self._refresh_batches(conn, touched)
        return WindowResult(
            window_id=window_id,
            first_seq=first_seq,
            event_count=count,
            root=root,
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
            anchored=count - len(receipt.rejected),
            rejected=len(receipt.rejected),
            gas_used=receipt.gas_used,
            resumed=resumed,
        )

    def _refresh_batches(self, conn: Any, batch_ids: set[bytes]) -> None:
        """Replace the optimistic local view of batches a rejection touched with the chain's."""
        for batch_id in batch_ids:
            producer, custodian, receiver, status, head = self.client.batch_state(batch_id)
            if status is BatchStatus.NONE:
                self.store.delete_batch(conn, batch_id)
                continue
            self.store.replace_batch(
                conn,
                BatchState(batch_id, producer, custodian, receiver, status, head, b""),
            )

    def _wait_confirmations(self, block_number: int) -> None:
        wanted = block_number + self.policy.confirmations
        while self.client.w3.eth.block_number < wanted:
            time.sleep(0.2)

    def _within_gas(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        operations = 0
        for index, row in enumerate(rows):
            if Action(row["action"]).on_chain:
                operations += 1
                if operations > self.policy.max_operations:
                    return rows[:index]
        return rows
