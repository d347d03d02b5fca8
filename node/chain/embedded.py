"""The embedded chain: py-evm through eth-tester, in this process, persisted in a data directory.

``open_embedded_chain(path)`` opens (creating it if missing) a chain whose blocks,
transactions, receipts, logs, contract code and storage and balances live in
``path/chain.sqlite3`` (``node.chain.kvstore``: py-evm's key-value store on SQLite).
Close it and open it again, in this process or another, and the chain continues from
its head: same genesis, same chain id, new blocks on top of the old ones.
``open_embedded_chain(None)`` and ``embedded_web3()`` give the same chain in memory.

How it is built, and which internals it relies on:

- The chain class mirrors the one eth-tester 0.14 builds in ``setup_tester_chain``
  (a py-evm ``MiningChain``, Prague rules from block 0, a constant gas limit, eth-tester's
  chain id), but is defined here so that a persisted chain's rules and chain id are pinned
  by this module, not by whatever a future eth-tester defaults to. The chain id is
  recorded in the store at creation and is the one used on every reopen.
- A new chain is ``MiningChain.from_genesis(store, params, state)`` with eth-tester's
  default development accounts (its ten well-known keys, 1,000,000 ether each) and a fixed
  genesis timestamp, so every new chain has the same genesis block. A reopened chain is
  ``MiningChain(store)``: py-evm reads the canonical head from the store and starts a new
  pending block on top of it; nothing is replayed, so reopening takes constant time.
- eth-tester's ``PyEVMBackend`` is used with the chain set on it rather than built by its
  constructor (``backend.chain`` and ``backend.account_keys`` are the attributes its
  methods use). Its transaction and receipt lookups scan every block from the head
  backwards; here they use py-evm's transaction-hash index instead (same serializers),
  which keeps receipts and ``eth_getLogs`` linear in the blocks asked for.
- Block timestamps: a pending block that has no transaction yet takes the current time
  when its first transaction arrives (eth-tester would keep the time its parent was
  mined), and py-evm never lets a child's timestamp be below its parent's + 1, so
  timestamps never go backwards, across restarts included. The flip side: at more than
  one block a second, block time runs ahead of the clock (a second per block) until the
  rate drops again.

``ChainSnapshot(path)`` reads a chain that another process holds open, as of its
last committed block (``ChainSnapshot``): read-only, nothing it does reaches the file.
The ``/rpc`` reader processes run calls on it, off the commit worker's chain and lock.
``FollowedChain(path)`` is ``tracenode serve``'s gateway's chain: a ``Web3`` whose every
request reads such a snapshot, and whose transactions go to the process that owns the
chain (serve's commit process, node/commit/process.py).

Not persisted (they live in eth-tester's memory): filters (``eth_newFilter`` and friends),
snapshots, accounts added at run time, and a pending block's transactions when
auto-mining is off. With auto-mining on (the default) every transaction is mined into its
own block before ``send_transaction`` returns, so nothing is pending between calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, cast

from eth.abc import (
    AtomicDatabaseAPI,
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
)
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.db.schema import SchemaV1
from eth.estimators.gas import binary_gas_search_intrinsic_tolerance
from eth.exceptions import HeaderNotFound as EVMHeaderNotFound
from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
from eth.exceptions import VMError
from eth.vm.spoof import SpoofTransaction
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import get_default_account_keys
from eth_tester.backends.pyevm.serializers import (
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import TransactionNotFound
from eth_typing import Address, BlockNumber, Hash32
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, Web3
from web3.middleware.base import Web3Middleware
from web3.providers.eth_tester.defaults import API_ENDPOINTS, static_return
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from node.chain.interpreter import FastPragueVM
from node.chain.kvstore import SqliteDB, SqliteSnapshot, Synchronous
from node.exceptions import ChainLockedError, ChainStoreError, ChainUnavailableError
from node.filelock import FileLock

CHAIN_FILE: Final = "chain.sqlite3"
LOCK_FILE: Final = "chain.lock"

DEFAULT_CHAIN_ID: Final = 131277322940537
"""eth-tester's chain id (``MainnetTesterPosChain.chain_id``), kept for new chains."""

GENESIS_TIMESTAMP: Final = 1_735_689_600
"""2025-01-01T00:00:00Z: a fixed genesis time makes every new chain's genesis identical."""

STORE_FORMAT: Final = "tracenode-chain/1"

