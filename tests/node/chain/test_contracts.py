"""The contracts as the node sees them: one EIP-712 definition, relayed events, decoded errors."""

from __future__ import annotations

import os
from typing import Any, cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_typing import HexStr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from node.chain.commits import NO_PROOF, CommitClient, IdentifierProof
from node.chain.errors import decode_error, revert_data
from node.chain.registry import ParticipantRegistryClient
from node.events.identifiers import (
    IdentifierKind,
    PrefixKind,
    gtin_check_digit,
    identifier_split,
    parse_identifier,
)
from node.events.typed_data import (
    TRACE_EVENT_TYPEHASH,
    Action,
    BatchStatus,
    TraceEvent,
    typed_data,
)
from node.exceptions import (
    BatchExistsError,
    ContractError,
    InvalidEventError,
    InvalidIdentifierError,
    InvalidIdentifierProofError,
    LicenceNotValidError,
    MissingRoleError,
    OpenIdentifierRefusedError,
    UnlicensedIdentifierError,
)
from tests.conftest import Chain

GTIN_PRODUCT = keccak(b"https://id.gs1.org/01/09506000134352")
#: A GTIN under the fixture farm's company prefix, 0614141.
FARM_GTIN = "00614141123452"


def farm_lot(name: str | None = None) -> tuple[bytes, IdentifierProof]:
    """A lot of the farm's GTIN (a random one by default): its batch id, and its proof."""
    identifier = parse_identifier(
        f"https://id.gs1.org/01/{FARM_GTIN}/10/{name or os.urandom(6).hex()}"
    )
    return identifier.batch_id, identifier_split(identifier).proof("0614141")


def signed(
    event: TraceEvent, account: LocalAccount, chain: Chain, *proofs: IdentifierProof
) -> tuple[object, ...]:
    """The ABI tuple of a SignedEvent, signed with a raw hash signature (the node's fast
    path), with the identifier proofs of the batches it creates."""
    signature = Account.unsafe_sign_hash(event.digest(chain.domain), account.key)
    return (
        event.as_abi_tuple(),
        signature.v,
        signature.r.to_bytes(32, "big"),
        signature.s.to_bytes(32, "big"),
        list(proofs),
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
    lot, proof = farm_lot()
    event = commission(lot)
    wallet = Account.sign_typed_data(farm.key, full_message=typed_data(event, chain.domain))

    chain.batches.functions.submit(
        (
            event.as_abi_tuple(),
            wallet.v,
            wallet.r.to_bytes(32, "big"),
            wallet.s.to_bytes(32, "big"),
            [proof],
        )
    ).transact({"from": chain.node})

    assert wallet.message_hash == event.digest(chain.domain)
    batch = chain.batches.functions.batch(event.batch_id).call()
    assert batch[3] == BatchStatus.ACTIVE
    assert batch[4] == event.digest(chain.domain)


def test_relay_applies_good_events_and_reports_bad_ones(chain: Chain) -> None:
    farm, carrier = chain.keys["farm"], chain.keys["carrier"]
    lot, proof = farm_lot()
    other, other_proof = farm_lot()
    first = commission(lot, nonce=1)
    by_carrier = commission(other, nonce=1)
    ship = TraceEvent(
        Action.SHIP,
        batch_id=lot,
        prev_event_hash=first.digest(chain.domain),
        counterparty=bytes.fromhex(carrier.address[2:]),
        nonce=2,
    )

    tx = chain.batches.functions.relay(
        [
            signed(first, farm, chain, proof),
            signed(by_carrier, carrier, chain, other_proof),
            signed(ship, farm, chain),
        ]
    ).transact({"from": chain.node})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)

    rejected = chain.batches.events.EventRejected().process_receipt(receipt, errors=DISCARD)
    assert [log.args.index for log in rejected] == [1]
    error = decode_error(rejected[0].args.reason)
    assert isinstance(error, MissingRoleError)
    assert error.details == {"signer": carrier.address, "action": Action.COMMISSION}
    assert chain.batches.functions.batch(lot).call()[3] == BatchStatus.IN_TRANSIT


