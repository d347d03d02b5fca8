"""The browser's verifier reads anchor-only bundles (api/static/verify-core.js): it parses
an event's transitions and hashes them into the very transition root the node anchors
(node/proofs/transitions.py); its whole-report parity with ``tracenode verify`` is for
enforced windows (the custody rules are replayed by ``tracenode verify`` only)."""

from __future__ import annotations

from dataclasses import replace

from node.events.hashing import keccak
from node.events.typed_data import Action, TraceEvent
from node.proofs.bundle import Bundle, BundleBatch, BundleEvent, ChainRef, TransitionRef
from node.proofs.transitions import transition_tree, transitions
from tests.web.test_verify_core import node_js

A, B = keccak(b"lot a"), keccak(b"lot b")


def test_transition_roots_and_parsed_transitions_agree_with_python() -> None:
    made = TraceEvent(Action.COMMISSION, A, product=keccak(b"gtin"), quantity=5, nonce=1)
    ship = TraceEvent(Action.SHIP, A, keccak(b"made"), counterparty=b"\x5a" * 20, nonce=2)
    mixed = TraceEvent(
        Action.TRANSFORM, inputs=(A,), input_prev_hashes=(keccak(b"ship"),), outputs=(B,)
    )
    window = [(keccak(b"made"), made, 3), (keccak(b"ship"), ship, 3), (keccak(b"mix"), mixed, 7)]
    found, _ = transitions(window, first_seq=2**40)
    tree = transition_tree(found)
    items = []
    for (digest, event, _), i in zip(window, range(len(window)), strict=False):
        refs = tuple(
            TransitionRef(t, tuple(tree.proof(k)))
            for k, t in enumerate(found)
            if t.event_hash == digest
        )
        items.append(BundleEvent(digest, event, b"\x01" * 65, transitions=refs))
        del i
    bundle = Bundle(
        subject=A,
        chain=ChainRef(1, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20),
        batches=(BundleBatch(A),),
        lineage=(),
        events=tuple(items),
    )

    theirs = node_js(
        """
        const bundle = core.parseBundle(data.bundle);
        const roots = bundle.events.flatMap((e, i) =>
          e.transitions.map((t) => core.processTransitionProof(data.hashes[i], t)));
        console.log(JSON.stringify(roots));
        """,
        {"bundle": bundle.as_json(), "hashes": ["0x" + d.hex() for d, _, _ in window]},
    )

    assert theirs == ["0x" + tree.root.hex()] * len(found)
    forged = replace(found[0], signer_id=4)
    assert transition_tree([forged, *found[1:]]).root != tree.root
