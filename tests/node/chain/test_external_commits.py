"""CommitClient on a real anvil: fees from the chain, gas from estimation under the caps,
idempotent sending, and the no-op that takes a stuck transaction's nonce."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hexbytes import HexBytes
from web3.exceptions import Web3RPCError

from node.chain.commits import (
    GAS_MARGIN_FIXED,
    GAS_MARGIN_PERCENT,
    TX_GAS_CAP,
    CommitClient,
    SignedTx,
)
from node.exceptions import ChainError
from tests.anvil import Anvil, AnvilNode


@pytest.fixture
def rig(anvil: Anvil, tmp_path: Path) -> Iterator[AnvilNode]:
    made = AnvilNode.deployed(anvil, f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield made
    made.close()


def empty_window(rig: AnvilNode, client: CommitClient, root: bytes | None = None) -> SignedTx:
    """A commit that anchors one root and relays no operation."""
    first_seq = client.next_sequence(rig.key.address)
    return client.build_commit(
        rig.key, [], root=root or os.urandom(32), first_seq=first_seq, event_count=1
    )


def test_fees_follow_the_chains_base_fee_and_priority_fee(rig: AnvilNode) -> None:
    rig.anvil.set_next_base_fee(37 * 10**9)
    rig.anvil.mine()
    client = rig.client()

    fields = empty_window(rig, client).fields()

    base = rig.w3.eth.get_block("latest")["baseFeePerGas"]
    assert base == 37 * 10**9
    tip = rig.w3.eth.max_priority_fee
    assert fields["type"] == 2
    assert (fields["maxPriorityFeePerGas"], fields["maxFeePerGas"]) == (tip, 2 * base + tip)


def test_the_gas_limit_is_the_estimate_with_its_margin(rig: AnvilNode) -> None:
    client = rig.client()
    assert client.estimate_gas  # a JSON-RPC chain
    root = os.urandom(32)
    estimate = client.batches.functions.commit([], root, 1, 1).estimate_gas(
        {"from": rig.key.address}
    )

    tx = empty_window(rig, client, root)
    client.send(tx)
    receipt = rig.w3.eth.wait_for_transaction_receipt(HexBytes(tx.tx_hash))

    assert receipt["status"] == 1
    gas = tx.fields()["gas"]
    assert gas == estimate * (100 + GAS_MARGIN_PERCENT) // 100 + GAS_MARGIN_FIXED
    assert receipt["gasUsed"] <= estimate < gas < 2 * receipt["gasUsed"]


def test_one_transaction_never_asks_for_more_than_the_chain_allows(rig: AnvilNode) -> None:
    block_limit = rig.w3.eth.get_block("latest")["gasLimit"]
    assert block_limit > TX_GAS_CAP
    over_cap = rig.key.sign_transaction(
        {
            "chainId": rig.w3.eth.chain_id,
            "nonce": rig.w3.eth.get_transaction_count(rig.key.address),
            "to": rig.key.address,
            "value": 0,
            "gas": TX_GAS_CAP + 1,
            "maxPriorityFeePerGas": 10**9,
            "maxFeePerGas": 10**11,
        }
    )

    with pytest.raises(Web3RPCError):  # EIP-7825, enforced by this anvil as on mainnet
        rig.w3.eth.send_raw_transaction(over_cap.raw_transaction)

    assert rig.client().gas_cap() == TX_GAS_CAP
    assert rig.client(estimate_gas=False).gas_cap() == block_limit


def test_sending_the_same_bytes_again_is_harmless_and_a_refusal_is_an_error(
    rig: AnvilNode,
) -> None:
    rig.anvil.set_automine(False)
    client = rig.client()
    tx = empty_window(rig, client)

    client.send(tx)
    client.send(tx)  # anvil: "already imported"; the node has it, so all is well
    assert rig.anvil.pending_hashes() == [tx.tx_hash]
    rig.anvil.mine()
    client.send(tx)  # mined: still fine

    assert client.receipt(tx.tx_hash) is not None
    stale = empty_window(rig, client)
    rig.anvil.drop_all()
    rig.anvil.set_next_base_fee(10 * stale.fields()["maxFeePerGas"])
    rig.anvil.mine()
    with pytest.raises(ChainError):  # the fee cap is now below the base fee
        client.send(stale)
    assert not client.known(stale.tx_hash)


def test_a_cancel_outbids_the_transaction_it_replaces_and_spends_its_nonce(
    rig: AnvilNode,
) -> None:
    rig.anvil.set_automine(False)
    client = rig.client()
    stuck = empty_window(rig, client)
    client.send(stuck)

    cancel = client.build_cancel(rig.key, stuck)
    client.send(cancel)

    old, new = stuck.fields(), cancel.fields()
    assert new["nonce"] == old["nonce"]
    assert new["maxPriorityFeePerGas"] * 100 >= old["maxPriorityFeePerGas"] * 110
    assert new["maxFeePerGas"] * 100 >= old["maxFeePerGas"] * 110
    assert rig.anvil.pending_hashes() == [cancel.tx_hash]  # it took the commit's place
    rig.anvil.mine()
    head = rig.w3.eth.block_number
    assert client.nonce_spent(rig.key.address, stuck.nonce, at=head)
    assert not client.nonce_spent(rig.key.address, stuck.nonce, at=head - 1)
    assert client.receipt(stuck.tx_hash) is None
    assert not client.known(stuck.tx_hash)