def test_the_embedded_chains_receipt_reads_as_web3s(chain: Chain) -> None:
    farm, carrier = chain.keys["farm"], chain.keys["carrier"]
    lot, proof = farm_lot()
    other, other_proof = farm_lot()
    events = [
        signed(commission(lot, nonce=1), farm, chain, proof),
        signed(commission(other, nonce=1), carrier, chain, other_proof),  # a missing role
    ]
    fast = CommitClient(chain.w3, chain.deployment)
    web3s = CommitClient(chain.w3, chain.deployment)
    web3s.embedded = False
    assert fast.embedded
    tester = cast("Any", chain.w3.provider).ethereum_tester
    tester.disable_auto_mine_transactions()  # both in one block: gas used is the second's own
    try:
        relayed = chain.batches.functions.relay(events).transact(
            {"from": chain.node, "gas": 3_000_000}
        )
        reverted = chain.w3.eth.send_transaction(  # a function BatchRegistry does not have
            {
                "from": chain.admin,  # another sender: each keeps its own pending nonce
                "to": chain.batches.address,
                "data": HexStr("0xdeadbeef"),
                "gas": 90_000,
            }
        )
        assert fast.receipt(relayed) is None  # pending
        tester.mine_blocks()
    finally:
        tester.enable_auto_mine_transactions()

    read = [
        (c.receipt(relayed), c.receipt(reverted), c.receipt(b"\x01" * 32)) for c in (fast, web3s)
    ]

    assert read[0] == read[1]
    ok, failed, unknown = read[0]
    assert ok is not None
    assert failed is not None
    assert unknown is None
    assert (ok.succeeded, len(ok.accepted), len(ok.rejected)) == (True, 1, 1)
    assert not failed.succeeded
    assert ok.gas_used == chain.w3.eth.get_transaction_receipt(relayed)["gasUsed"]
    assert failed.gas_used == chain.w3.eth.get_transaction_receipt(reverted)["gasUsed"]
    assert failed.block_number == ok.block_number


def test_submit_revert_decodes_to_a_typed_error(chain: Chain) -> None:
    farm = chain.keys["farm"]
    lot, proof = farm_lot()
    event = commission(lot)
    chain.batches.functions.submit(signed(event, farm, chain, proof)).transact({"from": chain.node})

    with pytest.raises(Exception) as raised:  # noqa: PT011 - its type depends on the backend
        chain.batches.functions.submit(signed(commission(lot, nonce=7), farm, chain, proof)).call()

    data = revert_data(raised.value)
    assert data is not None
    error = decode_error(data)
    assert isinstance(error, BatchExistsError)
    assert error.details == {"batchId": lot}


