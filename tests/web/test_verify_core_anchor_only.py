"""The browser's verifier reads anchor-only bundles (api/static/verify-core.js): it parses
an event's transitions and hashes them into the very transition root the node anchors
(node/proofs/transitions.py); its whole-report parity with ``tracenode verify`` is for
enforced windows (the custody rules are replayed by ``tracenode verify`` only)."""

from __future__ import annotations

from dataclasses import replace

from node.chain.deploy import contract, deploy_contracts
from node.chain.logs import window_commitment
from node.chain.reader import ChainReader, Contracts
from node.events.hashing import keccak
from node.events.typed_data import ZERO32, Action, TraceEvent
from node.proofs.bundle import Bundle, BundleBatch, BundleEvent, ChainRef, TransitionRef
from node.proofs.transitions import transition_tree, transitions
from tests.anvil import Anvil
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


def test_the_page_reads_an_anchor_only_windows_roots_as_tracenode_verify_does(
    anvil: Anvil,
) -> None:
    """On a real chain (anvil): AnchorRegistry keeps one commitment to an anchor-only
    window's state and transition roots; the page (ChainView.windowRoots) and
    ``tracenode verify`` (ChainReader.window_roots) both take the roots from the window's
    WindowAnchored log, and the commitment has one definition in Solidity, Python and
    JavaScript."""
    w3 = anvil.w3
    admin, node = list(w3.eth.accounts)[:2]
    deployment = deploy_contracts(w3, admin=admin, node=node, challenge=True)
    anchors = contract(w3, "AnchorRegistry", deployment.anchor_registry)
    window, enforced = keccak(b"window"), keccak(b"enforced")
    state_root, transition_root = keccak(b"state"), keccak(b"transitions")
    for tx in (
        anchors.functions.anchorWindow(window, state_root, transition_root, 1, 3),
        anchors.functions.anchor(enforced, 4, 2),
        anchors.functions.anchorState(enforced, keccak(b"enforced state")),
    ):
        w3.eth.wait_for_transaction_receipt(tx.transact({"from": node}), timeout=30)
    contracts = Contracts(
        deployment.participant_registry, deployment.batch_registry, deployment.anchor_registry
    )
    reader = ChainReader(w3, contracts)
    pairs = [(state_root, transition_root), (keccak(b"s"), keccak(b"t")), (ZERO32, b"\x01" * 32)]

    theirs = node_js(
        """
        const view = new core.ChainView(new core.Rpc(data.rpc), data.contracts);
        await view.pin();
        await view.ask(
          data.roots.flatMap((r) => [view.anchor(r), view.stateRoot(r), view.commitment(r)]),
        );
        await view.windowRoots(data.roots);
        console.log(JSON.stringify({
          roots: data.roots.map((r) => [view.get(`state:${r}`), view.get(`transition:${r}`)]),
          commitments: data.pairs.map(([s, t]) => core.windowCommitment(s, t)),
        }));
        """,
        {
            "rpc": anvil.url,
            "contracts": {
                "participantRegistry": deployment.participant_registry.lower(),
                "batchRegistry": deployment.batch_registry.lower(),
                "anchorRegistry": deployment.anchor_registry.lower(),
            },
            "roots": ["0x" + window.hex(), "0x" + enforced.hex()],
            "pairs": [["0x" + s.hex(), "0x" + t.hex()] for s, t in pairs],
        },
    )

    assert reader.window_roots(window) == (state_root, transition_root)
    assert reader.window_roots(enforced) is None
    ours = [
        ["0x" + reader.state_root(r).hex(), "0x" + reader.transition_root(r).hex()]
        for r in (window, enforced)
    ]
    assert theirs["roots"] == ours
    assert ours[0] == ["0x" + state_root.hex(), "0x" + transition_root.hex()]
    assert ours[1] == ["0x" + keccak(b"enforced state").hex(), "0x" + ZERO32.hex()]
    chain = [bytes(anchors.functions.windowCommitment(s, t).call()) for s, t in pairs]
    assert theirs["commitments"] == ["0x" + c.hex() for c in chain]
    assert chain == [window_commitment(s, t) for s, t in pairs]
    assert bytes(anchors.functions.windowCommitmentOf(window).call()) == chain[0]
