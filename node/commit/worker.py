"""Commit accepted events in windows: lifecycle operations relayed to BatchRegistry and
the window's Merkle root anchored, in one transaction; then every event ANCHORED with its
proof, or REJECTED with the contract's reason.

Crash safety: a window is prepared — events assigned their sequence numbers, tree
positions and proofs, and the *signed* transaction stored — in one database transaction
before anything is sent. Whatever happens after (killed before sending, after sending,
before storing the receipt), the next run finds the prepared window and settles it.

Settling a window acts only on what the chain shows ``confirmations`` blocks deep:

- its receipt, in a block that is still canonical with that many blocks on top: the
  events are ANCHORED / REJECTED (or, if the whole transaction reverted, back in the
  queue);
- its nonce spent by another transaction (a replacement, a foreign transaction from the
  node key) and no receipt: it can never be mined, so the window is abandoned and its
  events go back in the queue, to be rebuilt at once;
- otherwise it may still be mined: the very same bytes are sent again whenever the node
  does not have them (dropped from the pool, reorged out, never sent), and after
  ``replace_after`` seconds a no-op transaction at the same nonce with higher fees is
  sent to take its place, so that a window priced out of the chain is rebuilt at
  today's fees.

An event is never lost and never anchored twice: one signed transaction per window, a
window given up only once its nonce can no longer carry it, and the contract's
contiguous-sequence rule refuses any second anchor of a sequence number anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Final

from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection
from web3.exceptions import ContractLogicError, Web3Exception

from node.chain.commits import CommitClient, CommitReceipt, Operation, SignedTx
from node.commit.custody import CustodyMode
from node.events.batch import BatchState
from node.events.merkle import MerkleTree
from node.events.typed_data import ZERO32, BatchStatus
from node.exceptions import (
    ChainError,
    CommitPendingError,
    CommitRevertedError,
    CommitTooLargeError,
)
from node.proofs.state import StateLeaf, replay, state_tree
from node.proofs.transitions import transition_tree, transitions
from node.runtime import Precedence
from node.store.records import EventRecord, WindowMember, WindowRecord
from node.store.store import Store
from node.webhooks.messages import enqueue_window, window_subscribers

#: Lifecycle operations per transaction: ~67k gas each at most, under a 30M gas block.
MAX_OPERATIONS: Final = 300
#: Windows abandoned in a row (their nonce taken each time) before commit_once gives up.
MAX_REBUILDS: Final = 3
#: The longest pause of ``run`` after a failed window, in seconds.
MAX_BACKOFF: Final = 30.0
#: Seconds between ``run``'s looks at the waiting events when it has nothing to commit.
LOOK: Final = 0.05

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommitPolicy:
    """Commit every ``interval`` seconds or as soon as ``max_events`` wait, whichever first;
    and as soon as the waiting events stop growing (none arrived since the worker's
    previous look, :data:`LOOK` seconds before), ``min_interval`` seconds at least after
    the last window: a pause in the stream (its end, a lone event) is anchored at once,
    not an ``interval`` later, while a steady stream is still taken in windows.

    ``confirmations``: blocks on top of a window's block before its events are ANCHORED.
    ``poll_interval``: seconds between looks at the chain while a window is not final.
    ``receipt_timeout``: seconds one ``commit_once`` waits for that before it raises
    CommitPendingError (the window stays prepared and is resumed).
    ``replace_after``: seconds a window's transaction may stay unmined before a no-op at
    its nonce, with higher fees, is sent to take its place.
    """

    interval: float = 1.0
    max_events: int = 1000
    min_interval: float = 0.25
    max_operations: int = MAX_OPERATIONS
    confirmations: int = 0
    poll_interval: float = 0.5
    receipt_timeout: float = 120.0
    replace_after: float = 120.0


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
    block_hash: bytes = b""


@dataclass
class CommitWorker:
    store: Store
    client: CommitClient
    node: LocalAccount
    policy: CommitPolicy = field(default_factory=CommitPolicy)
    clock: Callable[[], float] = time.time
    #: Called after the window is prepared and before it is sent (tests use it to crash).
    before_send: Callable[[SignedTx], None] | None = None
    #: Called on ``run``'s idle turns, where the node key may send a transaction of its own
    #: without racing a window for its nonce (the alert log's anchor, node.monitor.alertlog).
    idle: Callable[[], None] | None = None
    #: Run's windows go :meth:`~node.runtime.Precedence.first` of the process's deferring
    #: work (serve's commit process: the integrity monitor's passes); None: of none.
    precedence: Precedence | None = None
    #: The anchorState transactions sent for a window's state root (the first, then each
    #: replacement with higher fees), by window id.
    _state_tx: dict[int, list[SignedTx]] = field(default_factory=dict, init=False, repr=False)
    #: When the latest of them is replaced if it is still not mined (time.monotonic()).
    _state_replace_at: float = field(default=0.0, init=False, repr=False)

    def commit_once(self, stop: threading.Event | None = None) -> WindowResult | None:
        """Settle the prepared window if there is one, else commit the next; None when idle.

        Waits (at most ``receipt_timeout``, or until ``stop`` is set) for the window to be
        mined and confirmed; raises CommitPendingError if it is not by then, and
        CommitRevertedError if its transaction reverted as a whole.
        """
        stop = stop if stop is not None else threading.Event()
        for _ in range(MAX_REBUILDS):
            with self.store.read() as conn:
                window = self.store.windows.prepared(conn)
            resumed = window is not None
            if window is None:
                self._anchor_state(stop)  # the last window's, before another is anchored
                window = self._prepare()
                if window is None:
                    return None
                tx = _signed(window)
                if self.before_send is not None:
                    self.before_send(tx)
                self._send(window, tx)
            result = self._settle(window, resumed=resumed, stop=stop)
            if result is not None:
                try:
                    # Sent, not waited for: the next window (or an idle turn) settles it.
                    self._anchor_state(stop, wait=False)
                except (ChainError, Web3Exception, OSError) as exc:
                    # The window is final; its state root is sent before the next window.
                    log.warning(
                        "window %d: state root not anchored yet (%s)", result.window_id, exc
                    )
                return result
        raise ChainError(
            f"the node key's nonce was taken {MAX_REBUILDS} times in a row: is another "
            "process sending from the node key?"
        )

    def run(self, stop: threading.Event) -> None:
        """Commit until ``stop`` is set: every ``interval`` or when ``max_events`` wait.

        A window that fails (reverted, chain unreachable) is retried after a pause that
        doubles with each failure in a row, up to MAX_BACKOFF seconds.
        """
        last = 0.0
        retried = 0.0  # the last idle look for a state root not anchored yet
        failures = 0
        # Whether a window waits prepared (None: look). Only commit_once leaves one (it did
        # not finish), or a process that died: looked for at the start and after each
        # commit_once, not on every idle turn, nor are waiting events counted past a window.
        prepared: bool | None = None
        before = -1  # the events waiting at the previous look (-1: none since the window)
        while not stop.is_set():
            with self.store.read() as conn:
                waiting = self.store.events.uncommitted_count(conn, at_most=self.policy.max_events)
                if prepared is None:
                    prepared = self.store.windows.prepared(conn) is not None
            since = time.monotonic() - last
            # Only this loop takes events out of the queue: the same count, none arrived.
            paused = waiting == before and since >= self.policy.min_interval
            due = since >= self.policy.interval or paused
            before = waiting
            if not (prepared or waiting >= self.policy.max_events or (waiting and due)):
                if not prepared and (
                    self._state_tx or time.monotonic() - retried >= self.policy.interval
                ):
                    self._retry_state(stop)
                    retried = time.monotonic()
                if self.idle is not None and not prepared and not self._state_tx:
                    self.idle()  # never while a state root's transaction holds the nonce
                stop.wait(min(LOOK, self.policy.interval))
                continue
            prepared = None
            before = -1
            try:
                with self.precedence.first() if self.precedence else nullcontext():
                    self.commit_once(stop)
                failures = 0
            except CommitPendingError:
                pass  # resumed on the next turn (or stopped)
            except (ChainError, Web3Exception, OSError) as exc:
                failures += 1
                pause = min(MAX_BACKOFF, max(self.policy.interval, 0.1) * 2 ** (failures - 1))
                log.warning("commit failed (%s); retrying in %.1f s", exc, pause)
                stop.wait(pause)
            last = time.monotonic()

    # ----- one window -----

    def _operations(self, rows: list[EventRecord]) -> list[Operation]:
        """The window's on-chain operations, each with the proofs of the batches it creates
        (from the identifiers the store holds; licences read once per prefix)."""
        lifecycle = [r for r in rows if r.action.on_chain]
        created = [b for r in lifecycle for b in r.event.created_batch_ids()]
        with self.store.read() as conn:
            states = self.store.batches.load(conn, created)
        identifiers = {b: state.identifier for b, state in states.items()}
        proofs = self.client.identifier_proofs(
            [(r.event, r.participant_id) for r in lifecycle], identifiers
        )
        return [(r.event, r.signature, p) for r, p in zip(lifecycle, proofs, strict=True)]

    def _prepare(self) -> WindowRecord | None:
        """Choose the next window's events, sign its commit, and store both; None if idle."""
        with self.store.read() as conn:
            rows = self.store.events.uncommitted(conn, self.policy.max_events)
        if self.client.custody is CustodyMode.ANCHOR_ONLY:
            return self._prepare_anchor_only(rows) if rows else None
        rows = _within_operations(rows, self.policy.max_operations)
        if not rows:
            return None
        while True:
            tree = MerkleTree([r.event_hash for r in rows])
            first_seq = self.client.next_sequence(self.node.address)
            operations = self._operations(rows)
            try:
                tx = self.client.build_commit(
                    self.node,
                    operations,
                    root=tree.root,
                    first_seq=first_seq,
                    event_count=len(rows),
                )
                break
            except CommitTooLargeError:
                if len(operations) <= 1:
                    raise
                log.info("window of %d operations too large for one transaction", len(operations))
                rows = _within_operations(rows, len(operations) // 2)
        members = _members(rows, tree)
        with self.store.write() as conn:
            return self._create(conn, members, tree, first_seq, tx)

    def _create(
        self,
        conn: Connection,
        members: list[WindowMember],
        tree: MerkleTree,
        first_seq: int,
        tx: SignedTx,
    ) -> WindowRecord:
        """Store the prepared window of ``members`` (:func:`_members`: its events' places
        and proofs, computed before the write lock is taken), its tree's root, first
        sequence number and signed transaction."""
        return self.store.windows.create(
            conn,
            first_seq=first_seq,
            root=tree.root,
            raw_tx=tx.raw,
            tx_hash=tx.tx_hash,
            created_at=int(self.clock() * 1000),
            members=members,
        )

    def _prepare_anchor_only(self, rows: list[EventRecord]) -> WindowRecord:
        """An anchor-only window (node.commit.custody): no event relayed, one
        ``anchorWindow`` carrying its event root, the state of every batch it touched and
        its transitions (node.proofs.transitions), all stored with the signed
        transaction. Every event was held to the custody rules at ingest; the window
        anchors what they did, for anyone to check and challenge."""
        tree = MerkleTree([r.event_hash for r in rows])
        first_seq = self.client.next_sequence(self.node.address)
        touched = sorted({b for r in rows for b in r.event.batch_ids()})
        found, after = transitions(
            ((r.event_hash, r.event, r.participant_id) for r in rows),
            first_seq=first_seq,
            start=self._start_states(touched, first=rows[0].id),
        )
        state_root, states = _state_rows(after[b] for b in touched)
        moves = transition_tree(found) if found else None
        transition_root = moves.root if moves is not None else ZERO32
        tx = self.client.build_anchor_window(
            self.node,
            root=tree.root,
            state_root=state_root,
            transition_root=transition_root,
            first_seq=first_seq,
            event_count=len(rows),
        )
        # Everything computed before the write lock is taken: ingest waits on it.
        members = _members(rows, tree)
        leaves = [
            # the tree's leaf values are the transitions' encodings, in order
            (t.event_hash, moves.event_hashes[i], b"".join(moves.proof(i)))
            for i, t in enumerate(found)
            if moves is not None
        ]
        with self.store.write() as conn:
            window = self._create(conn, members, tree, first_seq, tx)
            self.store.windows.save_states(conn, window.id, state_root=state_root, leaves=states)
            self.store.windows.save_transitions(
                conn, window.id, transition_root=transition_root, leaves=leaves
            )
        return replace(window, state_root=state_root, transition_root=transition_root)

    def _settle(
        self, window: WindowRecord, *, resumed: bool, stop: threading.Event
    ) -> WindowResult | None:
        """Wait until the window's fate is final; None when it was abandoned (see above)."""
        tx = _signed(window)
        nonce = tx.nonce
        deadline = time.monotonic() + self.policy.receipt_timeout
        replace_at = time.monotonic() + self.policy.replace_after
        outbid = tx  # the highest-fee transaction sent at this nonce so far
        refused = 0  # times the node refused the window's bytes (logged once)
        while True:
            head = self.client.head()
            receipt = self.client.receipt(tx.tx_hash)
            if receipt is not None:
                if head - receipt.block_number >= self.policy.confirmations:
                    if self.client.canonical(receipt):
                        return self._finish(window, receipt, resumed=resumed)
                    log.warning("window %d: block %d reorged", window.id, receipt.block_number)
            elif self._nonce_taken(window, nonce, head):
                log.warning(
                    "window %d: nonce %d taken by another transaction; rebuilding",
                    window.id,
                    nonce,
                )
                self._abandon(window)
                return None
            else:
                # Dropped from the pool, reorged out, or never sent: the same bytes again.
                resend = outbid is tx and not self.client.known(tx.tx_hash)
                if resend and not self._send(window, tx, quiet=refused > 0):
                    refused += 1
                if time.monotonic() >= replace_at:
                    outbid = self._replace(window, outbid)
                    replace_at = time.monotonic() + self.policy.replace_after
            self._pause(
                deadline,
                stop,
                late=f"window {window.id} (0x{tx.tx_hash.hex()}) not final after "
                f"{self.policy.receipt_timeout} s; it will be resumed",
                stopped=f"stopped while window {window.id} was pending",
            )

    def _pause(self, deadline: float, stop: threading.Event, *, late: str, stopped: str) -> None:
        """Wait one poll interval; CommitPendingError (``late``) past ``deadline``, or
        (``stopped``) when ``stop`` is set."""
        if time.monotonic() >= deadline:
            raise CommitPendingError(late)
        if stop.wait(self.policy.poll_interval):
            raise CommitPendingError(stopped)

    def _nonce_taken(self, window: WindowRecord, nonce: int, head: int) -> bool:
        """Whether the window's nonce is spent, ``confirmations`` (at least one) blocks
        deep, without the window being anchored.

        Read from the state of one block with a block on top, never from the receipt
        index or the head block: a node may update those after its state (anvil answers
        for a block it is still mining). A window that was mined but reverted counts as
        not mined: either way its events go back in the queue.
        """
        depth = max(self.policy.confirmations, 1)
        if head < depth:
            return False
        number = head - depth
        if not self.client.nonce_spent(self.node.address, nonce, at=number):
            return False  # the usual answer, in one request
        # Read both at one height, and believe them only if it held one block throughout.
        before = self.client.block_hash(number)
        taken = self.client.nonce_spent(
            self.node.address, nonce, at=number
        ) and not self.client.anchored(window.root, at=number)
        return taken and self.client.block_hash(number) == before

    def _send(self, window: WindowRecord, tx: SignedTx, *, quiet: bool = False) -> bool:
        try:
            self.client.send(tx)
        except ChainError as exc:
            # Not fatal: the window stays prepared and its fate is read from the chain.
            log.log(logging.DEBUG if quiet else logging.WARNING, "window %d: %s", window.id, exc)
            return False
        return True

    def _replace(self, window: WindowRecord, outbid: SignedTx) -> SignedTx:
        cancel = self.client.build_cancel(self.node, outbid)
        log.warning(
            "window %d not mined after %s s: sending 0x%s at its nonce to replace it",
            window.id,
            self.policy.replace_after,
            cancel.tx_hash.hex(),
        )
        try:
            self.client.send(cancel)
        except ChainError as exc:
            log.warning("window %d: %s", window.id, exc)
            return outbid
        return cancel

    def _abandon(self, window: WindowRecord) -> None:
        with self.store.write() as conn:
            self.store.windows.fail(conn, window.id)

    def _finish(
        self, window: WindowRecord, receipt: CommitReceipt, *, resumed: bool
    ) -> WindowResult:
        window_id = window.id
        if not receipt.succeeded:
            self._abandon(window)
            raise CommitRevertedError(
                f"commit 0x{receipt.tx_hash.hex()} reverted; its events will be retried"
            )
        anchor_only = window.transition_root is not None
        # The chain is asked before the write transaction begins: a slow chain must never
        # hold the store's write lock (ingest waits on it). The window's events are read
        # only when needed: an anchor-only window the chain took whole, with no webhook
        # subscribed, needs none (reading them back was a tenth of the commit's time).
        with self.store.read() as conn:
            needed = receipt.rejected or not anchor_only or window_subscribers(conn, self.store)
            members = self.store.windows.events(conn, window_id) if needed else None
        touched = {
            b
            for m in members or ()
            if m.event_hash in receipt.rejected
            for b in m.event.batch_ids()
        }
        states = {batch_id: self.client.batch_state(batch_id) for batch_id in sorted(touched)}
        # An anchor-only window's state root was computed with it, and mined with it.
        state_root, leaves = (
            (None, [])
            if anchor_only or members is None
            else self._state_leaves(members, receipt.rejected)
        )
        with self.store.write() as conn:
            self.store.windows.confirm(
                conn,
                window_id,
                block_number=receipt.block_number,
                block_hash=receipt.block_hash,
                rejected=receipt.rejected,
            )
            if state_root is not None:
                self.store.windows.save_states(
                    conn, window_id, state_root=state_root, leaves=leaves
                )
            if anchor_only:
                self.store.windows.state_anchored(conn, window_id, receipt.block_number)
            for batch_id, (producer, custodian, receiver, status, head) in states.items():
                if status is BatchStatus.NONE:
                    self.store.batches.forget(conn, batch_id)
                else:
                    self.store.batches.replace(
                        conn,
                        BatchState(batch_id, producer, custodian, receiver, status, head, b""),
                    )
            # The webhook outbox, in the transaction that records the fact (never later).
            enqueue_window(
                conn,
                self.store,
                window,
                # (an endpoint subscribed since the read above: its events, read now)
                lambda: (
                    members if members is not None else self.store.windows.events(conn, window_id)
                ),
                rejected=receipt.rejected,
                block_number=receipt.block_number,
                block_hash=receipt.block_hash,
                now=int(self.clock() * 1000),
            )
        count = window.event_count
        return WindowResult(
            window_id=window_id,
            first_seq=window.first_seq,
            event_count=count,
            root=window.root,
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
            anchored=count - len(receipt.rejected),
            rejected=len(receipt.rejected),
            gas_used=receipt.gas_used,
            resumed=resumed,
            block_hash=receipt.block_hash,
        )

    # ----- the window's state commitment (node.proofs.state) -----

    def _state_leaves(
        self, members: list[EventRecord], rejected: dict[bytes, bytes]
    ) -> tuple[bytes | None, list[tuple[bytes, bytes, int, int, int, bytes]]]:
        """The state root of a window whose events are ``members`` (``rejected`` by the
        chain: not counted), and its leaves with their proofs; (None, []) when the chain
        executed none of its events."""
        live = [m for m in members if m.event_hash not in rejected]
        if not live:
            return None, []
        touched = sorted({b for m in live for b in m.event.batch_ids()})
        start = self._start_states(touched, first=min(m.id for m in members))
        after = replay(((m.event_hash, m.event, m.participant_id) for m in live), start)
        return _state_rows(after[b] for b in touched)

    def _start_states(self, touched: list[bytes], *, first: int) -> dict[bytes, StateLeaf]:
        """The state of each of ``touched`` before the event with store id ``first``:
        its leaf in the latest confirmed window that touched it (or, for a batch with
        history from before state roots were kept, its anchored events replayed)."""
        with self.store.read() as conn:
            known = self.store.windows.latest_states(conn, touched).latest
            missing = [b for b in touched if b not in known]
            # Batches with history from before state roots were kept: replayed once. (A
            # batch this window makes is missing too, and has no such history.)
            earlier = (
                self.store.events.of_batches(conn, missing, anchored_before=first)
                if missing
                else []
            )
        start = {
            b: StateLeaf(b, r.head, r.custodian, BatchStatus(r.status), r.count)
            for b, r in known.items()
        }
        history = replay(
            (e.record.event_hash, e.record.event, e.record.participant_id) for e in earlier
        )
        start.update({b: history[b] for b in missing if b in history})
        return start

    def _anchor_state(self, stop: threading.Event, *, wait: bool = True) -> None:
        """Anchor the state root of the last confirmed window if it is not on-chain yet:
        send its transaction (once per run), and with ``wait`` wait until it is mined
        ``confirmations`` deep (at most ``receipt_timeout``: CommitPendingError).

        Like a window's, the transaction is sent again when the chain's node lost it, and
        replaced after ``replace_after`` seconds unmined — by the same call with higher
        fees, since its effect is still wanted (a state root priced out would otherwise
        hold the node key's next nonce, and so the next window, for ever). When its nonce
        is spent by a transaction of someone else's making, it is built again.

        Given up (logged, the window keeps no anchored state) when the chain refuses it:
        an AnchorRegistry from before state roots, or a later window anchored already.
        """
        for _ in range(MAX_REBUILDS):
            with self.store.read() as conn:
                window = self.store.windows.state_unanchored(conn)
            if window is None or window.state_root is None:
                return
            try:
                on_chain = self.client.state_root_of(window.root)
            except ContractLogicError as exc:
                self._give_up_state(window, f"the AnchorRegistry has no state roots ({exc})")
                return
            if on_chain == window.state_root:
                self._state_done(window, self.client.head())
                return
            if on_chain != ZERO32:
                self._give_up_state(
                    window, f"the chain holds another state root, 0x{on_chain.hex()}"
                )
                return
            sent = self._state_tx.get(window.id)
            if sent is None:
                try:
                    first = self.client.build_anchor_state(
                        self.node, window.root, window.state_root
                    )
                except CommitRevertedError as exc:
                    self._give_up_state(window, str(exc))
                    return
                self.client.send(first)
                sent = [first]
                self._state_tx = {window.id: sent}
                self._state_replace_at = time.monotonic() + self.policy.replace_after
            if not self._settle_state(window, sent, stop, wait=wait):
                return
            # Its nonce was spent by another transaction: none of ours can be mined.
            log.warning(
                "window %d: the state root's nonce %d was taken by another transaction; "
                "building it again",
                window.id,
                sent[-1].nonce,
            )
            self._state_tx.clear()
        raise ChainError(
            f"the state root's nonce was taken {MAX_REBUILDS} times in a row: is another "
            "process sending from the node key?"
        )

    def _settle_state(
        self, window: WindowRecord, sent: list[SignedTx], stop: threading.Event, *, wait: bool
    ) -> bool:
        """Wait for the state root's transactions ``sent`` (the first and each replacement);
        True when their nonce was spent by none of them (build again), else False."""
        deadline = time.monotonic() + self.policy.receipt_timeout
        nonce = sent[0].nonce
        while True:
            head = self.client.head()
            receipt = next(
                (r for tx in reversed(sent) if (r := self.client.receipt(tx.tx_hash)) is not None),
                None,
            )
            if receipt is not None:
                if head - receipt.block_number >= self.policy.confirmations:
                    if receipt.succeeded:
                        self._state_done(window, receipt.block_number)
                    else:
                        self._give_up_state(
                            window, f"anchorState 0x{receipt.tx_hash.hex()} reverted"
                        )
                    return False
            elif self._state_nonce_taken(window, nonce, head):
                return True
            if not wait:
                return False
            if receipt is None:
                latest = sent[-1]
                if time.monotonic() >= self._state_replace_at:
                    bumped = self.client.build_replacement(self.node, latest)
                    log.warning(
                        "window %d: anchorState not mined after %s s: sending 0x%s at its "
                        "nonce with higher fees",
                        window.id,
                        self.policy.replace_after,
                        bumped.tx_hash.hex(),
                    )
                    sent.append(bumped)
                    self._send_state(window, bumped)
                    self._state_replace_at = time.monotonic() + self.policy.replace_after
                elif not self.client.known(latest.tx_hash):
                    self._send_state(window, latest)  # dropped from the pool: the same bytes
            self._pause(
                deadline,
                stop,
                late=f"window {window.id}: anchorState 0x{sent[-1].tx_hash.hex()} not final "
                f"after {self.policy.receipt_timeout} s",
                stopped=f"stopped while window {window.id}'s state was pending",
            )

    def _state_nonce_taken(self, window: WindowRecord, nonce: int, head: int) -> bool:
        """Whether the state root's nonce is spent, ``confirmations`` (at least one) blocks
        deep, without the root being on-chain: as :meth:`_nonce_taken` for a window."""
        depth = max(self.policy.confirmations, 1)
        if head < depth:
            return False
        number = head - depth
        if not self.client.nonce_spent(self.node.address, nonce, at=number):
            return False
        before = self.client.block_hash(number)
        taken = self.client.nonce_spent(self.node.address, nonce, at=number) and (
            self.client.state_root_of(window.root, at=number) == ZERO32
        )
        return taken and self.client.block_hash(number) == before

    def _send_state(self, window: WindowRecord, tx: SignedTx) -> None:
        try:
            self.client.send(tx)
        except ChainError as exc:
            log.warning("window %d: anchorState not sent again: %s", window.id, exc)

    def _retry_state(self, stop: threading.Event) -> None:
        """On an idle turn: a state root that could not be anchored after its window (the
        chain was down) is sent now, not only when the next window comes."""
        try:
            self._anchor_state(stop)
        except CommitPendingError:
            pass  # resumed on a later turn
        except (ChainError, Web3Exception, OSError) as exc:
            log.warning("state root not anchored yet (%s)", exc)

    def _state_done(self, window: WindowRecord, block_number: int) -> None:
        self._state_tx.clear()
        with self.store.write() as conn:
            self.store.windows.state_anchored(conn, window.id, max(block_number, 1))

    def _give_up_state(self, window: WindowRecord, why: str) -> None:
        log.warning("window %d: its state root cannot be anchored: %s", window.id, why)
        self._state_tx.clear()
        with self.store.write() as conn:
            self.store.windows.state_anchored(conn, window.id, 0)


def _state_rows(
    leaves: Iterable[StateLeaf],
) -> tuple[bytes, list[tuple[bytes, bytes, int, int, int, bytes]]]:
    """The state root of ``leaves`` and the rows the store keeps of them, with proofs."""
    ordered, tree = state_tree(leaves)
    return tree.root, [
        (
            leaf.batch_id,
            leaf.head,
            leaf.custodian,
            int(leaf.status),
            leaf.count,
            b"".join(tree.proof(i)),
        )
        for i, leaf in enumerate(ordered)
    ]


def _members(rows: list[EventRecord], tree: MerkleTree) -> list[WindowMember]:
    """Each of ``rows``' place in the window's ``tree`` and its proof."""
    return [
        WindowMember(id=r.id, tree_index=tree.tree_index(i), proof=b"".join(tree.proof(i)))
        for i, r in enumerate(rows)
    ]


def _signed(window: WindowRecord) -> SignedTx:
    return SignedTx(window.raw_tx, window.tx_hash)


def _within_operations(rows: list[EventRecord], limit: int) -> list[EventRecord]:
    """The longest prefix of ``rows`` with at most ``limit`` lifecycle operations."""
    operations = 0
    for index, row in enumerate(rows):
        if row.action.on_chain:
            operations += 1
            if operations > limit:
                return rows[:index]
    return rows
