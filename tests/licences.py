"""A batch its creator may not make: a COMMISSION under a prefix its signer does not hold,
committed straight to BatchRegistry (the node would not relay it, nor export it), refused
there as unlicensed, and the proof bundle of it that a dishonest exporter could write."""

from __future__ import annotations

import secrets

from web3.logs import DISCARD

from node.chain.deploy import contract
from node.chain.errors import decode_error
from node.chain.transact import send_transaction
from node.events.hashing import keccak
from node.events.identifiers import identifier_split, parse_identifier
from node.events.signatures import sign_digest
from node.events.typed_data import Action, TraceEvent
from node.exceptions import UnlicensedIdentifierError
from node.proofs.bundle import AnchorRef, Bundle, BundleBatch, BundleEvent, ChainRef
from node.testing.harness import TraceNodeHarness


def refused_commission(h: TraceNodeHarness, who: str, text: str, prefix: str) -> Bundle:
    """``who`` commissions ``text`` naming ``prefix`` (which it does not hold) in a window
    of its own, one event, whose leaf is the root; the chain anchors the root and rejects
    the event. Returns the bundle of that one event, anchored."""
    node = h.node
    identifier = parse_identifier(text)
    event = TraceEvent(
        Action.COMMISSION,
        batch_id=identifier.batch_id,
        product=keccak(b"squat"),
        quantity=1,
        nonce=int.from_bytes(secrets.token_bytes(16)),  # unused: the refusal is the licence's
    )
    digest = event.digest(node.domain)
    signature = sign_digest(digest, bytes(h.keys[who].key))
    root = keccak(keccak(digest))  # a one-leaf StandardMerkleTree
    account = node.node_key(h.password)
    anchors = contract(node.w3, "AnchorRegistry", node.deployment.anchor_registry)
    batches = contract(node.w3, "BatchRegistry", node.deployment.batch_registry)
    first = int(anchors.functions.nextSequence(account.address).call())
    signed = (
        event.as_abi_tuple(),
        signature[64],
        signature[:32],
        signature[32:64],
        [identifier_split(identifier).proof(prefix)],
    )
    receipt = send_transaction(node.w3, batches.functions.commit([signed], root, first, 1), account)
    rejected = batches.events.EventRejected().process_receipt(receipt, errors=DISCARD)
    assert [bytes(log.args.eventHash) for log in rejected] == [digest]
    assert type(decode_error(rejected[0].args.reason)) is UnlicensedIdentifierError
    anchor = AnchorRef(root, (), bytes(receipt["transactionHash"]), int(receipt["blockNumber"]))
    deployment = node.deployment
    chain = ChainRef(
        deployment.chain_id,
        deployment.participant_registry,
        deployment.batch_registry,
        deployment.anchor_registry,
    )
    return Bundle(
        subject=identifier.batch_id,
        chain=chain,
        batches=(BundleBatch(identifier.batch_id, identifier.canonical),),
        lineage=(),
        events=(BundleEvent(digest, event, signature, None, anchor),),
    )
