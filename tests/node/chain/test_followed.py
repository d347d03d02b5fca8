"""``FollowedChain``: the embedded chain read as its owner writes it (serve's gateway beside
its commit process), transactions handed to the owner; the owner here is in the same
process (a real persistent chain), the gateway's side is what is tested."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.types import Wei

from node.chain.embedded import (
    EmbeddedChain,
    FollowedChain,
    open_embedded_chain,
    serialize_requests,
)
from node.exceptions import ChainUnavailableError

#: The owner's chain (as serve's commit process opens it) and the gateway's.
Chains = tuple[EmbeddedChain, FollowedChain]


@pytest.fixture(scope="module")
def chains(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedChain, FollowedChain]]:
    path = tmp_path_factory.mktemp("followed") / "chain"
    owner = open_embedded_chain(path)
    followed = FollowedChain(path)
    try:
        yield owner, followed
    finally:
        followed.close()
        owner.close()


def pay(w3: Web3, to: str, wei: int) -> None:
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": to, "value": Wei(wei)})
    )


def test_it_reads_each_block_the_owner_commits(chains: Chains) -> None:
    owner, followed = chains
    who = Account.create().address
    before = followed.w3.eth.block_number

    pay(owner.w3, who, 5)

    assert followed.w3.eth.block_number == owner.w3.eth.block_number == before + 1
    assert followed.w3.eth.get_balance(who) == 5
    assert followed.w3.eth.chain_id == owner.w3.eth.chain_id


def test_its_transactions_are_sent_by_the_owner_and_mined_on_its_chain(
    chains: Chains,
) -> None:
    owner, followed = chains
    serialize_requests(owner.w3)
    serialize_requests(followed.w3)  # a followed chain serialises itself: left as it is
    sender = Account.create()
    pay(owner.w3, sender.address, 10**18)
    sent: list[str] = []

    def send_raw(raw: str) -> str:
        sent.append(raw)
        return "0x" + bytes(owner.w3.eth.send_raw_transaction(HexBytes(raw))).hex()

    followed.send_raw = send_raw
    try:
        nonce = followed.w3.eth.get_transaction_count(sender.address, "pending")
        tx = {
            "to": Account.create().address,
            "value": 7,
            "gas": 21_000,
            "maxFeePerGas": followed.w3.eth.gas_price * 2,
            "maxPriorityFeePerGas": 1,
            "nonce": nonce,
            "chainId": followed.w3.eth.chain_id,
        }
        tx_hash = followed.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        receipt = followed.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    finally:
        followed.send_raw = None

    assert len(sent) == 1
    assert receipt["status"] == 1
    assert owner.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"] == receipt["blockNumber"]
    assert followed.w3.eth.get_transaction_count(sender.address) == nonce + 1


def test_without_its_owner_a_transaction_is_refused_and_nothing_changes(
    chains: Chains,
) -> None:
    owner, followed = chains
    head = owner.w3.eth.block_number

    with pytest.raises(ChainUnavailableError, match="not running"):
        followed.w3.eth.send_raw_transaction(b"\x02\xf8")

    assert owner.w3.eth.block_number == head


def test_threads_read_it_at_once_while_the_owner_writes(
    chains: Chains,
) -> None:
    owner, followed = chains
    who = Account.create().address
    seen: list[list[int]] = [[] for _ in range(4)]
    failures: list[BaseException] = []

    def read(mine: list[int]) -> None:
        try:
            for _ in range(20):
                mine.append(followed.w3.eth.get_balance(who))
        except BaseException as exc:
            failures.append(exc)

    readers = [threading.Thread(target=read, args=(mine,)) for mine in seen]
    for thread in readers:
        thread.start()
    for _ in range(5):
        pay(owner.w3, who, 1)
    for thread in readers:
        thread.join(timeout=60)

    assert failures == []
    # Each reader sees committed states only, never one older than it saw before.
    for mine in seen:
        assert len(mine) == 20
        assert mine == sorted(mine)
        assert set(mine) <= {0, 1, 2, 3, 4, 5}
    assert followed.w3.eth.get_balance(who) == 5
