"""The outbox on its own: durable, exclusive, bound to one signer."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from node.exceptions import OutboxError, OutboxLockedError
from node.sdk import Client, Outbox
from node.sdk.outbox import DATABASE, NewEntry

HEAD = "0x" + "11" * 32
BATCH = "0x" + "22" * 32


def entry(nonce: int, heads: dict[str, str] | None = None) -> NewEntry:
    return NewEntry("event", {"nonce": nonce}, (f"0x{nonce:064x}",), heads or {}, nonce)


def test_entries_survive_a_reopen_in_order(tmp_path: Path) -> None:
    with Outbox(tmp_path) as outbox:
        outbox.add([entry(3, {BATCH: HEAD}), entry(4)])
        outbox.add([entry(5)], meta={"next_nonce": 6})
    with Outbox(tmp_path) as outbox:
        pending = outbox.pending()
        heads = outbox.pending_heads()
        top = outbox.max_nonce()
        remembered = outbox.meta("next_nonce")

    assert [e.body["nonce"] for e in pending] == [3, 4, 5]
    assert [e.seq for e in pending] == sorted(e.seq for e in pending)
    assert heads == {BATCH: HEAD}
    assert top == 5
    assert remembered == 6


def test_a_delivered_entry_is_gone_and_a_rejected_one_kept_with_its_problem(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path) as outbox:
        first, second = outbox.add([entry(1, {BATCH: HEAD}), entry(2)])
        outbox.delivered([first])
        outbox.reject(second, {"code": "head-mismatch"})
        assert outbox.pending() == []
        assert outbox.pending_heads() == {}
        (kept,) = outbox.rejected()
        outbox.requeue(kept.seq)
        assert [e.seq for e in outbox.pending()] == [second.seq]
        with pytest.raises(OutboxError):
            outbox.requeue(kept.seq)  # not rejected any more

    assert kept.problem == {"code": "head-mismatch"}
    assert kept.rejected_at is not None


def test_one_client_at_a_time(tmp_path: Path) -> None:
    with Outbox(tmp_path):
        with pytest.raises(OutboxLockedError):
            Outbox(tmp_path)
        other_process = subprocess.run(
            [sys.executable, "-c", f"from node.sdk import Outbox; Outbox({str(tmp_path)!r})"],
            capture_output=True,
            text=True,
            check=False,
        )
    assert other_process.returncode != 0
    assert "OutboxLockedError" in other_process.stderr
    Outbox(tmp_path).close()  # free again


def test_a_file_that_is_not_an_outbox_is_refused(tmp_path: Path) -> None:
    (tmp_path / DATABASE).write_bytes(b"not a database" * 100)
    with pytest.raises(OutboxError):
        Outbox(tmp_path)
    Outbox(tmp_path / "elsewhere").close()  # the lock was released: the failure left nothing


def test_an_outbox_of_a_newer_sdk_is_refused(tmp_path: Path) -> None:
    Outbox(tmp_path).close()
    with sqlite3.connect(tmp_path / DATABASE) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(OutboxError, match="newer"):
        Outbox(tmp_path)


def test_an_outbox_with_another_signers_waiting_events_is_refused(tmp_path: Path) -> None:
    first, second = Account.create(), Account.create()
    with Client("http://127.0.0.1:9", key=first, outbox=tmp_path) as client:
        client.outbox.add([entry(1)])
    with pytest.raises(OutboxError, match="still to send"):
        Client("http://127.0.0.1:9", key=second, outbox=tmp_path)
    Outbox(tmp_path).close()  # the refused client released the outbox
    with Client("http://127.0.0.1:9", key=first, outbox=tmp_path) as client:
        client.outbox.delivered(client.outbox.pending())
    with Client("http://127.0.0.1:9", key=second, outbox=tmp_path) as client:
        assert client.outbox.meta("signer") == second.address
        assert client.outbox.meta("next_nonce") is None  # counted from the gateway's again
        assert client.outbox.max_nonce() is None


def test_remembered_heads_keep_the_newest(tmp_path: Path) -> None:
    with Outbox(tmp_path, max_heads=3) as outbox:
        outbox.remember_heads({f"0x{i:064x}": HEAD for i in range(2)})
        outbox.remember_heads({f"0x{i:064x}": HEAD for i in range(2, 5)})
        kept = outbox.remembered_heads(f"0x{i:064x}" for i in range(5))

    assert sorted(kept) == [f"0x{i:064x}" for i in range(2, 5)]
