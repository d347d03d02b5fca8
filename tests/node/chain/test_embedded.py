"""The embedded chain persisted in a data directory: reopen, other processes, SIGKILL, the lock."""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound
from web3.types import Wei

from node.chain import kvstore
from node.chain.deploy import Deployment, contract, deploy_contracts
from node.chain.embedded import (
    CHAIN_FILE,
    DEFAULT_CHAIN_ID,
    EmbeddedChain,
    embedded_web3,
    open_embedded_chain,
)
from node.chain.kvstore import SqliteDB
from node.events.typed_data import Role
from node.exceptions import ChainLockedError, ChainStoreError, TraceNodeError

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 60.0


def participants_of(w3: Web3, deployment: Deployment) -> Contract:
    return contract(w3, "ParticipantRegistry", deployment.participant_registry)


def register(w3: Web3, deployment: Deployment, name: str, prefix: str = "") -> Any:
    admin = accounts(w3)[0]
    tx = (
        participants_of(w3, deployment)
        .functions.register(Account.create().address, name, int(Role.PRODUCER), prefix)
        .transact({"from": admin})
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return receipt


def deployed(chain: EmbeddedChain) -> Deployment:
    admin, node = accounts(chain.w3)[:2]
    return deploy_contracts(chain.w3, admin=admin, node=node)


def accounts(w3: Web3) -> list[ChecksumAddress]:
    return list(w3.eth.accounts)


def registered_topic(w3: Web3, deployment: Deployment) -> HexStr:
    """As a hex string: web3's eth-tester provider matches no log for a HexBytes topic."""
    return participants_of(w3, deployment).events.ParticipantRegistered.topic


def observe(w3: Web3, deployment: Deployment, tx: HexBytes) -> dict[str, Any]:
    """Everything a reader of the chain might look at, as plain comparable values."""
    head = w3.eth.block_number
    addresses = (
        deployment.participant_registry,
        deployment.batch_registry,
        deployment.anchor_registry,
    )
    return {
        "chain_id": w3.eth.chain_id,
        "head": head,
        "blocks": [dict(w3.eth.get_block(n)) for n in range(head + 1)],
        "code": {address: bytes(w3.eth.get_code(address)) for address in addresses},
        "storage": {
            address: [bytes(w3.eth.get_storage_at(address, slot)) for slot in range(4)]
            for address in addresses
        },
        "balances": [w3.eth.get_balance(account) for account in accounts(w3)],
        "nonces": [w3.eth.get_transaction_count(account) for account in accounts(w3)[:2]],
        "participant_count": participants_of(w3, deployment).functions.participantCount().call(),
        "transaction": dict(w3.eth.get_transaction(tx)),
        "receipt": dict(w3.eth.get_transaction_receipt(tx)),
        "logs": [
            dict(log)
            for log in w3.eth.get_logs(
                {
                    "fromBlock": 0,
                    "toBlock": "latest",
                    "address": deployment.participant_registry,
                    "topics": [registered_topic(w3, deployment)],
                }
            )
        ],
    }


def test_reopen_restores_the_whole_chain_and_continues_from_its_head(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    with open_embedded_chain(data) as first:
        deployment = deployed(first)
        receipt = register(first.w3, deployment, "farm", "0614141")
        before = observe(first.w3, deployment, receipt["transactionHash"])
    assert first.closed

    # The observation is not vacuous: there is something to lose.
    assert before["head"] == receipt["blockNumber"] > deployment.block_number
    assert before["participant_count"] == 1
    assert all(len(code) > 100 for code in before["code"].values())
    assert len(before["logs"]) == 1
    assert before["logs"][0]["transactionHash"] == receipt["transactionHash"]
    assert before["receipt"]["logs"]
    assert before["balances"][0] < before["balances"][2] == Web3.to_wei(1_000_000, "ether")

    with open_embedded_chain(data) as second:
        w3 = second.w3
        assert observe(w3, deployment, receipt["transactionHash"]) == before

        old_head = w3.eth.get_block("latest")
        new = register(w3, deployment, "processor", "0614142")
        block = w3.eth.get_block(new["blockNumber"])
        assert new["blockNumber"] == old_head["number"] + 1 == w3.eth.block_number
        assert block["parentHash"] == old_head["hash"]
        assert block["timestamp"] > old_head["timestamp"]
        assert participants_of(w3, deployment).functions.participantCount().call() == 2
        topic = registered_topic(w3, deployment)
        logs = w3.eth.get_logs(
            {"fromBlock": 0, "address": deployment.participant_registry, "topics": [topic]}
        )
        assert [log["blockNumber"] for log in logs] == [receipt["blockNumber"], new["blockNumber"]]


def test_a_separate_process_sees_the_same_chain(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    with open_embedded_chain(data) as chain:
        deployment = deployed(chain)
        receipt = register(chain.w3, deployment, "farm")
        w3 = chain.w3
        expected = {
            "head": w3.eth.block_number,
            "head_hash": w3.eth.get_block("latest")["hash"].hex(),
            "count": 1,
            "code": bytes(w3.eth.get_code(deployment.participant_registry)).hex(),
            "balance": w3.eth.get_balance(accounts(w3)[0]),
            "receipt_block": receipt["blockNumber"],
        }
    snippet = f"""
        import json
        from pathlib import Path
        from node.chain.deploy import contract
        from node.chain.embedded import open_embedded_chain

        with open_embedded_chain(Path({str(data)!r})) as chain:
            w3 = chain.w3
            registry = contract(w3, "ParticipantRegistry", {deployment.participant_registry!r})
            receipt = w3.eth.get_transaction_receipt({receipt["transactionHash"].to_0x_hex()!r})
            print(json.dumps({{
                "head": w3.eth.block_number,
                "head_hash": w3.eth.get_block("latest")["hash"].hex(),
                "count": registry.functions.participantCount().call(),
                "code": bytes(w3.eth.get_code(registry.address)).hex(),
                "balance": w3.eth.get_balance(w3.eth.accounts[0]),
                "receipt_block": receipt["blockNumber"],
            }}))
    """
    result = run_python(snippet)
    assert json.loads(result.stdout) == expected


def test_sigkill_loses_no_returned_block(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    with open_embedded_chain(data) as chain:
        start = chain.w3.eth.block_number
    recipient = Account.create().address
    snippet = f"""
        from pathlib import Path
        from node.chain.embedded import open_embedded_chain

        chain = open_embedded_chain(Path({str(data)!r}))
        w3 = chain.w3
        sender = w3.eth.accounts[0]
        while True:
            tx = w3.eth.send_transaction({{"from": sender, "to": {recipient!r}, "value": 1}})
            print(w3.eth.get_transaction_receipt(tx)["blockNumber"], flush=True)
    """
    with Child(snippet, tmp_path) as child:
        child.wait_for_lines(8)
        time.sleep(0.137)  # let it run on, so that the kill lands anywhere in a block
        returncode = child.kill()
        printed = child.lines()
    assert returncode == -signal.SIGKILL
    assert len(printed) >= 8
    numbers = [int(line) for line in printed]
    assert numbers == list(range(start + 1, start + 1 + len(numbers)))

    with open_embedded_chain(data) as chain:
        w3 = chain.w3
        head = w3.eth.block_number
        assert head >= numbers[-1]
        # Every block up to the head is whole: its state holds exactly its transfers.
        assert w3.eth.get_balance(recipient) == head - start
        assert w3.eth.get_block(numbers[-1])["transactions"]
        tx = w3.eth.send_transaction({"from": accounts(w3)[1], "to": recipient, "value": Wei(5)})
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1
        assert receipt["blockNumber"] == head + 1
        assert w3.eth.get_block(head + 1)["parentHash"] == w3.eth.get_block(head)["hash"]
        assert w3.eth.get_balance(recipient) == head - start + 5


def test_a_chain_open_in_another_process_is_locked(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    snippet = f"""
        import sys
        from pathlib import Path
        from node.chain.embedded import open_embedded_chain

        with open_embedded_chain(Path({str(data)!r})):
            print("ready", flush=True)
            sys.stdin.read()
    """
    with Child(snippet, tmp_path) as child:
        child.wait_for_lines(1)
        with pytest.raises(ChainLockedError) as raised:
            open_embedded_chain(data)
        assert isinstance(raised.value, TraceNodeError)
        assert raised.value.code == "chain-locked"
        assert raised.value.holder == str(child.process.pid)
        assert str(data) in str(raised.value)
        assert child.stop() == 0
    with open_embedded_chain(data) as chain:  # released when the holder closed it
        assert chain.w3.eth.block_number == 0


def test_a_chain_open_in_this_process_is_locked_too(tmp_path: Path) -> None:
    first = open_embedded_chain(tmp_path)
    try:
        with pytest.raises(ChainLockedError):
            open_embedded_chain(tmp_path)
    finally:
        first.close()
    open_embedded_chain(tmp_path).close()


def test_the_genesis_is_deterministic_funded_and_recorded(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path / "a") as a, open_embedded_chain(tmp_path / "b") as b:
        assert a.chain_id == b.chain_id == a.w3.eth.chain_id == DEFAULT_CHAIN_ID
        genesis = a.w3.eth.get_block(0)
        assert genesis == b.w3.eth.get_block(0)
        assert a.w3.eth.accounts == Web3(EthereumTesterProvider()).eth.accounts  # eth-tester's
        assert len(a.w3.eth.accounts) == 10
        for account in a.w3.eth.accounts:
            assert a.w3.eth.get_balance(account) == Web3.to_wei(1_000_000, "ether")
    with SqliteDB(tmp_path / "a" / CHAIN_FILE) as store:
        assert store.get_meta("chain_id") == str(DEFAULT_CHAIN_ID)
        assert store.get_meta("genesis_hash") == genesis["hash"].to_0x_hex()


def test_the_recorded_chain_id_wins_and_a_different_one_is_refused(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path, chain_id=4242) as chain:
        assert chain.w3.eth.chain_id == 4242
        tx = chain.w3.eth.send_transaction(
            {"from": accounts(chain.w3)[0], "to": accounts(chain.w3)[1], "value": Wei(1)}
        )
        assert chain.w3.eth.get_transaction(tx)["chainId"] == 4242
    with open_embedded_chain(tmp_path) as chain:
        assert chain.chain_id == chain.w3.eth.chain_id == 4242
    with pytest.raises(ChainStoreError, match="4242"):
        open_embedded_chain(tmp_path, chain_id=DEFAULT_CHAIN_ID)
    open_embedded_chain(tmp_path, chain_id=4242).close()  # the failed open released the lock


def test_a_store_that_is_not_a_chain_is_refused(tmp_path: Path) -> None:
    with SqliteDB(tmp_path / CHAIN_FILE) as store:
        store[b"key"] = b"value"
    with pytest.raises(ChainStoreError) as raised:
        open_embedded_chain(tmp_path)
    assert raised.value.code == "chain-store-error"


def test_timestamps_never_go_backwards_across_reopens(tmp_path: Path) -> None:
    stamps: list[int] = []
    for _ in range(3):
        with open_embedded_chain(tmp_path) as chain:
            w3 = chain.w3
            for _ in range(3):
                w3.eth.send_transaction({"from": accounts(w3)[0], "to": accounts(w3)[1]})
            stamps = [w3.eth.get_block(n)["timestamp"] for n in range(w3.eth.block_number + 1)]
    assert len(stamps) == 10
    assert all(later > earlier for earlier, later in itertools.pairwise(stamps))
    assert stamps[1] >= int(time.time()) - 60  # dated now, not at the fixed genesis time


def test_a_block_is_dated_when_its_first_transaction_arrives(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path) as chain:
        w3 = chain.w3
        opened = int(time.time())
        time.sleep(1.2)
        w3.eth.send_transaction({"from": accounts(w3)[0], "to": accounts(w3)[1]})
        assert w3.eth.get_block("latest")["timestamp"] >= opened + 1


def test_transactions_mined_together_with_auto_mining_off_persist(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path) as chain:
        w3, tester = chain.w3, chain.tester
        tester.disable_auto_mine_transactions()
        sent = [
            w3.eth.send_transaction({"from": sender, "to": accounts(w3)[9], "value": Wei(7)})
            for sender in accounts(w3)[:3]
        ]
        assert w3.eth.block_number == 0
        tester.mine_block()
        assert list(w3.eth.get_block(1)["transactions"]) == sent
    with open_embedded_chain(tmp_path) as chain:
        w3 = chain.w3
        assert w3.eth.block_number == 1
        assert [w3.eth.get_transaction_receipt(tx)["blockNumber"] for tx in sent] == [1, 1, 1]
        assert w3.eth.get_balance(accounts(w3)[9]) == Web3.to_wei(1_000_000, "ether") + 21


def test_a_snapshot_revert_is_persisted_and_forgets_the_dropped_transactions(
    tmp_path: Path,
) -> None:
    with open_embedded_chain(tmp_path) as chain:
        w3, tester = chain.w3, chain.tester
        admin, other = accounts(w3)[:2]
        snapshot = tester.take_snapshot()
        dropped = w3.eth.send_transaction({"from": admin, "to": other, "value": Wei(1)})
        tester.revert_to_snapshot(snapshot)
        kept = w3.eth.send_transaction({"from": other, "to": admin, "value": Wei(2)})
        assert w3.eth.get_transaction_receipt(kept)["blockNumber"] == 1
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction_receipt(dropped)
    with open_embedded_chain(tmp_path) as chain:
        w3 = chain.w3
        assert w3.eth.block_number == 1
        assert w3.eth.get_transaction_receipt(kept)["blockNumber"] == 1
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction(dropped)


def test_the_in_memory_chain_still_works() -> None:
    chain = open_embedded_chain(None)
    assert chain.path is None
    deployment = deployed(chain)
    register(chain.w3, deployment, "farm")
    assert participants_of(chain.w3, deployment).functions.participantCount().call() == 1
    chain.close()  # nothing to release

    w3 = embedded_web3()
    assert w3.eth.block_number == 0  # a fresh chain each time
    assert w3.eth.get_balance(w3.eth.accounts[0]) == Web3.to_wei(1_000_000, "ether")


def test_a_stored_chain_copied_into_memory_goes_on_there_and_leaves_the_file(
    tmp_path: Path,
) -> None:
    data = tmp_path / "chain"
    with open_embedded_chain(data) as stored:
        deployment = deployed(stored)
        register(stored.w3, deployment, "farm")
        head = stored.w3.eth.get_block("latest")
    saved = (data / CHAIN_FILE).read_bytes()

    with open_embedded_chain(data, in_memory=True) as copy:
        assert copy.path is None
        assert copy.w3.eth.get_block("latest") == head  # the same chain, from its head
        register(copy.w3, deployment, "processor")
        assert participants_of(copy.w3, deployment).functions.participantCount().call() == 2
        with open_embedded_chain(data) as meanwhile:  # the copy holds no lock of the file's
            assert meanwhile.w3.eth.get_block("latest") == head

    assert (data / CHAIN_FILE).read_bytes() == saved  # nothing the copy did reached it


# -- the key-value store itself ---------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteDB]:
    with SqliteDB(tmp_path / "kv.sqlite3", commit_on=(b"head",)) as db:
        yield db


def committed(store: SqliteDB) -> dict[bytes, bytes]:
    """What another connection (a process after a crash) would find."""
    with sqlite3.connect(store.path) as other:
        return dict(other.execute("SELECT key, value FROM kv").fetchall())


def test_a_failed_batch_writes_nothing(store: SqliteDB) -> None:
    store[b"a"] = b"1"

    def fail() -> None:
        with store.atomic_batch() as batch:
            batch[b"a"] = b"2"
            batch[b"b"] = b"2"
            assert batch[b"a"] == b"2"
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert store[b"a"] == b"1"
    assert b"b" not in store


def test_batches_become_durable_when_one_moves_the_head(store: SqliteDB) -> None:
    with store.atomic_batch() as batch:
        batch[b"node"] = b"trie"
    assert store[b"node"] == b"trie"
    assert committed(store) == {}  # a crash here loses only what nothing refers to
    with store.atomic_batch() as batch:
        batch[b"head"] = b"node"
        del batch[b"node"]
        batch[b"node2"] = b"trie2"
    assert committed(store) == {b"head": b"node", b"node2": b"trie2"}
    with pytest.raises(KeyError):
        del store[b"node"]


def test_the_default_commits_every_batch(tmp_path: Path) -> None:
    with SqliteDB(tmp_path / "kv.sqlite3") as db:
        with db.atomic_batch() as batch:
            batch[b"k"] = b"v"
        assert committed(db) == {b"k": b"v"}
        db[b"loose"] = b"w"
        assert b"loose" not in committed(db)
    with SqliteDB(tmp_path / "kv.sqlite3") as db:
        assert db[b"loose"] == b"w"  # close() commits


def test_a_failed_write_stops_the_store_and_keeps_the_last_commit(store: SqliteDB) -> None:
    with store.atomic_batch() as batch:
        batch[b"head"] = b"1"
    store._db.execute("PRAGMA max_page_count = 8")  # a full disk, on demand

    def fill() -> None:
        for n in range(1000):
            store[n.to_bytes(4, "big")] = bytes(4000)

    with pytest.raises(sqlite3.OperationalError, match="full"):
        fill()
    assert store.closed
    with pytest.raises(sqlite3.ProgrammingError):
        store[b"head"]
    with SqliteDB(store.path) as reopened:
        assert reopened[b"head"] == b"1"
        assert b"\x00\x00\x00\x00" not in reopened


def _sqlite_says(store: SqliteDB, key: bytes) -> bytes | None:
    """What the store's own connection reads for ``key``, past its cache."""
    row = store._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def test_reads_through_the_cache_are_what_sqlite_says_after_every_kind_of_write(
    store: SqliteDB,
) -> None:
    def same(*keys: bytes) -> None:
        for key in keys:
            said = _sqlite_says(store, key)
            if said is None:
                assert key not in store
                with pytest.raises(KeyError):
                    store[key]
            else:
                assert store[key] == said

    store[b"a"] = b"1"
    same(b"a")
    store[b"a"] = b"2"  # overwritten after it was read
    same(b"a")
    del store[b"a"]
    same(b"a")
    with store.atomic_batch() as batch:
        batch[b"b"] = b"3"
        batch[b"c"] = b"4"
    same(b"b", b"c")
    with store.atomic_batch() as batch:
        del batch[b"b"]
        batch[b"c"] = b"5"
    same(b"b", b"c")
    assert store[b"c"] == b"5"


def test_a_rolled_back_transaction_leaves_no_value_in_the_cache(store: SqliteDB) -> None:
    store[b"a"] = b"1"
    store.commit()

    def fail() -> None:
        with store.transaction():
            store[b"a"] = b"2"
            with store.atomic_batch() as batch:
                batch[b"b"] = b"3"
            assert (store[b"a"], store[b"b"]) == (b"2", b"3")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert store[b"a"] == b"1"
    assert b"b" not in store


def test_the_cache_starts_over_past_its_bound(
    store: SqliteDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kvstore, "READ_CACHE_ENTRIES", 3)
    for n in range(10):
        store[bytes([n])] = bytes([n, n])
    for n in range(10):
        assert store[bytes([n])] == bytes([n, n])
    assert len(store._cache) <= 3


# -- helpers ------------------------------------------------------------------------------


def run_python(snippet: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


class Child:
    """A Python snippet in a child process; its output goes to files, never a blocking pipe."""

    def __init__(self, snippet: str, directory: Path) -> None:
        self.out = directory / "child.out"
        self.err = directory / "child.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(snippet)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
            )

    def lines(self) -> list[str]:
        """The complete lines printed so far (a line cut by a kill has no newline yet)."""
        return self.out.read_text().split("\n")[:-1]

    def wait_for_lines(self, count: int) -> list[str]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            lines = self.lines()
            if len(lines) >= count:
                return lines
            if self.process.poll() is not None:
                pytest.fail(f"child exited with {self.process.returncode}: {self.err.read_text()}")
            time.sleep(0.02)
        pytest.fail(f"no {count} lines from the child in {TIMEOUT}s: {self.err.read_text()}")

    def stop(self) -> int:
        """Close its stdin and wait for it to exit."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(TIMEOUT)

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(TIMEOUT)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.kill()
        assert self.process.stdin is not None
        self.process.stdin.close()