_HEAD_KEY: Final = SchemaV1.make_canonical_head_hash_lookup_key()
"""py-evm's canonical-head pointer: a batch that writes it ends a block, and commits."""


def _estimate_gas(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """The gas a transaction needs, from one run at the block's gas limit and one at the
    estimate, instead of py-evm's binary search (a dozen runs: most of the time the node
    spends registering a participant). A revert at the block's limit raises as the search
    raises it (the caller decodes it); the estimate is the gas the run used plus a quarter,
    for the 1/64 of the remaining gas that each call keeps back (EIP-150) at a lower limit;
    if even that runs out, the search decides."""
    limit = state.gas_limit
    used = _run_for_gas(state, transaction, limit)
    estimate = min(limit, used + used // 4 + 10_000)
    try:
        _run_for_gas(state, transaction, estimate)
    except VMError:
        return int(binary_gas_search_intrinsic_tolerance(state, transaction))
    return estimate


def _run_for_gas(state: StateAPI, transaction: SignedTransactionAPI, gas: int) -> int:
    """Run ``transaction`` with ``gas`` on ``state`` and undo it; the gas it used at its
    peak (refunds are paid out only after), or its error raised."""
    spoof = cast("SignedTransactionAPI", SpoofTransaction(transaction, gas=gas, gas_price=0))
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(spoof)
        if computation.is_error:
            raise computation.error
        return gas - computation.get_gas_remaining()
    finally:
        state.revert(snapshot)


class _TesterChain(MiningChain):
    """eth-tester's post-merge tester chain (Prague from genesis, gas limit held constant),
    estimating gas in two runs (:func:`_estimate_gas`), its opcodes run by a leaner
    interpreter loop (node.chain.interpreter)."""

    chain_id = DEFAULT_CHAIN_ID
    vm_configuration = ((BlockNumber(0), FastPragueVM),)
    gas_estimator = staticmethod(_estimate_gas)

    def create_header_from_parent(
        self, parent_header: BlockHeaderAPI, **header_params: Any
    ) -> BlockHeaderAPI:
        header_params["gas_limit"] = parent_header.gas_limit
        return super().create_header_from_parent(parent_header, **header_params)

    def get_transaction_builder(self) -> Any:
        return self.get_vm().get_transaction_builder()

    def apply_transaction(
        self, transaction: SignedTransactionAPI
    ) -> tuple[BlockAPI, ReceiptAPI, ComputationAPI]:
        if self.header.gas_used == 0:
            # The first transaction of the pending block: date the block now, not when its
            # parent was mined (never earlier than the pending header already says).
            self.header = self.header.copy(timestamp=max(self.header.timestamp, int(time.time())))
        return super().apply_transaction(transaction)


def is_embedded(w3: Web3) -> bool:
    """Whether ``w3`` is the in-process embedded chain (eth-tester over py-evm), which has
    this module's own methods (:data:`STORAGE_MANY`, :data:`RECEIPT_LOGS`)."""
    return isinstance(w3.provider, EthereumTesterProvider)


def _chain_class(chain_id: int) -> type[_TesterChain]:
    return cast(
        "type[_TesterChain]", type("TraceNodeChain", (_TesterChain,), {"chain_id": chain_id})
    )


def _new_chain(db: AtomicDatabaseAPI, chain_id: int) -> _TesterChain:
    params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": GENESIS_TIMESTAMP})
    state = PyEVMBackend.generate_genesis_state()
    return cast("_TesterChain", _chain_class(chain_id).from_genesis(db, params, state))


class _Backend(PyEVMBackend):  # type: ignore[misc]
    """eth-tester's py-evm backend over a chain built (or reopened) here."""

    def __init__(self, chain: _TesterChain, *, in_memory: bool) -> None:
        # PyEVMBackend.__init__ only builds a fresh in-memory chain; we bring our own.
        self.chain = chain
        self.account_keys = get_default_account_keys()
        self._in_memory = in_memory

    def get_storage_many(self, account: bytes, slots: list[int], block_number: int) -> list[int]:
        """The values of ``slots`` of ``account`` after mined block ``block_number``, read
        from the state trie at that block's header: no EVM execution."""
        if not 0 <= block_number < self.chain.get_block().number:
            raise ValueError(f"block {block_number} is not mined")
        header = self.chain.get_canonical_block_header_by_number(BlockNumber(block_number))
        state = self.chain.get_vm(header).state
        return [int(state.get_storage(Address(account), slot)) for slot in slots]

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise NotImplementedError("the embedded chain's genesis is fixed")
        if not self._in_memory:
            raise ChainStoreError("refusing to reset a persistent chain to genesis")
        self.chain = _new_chain(AtomicDB(), self.chain.chain_id)

    def _find_transaction(
        self, transaction_hash: bytes
    ) -> tuple[BlockAPI, SignedTransactionAPI, int]:
        """The block, transaction and index of ``transaction_hash``: in the pending block,
        else through py-evm's hash index (eth-tester scans every block from the head)."""
        pending = self.chain.get_block()
        for index, transaction in enumerate(pending.transactions):
            if transaction.hash == transaction_hash:
                return pending, transaction, index
        try:
            number, index = self.chain.chaindb.get_transaction_index(Hash32(transaction_hash))
            block = self.chain.get_canonical_block_by_number(number)
            found = block.transactions[index]
        except (EVMTransactionNotFound, EVMHeaderNotFound, IndexError):
            found = None
        # An eth-tester snapshot revert leaves the index entries of the blocks it drops.
        if found is None or found.hash != transaction_hash:
            raise TransactionNotFound(
                f"No transaction found for transaction hash: {_hex(transaction_hash)}"
            )
        return block, found, index

    def get_receipt_logs(self, transaction_hash: bytes) -> dict[str, Any] | None:
        """A mined transaction's receipt as the commit worker reads it (block, status, gas
        used, and each log's address, topics and data), or None while it is not mined:
        the fields of eth-tester's receipt without serialising every log's nine fields."""
        try:
            block, _, index = self._find_transaction(transaction_hash)
        except TransactionNotFound:
            return None
        if block.number == self.chain.get_block().number:  # pending
            return None
        receipts = block.get_receipts(self.chain.chaindb)
        receipt = receipts[index]
        before = receipts[index - 1].gas_used if index else 0
        return {
            "blockNumber": block.number,
            "blockHash": bytes(block.hash),
            "status": int.from_bytes(receipt.state_root, "big"),
            "gasUsed": receipt.gas_used - before,
            "logs": [
                {
                    "address": _hex(log.address),
                    "topics": [topic.to_bytes(32, "big") for topic in log.topics],
                    "data": bytes(log.data),
                }
                for log in receipt.logs
            ],
        }

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return serialize_transaction(block, transaction, index, is_pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(
            block, receipts, transaction, index, is_pending, self.chain.get_vm()
        )


class EmbeddedChain:
    """An open embedded chain: ``w3`` and ``tester`` over it, ``close()`` to release it."""

    def __init__(
        self,
        chain: _TesterChain,
        *,
        path: Path | None,
        store: SqliteDB | None = None,
        lock: FileLock | None = None,
    ) -> None:
        self.path = path
        self.tester = EthereumTester(backend=_Backend(chain, in_memory=store is None))
        self.w3 = Web3(
            EthereumTesterProvider(self.tester, api_endpoints=_endpoints(chain.chain_id))
        )
        self._store = store
        self._lock = lock

    @property
    def chain_id(self) -> int:
        return int(self.tester.backend.chain.chain_id)

    @property
    def closed(self) -> bool:
        return self._store is not None and self._store.closed

    def close(self) -> None:
        """Commit what is pending, close the database and release the data directory.
        Idempotent; the chain is unusable afterwards (an in-memory chain is unaffected)."""
        try:
            if self._store is not None:
                self._store.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> EmbeddedChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"EmbeddedChain({where}, chain_id={self.chain_id})"


def open_embedded_chain(
    path: Path | None,
    *,
    chain_id: int | None = None,
    synchronous: Synchronous = "FULL",
    in_memory: bool = False,
) -> EmbeddedChain:
    """Open the embedded chain stored under ``path`` (created if missing), or, for
    ``None``, a fresh one in memory.

    ``chain_id`` is for a new chain (default: eth-tester's); for an existing one it must be
    the recorded id or None. ``synchronous`` is SQLite's (see ``SqliteDB``).
    ``in_memory``: copy the stored chain into memory and go on there; nothing reaches the
    file again (the bench compares the two with the same contracts and participants).

    Raises ``ChainLockedError`` if another process (or another open chain in this one)
    has the directory open, and ``ChainStoreError`` if its store is not a chain this
    module wrote or was created with another chain id.
    """
    if path is None:
        return EmbeddedChain(
            _new_chain(AtomicDB(), DEFAULT_CHAIN_ID if chain_id is None else chain_id), path=None
        )
    path.mkdir(parents=True, exist_ok=True)
    lock = _lock(path)
    store: SqliteDB | None = None
    try:
        store = SqliteDB(path / CHAIN_FILE, synchronous=synchronous, commit_on=(_HEAD_KEY,))
        chain = _open_store(store, chain_id)
        if in_memory:
            copy = AtomicDB(MemoryDB(store.copy_all()))
            store.close()
            lock.release()
            return EmbeddedChain(type(chain)(copy), path=None)
        return EmbeddedChain(chain, path=path, store=store, lock=lock)
    except BaseException:
        if store is not None:
            store.close()
        lock.release()
        raise


class ChainSnapshot:
    """An embedded chain that another process has open, read as of its last committed
    block: ``latest()`` gives a ``Web3`` over that state, with its own eth-tester and
    py-evm objects (nothing shared with the writer but the file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteSnapshot(path / CHAIN_FILE)
        try:
            if self._db.get_meta("format") != STORE_FORMAT:
                raise ChainStoreError(f"{self._db.path} holds no chain this node wrote")
            self._chain_class = _chain_class(int(self._db.get_meta("chain_id") or 0))
            with self._db.snapshot():
                chain = self._chain_class(self._db)
            self.tester = EthereumTester(backend=_Backend(chain, in_memory=False))
        except BaseException:
            self._db.close()
            raise
        self.w3 = Web3(
            EthereumTesterProvider(self.tester, api_endpoints=_endpoints(chain.chain_id))
        )

    @contextmanager
    def latest(self) -> Iterator[Web3]:
        """``w3`` at the last block committed now, the same state throughout."""
        with self._db.snapshot():
            self.tester.backend.chain = self._chain_class(self._db)
            yield self.w3

    def close(self) -> None:
        self._db.close()


#: What a :class:`FollowedChain` hands its chain's owner: a raw transaction (0x hex), to
#: send on the chain; it returns the transaction's hash (0x hex).
SendRaw = Callable[[str], str]

#: The name of :class:`FollowedChain`'s middleware (:func:`serialize_requests` leaves it be).
FOLLOW_MIDDLEWARE: Final = "tracenode-follow"


class FollowedChain:
    """The embedded chain as another process, its owner, writes it (``tracenode serve``'s
    gateway beside its commit process): every request through ``w3`` reads the last block
    committed when it started (a :class:`ChainSnapshot`, one request at a time), and
    ``eth_sendRawTransaction`` goes to the owner through ``send_raw`` (set once the owner
    runs; until then, and when it is down, sending raises ``ChainUnavailableError``).
    Nothing this process does reaches the chain's file, and it takes no lock of the
    owner's."""

    def __init__(self, path: Path, send_raw: SendRaw | None = None) -> None:
        self.path = path
        self.send_raw = send_raw
        self._snapshot = ChainSnapshot(path)
        self._lock = threading.RLock()
        self._depth = 0  # requests under way in the thread holding the lock
        self.w3 = self._snapshot.w3
        self.w3.middleware_onion.add(self._middleware(), name=FOLLOW_MIDDLEWARE)

    def _middleware(self) -> type[Web3Middleware]:
        followed = self

        class Follow(Web3Middleware):
            def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
                def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                    if method == "eth_sendRawTransaction":
                        return {"jsonrpc": "2.0", "id": 0, "result": followed._send(params)}
                    with followed._lock:
                        if followed._depth:  # a request made while answering one
                            return make_request(method, params)
                        followed._depth += 1
                        try:
                            with followed._snapshot.latest():
                                return make_request(method, params)
                        finally:
                            followed._depth -= 1

                return middleware

        return Follow

    def _send(self, params: Any) -> str:
        send = self.send_raw
        if send is None:
            raise ChainUnavailableError(
                "the embedded chain's owner (the commit process) is not running"
            )
        return send(_hex(HexBytes(params[0])))

    def close(self) -> None:
        with self._lock:
            self._snapshot.close()


#: The name of :func:`serialize_requests`'s middleware.
SERIALIZE_MIDDLEWARE: Final = "tracenode-serialize"


def serialize_requests(w3: Web3) -> None:
    """On an embedded chain, make every request through ``w3`` take one lock.

    py-evm is not thread-safe: threads that share one chain's ``Web3`` (the gateway's
    routes and an in-process commit worker; the commit process's worker and the
    transactions it sends for the gateway) go through it one at a time. A
    :class:`FollowedChain` serialises its reads itself, and never holds them up for a
    transaction; external nodes take concurrent requests as they are."""
    if not is_embedded(w3) or FOLLOW_MIDDLEWARE in w3.middleware_onion:
        return
    if SERIALIZE_MIDDLEWARE not in w3.middleware_onion:
        lock = threading.RLock()

        class Serialized(Web3Middleware):
            def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
                def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                    with lock:
                        return make_request(method, params)

                return middleware

        w3.middleware_onion.add(Serialized, name=SERIALIZE_MIDDLEWARE)


def embedded_web3() -> Web3:
    """A fresh in-process chain with eth-tester's funded, unlocked development accounts."""
    return open_embedded_chain(None).w3


def _open_store(store: SqliteDB, chain_id: int | None) -> _TesterChain:
    recorded = store.get_meta("format")
    if recorded is None:
        if not store.is_empty():
            raise ChainStoreError(f"{store.path} holds data but no chain metadata")
        new_id = DEFAULT_CHAIN_ID if chain_id is None else chain_id
        with store.transaction():  # the genesis and its metadata commit together or not at all
            chain = _new_chain(store, new_id)
            store.set_meta("format", STORE_FORMAT)
            store.set_meta("chain_id", str(new_id))
            store.set_meta("genesis_hash", _hex(chain.get_canonical_block_hash(BlockNumber(0))))
        return chain
    if recorded != STORE_FORMAT:
        raise ChainStoreError(f"{store.path} has format {recorded!r}, expected {STORE_FORMAT!r}")
    recorded_id = store.get_meta("chain_id")
    if recorded_id is None:
        raise ChainStoreError(f"{store.path} records no chain id")
    stored_id = int(recorded_id)
    if chain_id is not None and chain_id != stored_id:
        raise ChainStoreError(
            f"{store.path} holds chain id {stored_id}, but chain id {chain_id} was asked for"
        )
    chain = _chain_class(stored_id)(store)
    genesis = _hex(chain.get_canonical_block_hash(BlockNumber(0)))
    if genesis != store.get_meta("genesis_hash"):
        raise ChainStoreError(f"{store.path}: genesis {genesis} is not the recorded one")
    return chain


#: The embedded chain's one method of its own (in-process only: never served on /rpc):
#: many storage slots of one contract at one mined block, in one request (ChainReader).
STORAGE_MANY: Final = "tracenode_getStorageMany"


def _storage_many(tester: EthereumTester, params: Any) -> list[str]:
    address, slots, block = params
    backend: _Backend = tester.backend
    values = backend.get_storage_many(
        bytes.fromhex(str(address).removeprefix("0x")),
        [int(slot, 16) for slot in slots],
        int(block),
    )
    return ["0x" + value.to_bytes(32, "big").hex() for value in values]


#: The embedded chain's other method of its own (in-process only, like STORAGE_MANY): a
#: mined transaction's receipt reduced to what the commit worker reads
#: (``_Backend.get_receipt_logs``), or None while it is not mined.
RECEIPT_LOGS: Final = "tracenode_getReceiptLogs"


def _receipt_logs(tester: EthereumTester, params: Any) -> dict[str, Any] | None:
    (transaction_hash,) = params
    backend: _Backend = tester.backend
    return backend.get_receipt_logs(bytes.fromhex(str(transaction_hash).removeprefix("0x")))


def _endpoints(chain_id: int) -> dict[str, dict[str, Callable[..., RPCResponse]]]:
    """web3's eth-tester endpoints, but ``eth_chainId`` answers this chain's id (web3
    hard-codes eth-tester's default), :data:`STORAGE_MANY` and :data:`RECEIPT_LOGS`."""
    endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
    endpoints["eth"]["chainId"] = static_return(chain_id)
    endpoints["tracenode"] = {"getStorageMany": _storage_many, "getReceiptLogs": _receipt_logs}
    return cast("dict[str, dict[str, Callable[..., RPCResponse]]]", endpoints)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _lock(path: Path) -> FileLock:
    """Take the data directory's exclusive lock (released by ``release``, or by the kernel
    when the process dies, SIGKILL included)."""
    lock = FileLock(path / LOCK_FILE)
    if not lock.try_acquire():
        raise ChainLockedError(path, lock.holder())
    return lock