def test_commit_relays_and_anchors_in_one_transaction(chain: Chain) -> None:
    farm = chain.keys["farm"]
    lot, proof = farm_lot()
    event = commission(lot)
    event_hash = event.digest(chain.domain)
    leaf = keccak(keccak(event_hash))  # StandardMerkleTree leaf of a single bytes32 value
    root = leaf  # a one-leaf tree's root is its leaf

    tx = chain.batches.functions.commit([signed(event, farm, chain, proof)], root, 1, 1).transact(
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


# ----- identifier authority -----


def submit_error(
    chain: Chain, account: LocalAccount, event: TraceEvent, *proofs: IdentifierProof
) -> Exception:
    """The typed error the contract reverts ``event``'s submission with."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - its type depends on the backend
        chain.batches.functions.submit(signed(event, account, chain, *proofs)).call()
    data = revert_data(raised.value)
    assert data is not None
    return decode_error(data)


def test_commission_under_another_companys_prefix_is_refused(chain: Chain) -> None:
    """The processor (prefix 0614142) cannot create a lot of the farm's GTIN, whatever
    prefix the relayer names; the farm then can."""
    processor = chain.keys["processor"]
    chain.participants.functions.setRoles(2, 3).transact({"from": chain.admin})  # + PRODUCER
    lot, proof = farm_lot("SQUAT")
    identifier = proof[0]
    event = commission(lot)

    for length in (7, 8, 6):
        error = submit_error(chain, processor, event, (identifier, length))
        assert type(error) is UnlicensedIdentifierError
        assert error.details == {"batchId": lot, "participant": 2}
    chain.batches.functions.submit(signed(event, chain.keys["farm"], chain, proof)).transact(
        {"from": chain.node}
    )
    assert chain.batches.functions.batch(lot).call()[0] == 1


def test_bare_batch_id_and_wrong_preimage_cannot_create_a_batch(chain: Chain) -> None:
    farm = chain.keys["farm"]
    lot, proof = farm_lot()
    other, _ = farm_lot()

    assert type(submit_error(chain, farm, commission(lot), NO_PROOF)) is InvalidIdentifierProofError
    assert type(submit_error(chain, farm, commission(other), proof)) is InvalidIdentifierProofError
    assert type(submit_error(chain, farm, commission(lot))) is InvalidEventError


def test_revoked_licence_refuses_new_lots(chain: Chain) -> None:
    farm = chain.keys["farm"]
    chain.participants.functions.revoke(1, "0614141").transact({"from": chain.admin})
    lot, proof = farm_lot()

    error = submit_error(chain, farm, commission(lot), proof)

    assert type(error) is LicenceNotValidError


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(item=st.integers(0, 99_999), lot=st.text(alphabet="ABCXYZ019-", min_size=1, max_size=20))
def test_the_nodes_split_is_what_the_contract_accepts(chain: Chain, item: int, lot: str) -> None:
    """For any lot of a GTIN under the farm's prefix, in any spelling, the proof the commit
    client builds (node/events/identifiers.py's split) is accepted by the contract."""
    body = f"0614141{item:05d}"
    gtin = "0" + body + str(gtin_check_digit("0" + body))
    identifier = parse_identifier(f"urn:epc:class:lgtin:0614141.0{item:05d}.{lot}")
    assert identifier.gtin == gtin
    client = CommitClient(chain.w3, chain.deployment)
    event = commission(identifier.batch_id, nonce=int.from_bytes(os.urandom(8)))
    ((proof,),) = client.identifier_proofs(
        [(event, 1)], {identifier.batch_id: identifier.canonical}
    )

    chain.batches.functions.submit(signed(event, chain.keys["farm"], chain, proof)).transact(
        {"from": chain.node}
    )

    assert proof == (identifier.canonical.encode(), 7)
    assert chain.batches.functions.batch(identifier.batch_id).call()[0] == 1


#: Open identifiers as people write them: a scheme, a colon, then printable ASCII.
open_names = st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{0,6}:[!-~]{1,40}", fullmatch=True)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=open_names)
def test_an_open_identifier_splits_as_the_contract_reads_it(chain: Chain, text: str) -> None:
    """Every open identifier the parser reads, the contract reads as OTHER too (never as a
    GS1 or handle identifier): refused while the node's policy is closed, accepted and
    labelled BatchIdentifierOpen once the root opens it, with the commit client's proof."""
    try:
        identifier = parse_identifier(text)
    except InvalidIdentifierError:
        return  # a locator (x://…) or a form of another kind's scheme (urn:epc:, hdl:…)
    if identifier.kind is not IdentifierKind.OPEN:
        assert text[:4].lower() in ("hdl:", "http") or text[:2].lower() == "0x"
        return
    split = identifier_split(identifier)
    assert split.kind is PrefixKind.OTHER
    client = CommitClient(chain.w3, chain.deployment)
    event = commission(identifier.batch_id, nonce=int.from_bytes(os.urandom(8)))
    ((proof,),) = client.identifier_proofs(
        [(event, 1)], {identifier.batch_id: identifier.canonical}
    )
    assert proof == (text.encode(), 0)

    error = submit_error(chain, chain.keys["farm"], event, proof)
    assert type(error) is OpenIdentifierRefusedError

    registry = ParticipantRegistryClient(chain.w3, chain.deployment)
    registry.set_open_identifiers(chain.admin, registrar=chain.admin, allowed=True)
    try:
        receipt = chain.w3.eth.wait_for_transaction_receipt(
            chain.batches.functions.submit(
                signed(event, chain.keys["farm"], chain, proof)
            ).transact({"from": chain.node})
        )
    finally:
        registry.set_open_identifiers(chain.admin, registrar=chain.admin, allowed=False)
    (log,) = chain.batches.events.BatchIdentifierOpen().process_receipt(receipt, errors=DISCARD)
    assert bytes(log.args.batchId) == identifier.batch_id
