"""The contracts as the node sees them: one EIP-712 definition, relayed events, decoded errors."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from node.chain.errors import decode_error, revert_data
from node.events.typed_data import (
    TRACE_EVENT_TYPEHASH,
    Action,
    BatchStatus,
    TraceEvent,
    typed_data,
)
from node.exceptions import BatchExistsError, ContractError, MissingRoleError
from tests.conftest import Chain

GTIN_PRODUCT = keccak(b"https://id.gs1.org/01/09506000134352")


def signed(event: TraceEvent, account: LocalAccount, chain: Chain) -> tuple[object, ...]:
    """The ABI tuple of a SignedEvent, signed with a raw hash signature (the node's fast path)."""
    signature = Account.unsafe_sign_hash(event.digest(chain.domain), account.key)
    return (
        event.as_abi_tuple(),
        signature.v,
        signature.r.to_bytes(32, "big"),
        signature.s.to_bytes(32, "big"),
    )


def commission(batch_id: bytes, nonce: int = 0) -> TraceEvent:
    return TraceEvent(
        Action.COMMISSION,
        batch_id=batch_id,
        product=GTIN_PRODUCT,
        quantity=1200,
        event_time=1_732_000_000_000,
        payload_hash=keccak(b"payload"),
        nonce=nonce,
    )


def test_typehash_is_the_contracts(chain: Chain) -> None:
    assert chain.batches.functions.TRACE_EVENT_TYPEHASH().call() == TRACE_EVENT_TYPEHASH


hashes = st.binary(min_size=32, max_size=32)
events = st.builds(
    TraceEvent,
    action=st.sampled_from(Action),
    batch_id=hashes,
    prev_event_hash=hashes,
    inputs=st.lists(hashes, max_size=3).map(tuple),
    input_prev_hashes=st.lists(hashes, max_size=3).map(tuple),
    outputs=st.lists(hashes, max_size=3).map(tuple),
    counterparty=st.binary(min_size=20, max_size=20),
    product=hashes,
    quantity=st.integers(0, 2**256 - 1),
    event_time=st.integers(0, 2**64 - 1),
    location=hashes,
    payload_hash=hashes,
    nonce=st.integers(0, 2**256 - 1),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=events)
def test_contract_and_python_hash_events_alike(chain: Chain, event: TraceEvent) -> None:
    assert chain.batches.functions.hashEvent(event.as_abi_tuple()).call() == event.digest(
        chain.domain
    )


def test_wallet_signature_is_accepted_by_the_contract(chain: Chain) -> None:
    """A signature made by eth-account's sign_typed_data (signTypedData_v4) executes on-chain."""
    farm = chain.keys["farm"]
    event = commission(os.urandom(32))
    wallet = Account.sign_typed_data(farm.key, full_message=typed_data(event, chain.domain))

    chain.batches.functions.submit(
        (
            event.as_abi_tuple(),
            wallet.v,
            wallet.r.to_bytes(32, "big"),
            wallet.s.to_bytes(32, "big"),
        )
    ).transact({"from": chain.node})

    assert wallet.message_hash == event.digest(chain.domain)
    batch = chain.batches.functions.batch(event.batch_id).call()
    assert batch[3] == BatchStatus.ACTIVE
    assert batch[4] == event.digest(chain.domain)


def test_relay_applies_good_events_and_reports_bad_ones(chain: Chain) -> None:
    farm, carrier = chain.keys["farm"], chain.keys["carrier"]
    lot = os.urandom(32)
    first = commission(lot, nonce=1)
    by_carrier = commission(os.urandom(32), nonce=1)
    ship = TraceEvent(
        Action.SHIP,
        batch_id=lot,
        prev_event_hash=first.digest(chain.domain),
        counterparty=bytes.fromhex(carrier.address[2:]),
        nonce=2,
    )

    tx = chain.batches.functions.relay(
        [signed(first, farm, chain), signed(by_carrier, carrier, chain), signed(ship, farm, chain)]
    ).transact({"from": chain.node})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)

    rejected = chain.batches.events.EventRejected().process_receipt(receipt, errors=DISCARD)
    assert [log.args.index for log in rejected] == [1]
    error = decode_error(rejected[0].args.reason)
    assert isinstance(error, MissingRoleError)
    assert error.details == {"signer": carrier.address, "action": Action.COMMISSION}
    assert chain.batches.functions.batch(lot).call()[3] == BatchStatus.IN_TRANSIT


def test_submit_revert_decodes_to_a_typed_error(chain: Chain) -> None:
    farm = chain.keys["farm"]
    lot = os.urandom(32)
    event = commission(lot)
    chain.batches.functions.submit(signed(event, farm, chain)).transact({"from": chain.node})

    with pytest.raises(Exception) as raised:  # noqa: PT011 - its type depends on the backend
        chain.batches.functions.submit(signed(commission(lot, nonce=7), farm, chain)).call()

    data = revert_data(raised.value)
    assert data is not None
    error = decode_error(data)
    assert isinstance(error, BatchExistsError)
    assert error.details == {"batchId": lot}


def test_commit_relays_and_anchors_in_one_transaction(chain: Chain) -> None:
    farm = chain.keys["farm"]
    event = commission(os.urandom(32))
    event_hash = event.digest(chain.domain)
    leaf = keccak(keccak(event_hash))  # StandardMerkleTree leaf of a single bytes32 value
    root = leaf  # a one-leaf tree's root is its leaf

    tx = chain.batches.functions.commit([signed(event, farm, chain)], root, 1, 1).transact(
        {"from": chain.node}
    )
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)

    assert receipt["status"] == 1
    assert chain.anchors.functions.isAnchored(root).call()
    assert chain.anchors.functions.verifyEvent(root, [], event_hash).call()
    assert not chain.anchors.functions.verifyEvent(root, [], keccak(b"other")).call()
    assert chain.anchors.functions.nextSequence(chain.node).call() == 2


def test_errors_outside_the_rules_decode_to_contract_error(chain: Chain) -> None:
    with pytest.raises(Exception) as raised:  # noqa: PT011 - its type depends on the backend
        chain.anchors.functions.anchorOf(keccak(b"never anchored")).call()

    data = revert_data(raised.value)
    assert data is not None
    error = decode_error(data)
    assert isinstance(error, ContractError)
    assert error.name == "AnchorRegistryUnknownRoot"
