"""The browser's verifier reads anchor-only bundles (api/static/verify-core.js): it parses
an event's transitions and hashes them into the very transition root the node anchors
(node/proofs/transitions.py), replays the custody rules from the bundle (``applyRules``,
held to node/events/rules.py by tests/web/test_custody_rules.py) and reads
CustodyChallenge's fraud marks; its whole reports — every check of every event and batch,
outcome and detail — are ``tracenode verify``'s, for an honest anchor-only deployment's
bundle, a dishonest window's before and after it is challenged and marked, and bundles
tampered with, through a real read-only JSON-RPC endpoint (node/chain/jsonrpc.py, what
the node's ``/rpc`` answers with) onto an embedded chain with CustodyChallenge."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.types import Wei

from node.chain.deploy import contract, deploy_contracts
from node.chain.jsonrpc import RpcLimits, answer, raw_requests
from node.chain.logs import window_commitment
from node.chain.reader import ChainReader, Contracts
from node.events.hashing import keccak
from node.events.typed_data import ZERO32, Action, TraceEvent
from node.proofs.bundle import Bundle, BundleBatch, BundleEvent, ChainRef, TransitionRef, loads
from node.proofs.challenge import claims, send_claim, simulate
from node.proofs.transitions import transition_tree, transitions
from node.proofs.verify import LATER_UNSEEN, REPLAYED, UNMARKED, report_json, verify_bundle
from node.store.store import Store
from tests.anvil import Anvil
from tests.conftest import make_chain
from tests.node.commit.test_anchor_only import (
    anchor_only_rig,
    bundle_of,
    committed,
    dishonest_window,
    honest_lot,
    reader_of,
)
from tests.node.commit.test_worker import Rig
from tests.web.conftest import Browser
from tests.web.test_verify_core import _checks, assert_same_reports, node_js
from tests.web.test_verify_page import _Relay, choose_file, shown

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


# ----- whole reports against a real anchor-only deployment -----


class _JsonRpc(_Relay):
    """A read-only JSON-RPC endpoint onto an embedded chain on another origin, answered by
    node/chain/jsonrpc.py as the node's /rpc does (one call at a time: the chain is not
    threadsafe), CORS as the relay of tests/web/test_verify_page.py answers it."""

    w3: Web3
    lock: threading.Lock

    def do_POST(self) -> None:  # noqa: N802 (http.server's name, through _Relay)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        send = raw_requests(self.w3)
        with self.lock:
            if isinstance(body, list):
                answered: Any = [answer(self.w3, send, c, RpcLimits()) for c in body]
            else:
                answered = answer(self.w3, send, body, RpcLimits())
        data = json.dumps(answered).encode()
        self.send_response(200)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class Deployment:
    rig: Rig
    rpc: str
    challenge: str


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One anchor-only deployment with its CustodyChallenge, a node's store (SQLite) and
    a JSON-RPC endpoint onto its chain, for the module."""
    chain = make_chain(challenge=True)
    path: Path = tmp_path_factory.mktemp("page-anchor-only") / "store.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    rig = anchor_only_rig(chain, store)
    handler = type("Rpc", (_JsonRpc,), {"w3": chain.w3, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = chain.deployment.custody_challenge
    assert address is not None
    try:
        yield Deployment(rig, f"http://127.0.0.1:{server.server_address[1]}/", address)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        store.close()


def _reports(d: Deployment, cases: dict[str, tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    """Both verifiers' reports of each bundle (with the CustodyChallenge known, or not),
    the page's in one Node process, asserted the same; tracenode verify's."""
    theirs = node_js(
        """
        const out = {};
        for (const [name, c] of Object.entries(data.cases)) {
          const bundle = core.parseBundle(c.bundle);
          const options = { challenge: c.challenge };
          out[name] = await core.verifyBundle(bundle, new core.Rpc(data.rpc), options);
        }
        console.log(JSON.stringify(out));
        """,
        {
            "rpc": d.rpc,
            "cases": {
                name: {"bundle": bundle, "challenge": d.challenge if known else None}
                for name, (bundle, known) in cases.items()
            },
        },
    )
    ours = {}
    readers = {known: reader_of(d.rig, challenge=known) for known in (True, False)}
    for name, (bundle, known) in cases.items():
        ours[name] = report_json(verify_bundle(loads(json.dumps(bundle)), readers[known]))
        assert_same_reports(theirs[name], ours[name], name)
    return ours


def _accepted(report: dict[str, Any], action: str) -> dict[str, str]:
    entry = next(e for e in report["events"] if e["action"] == action)
    return next(c for c in entry["checks"] if c["check"] == "accepted-on-chain")


@pytest.fixture(scope="module")
def honest(deployment: Deployment) -> dict[str, Any]:
    """The bundle of a lot made and shipped in one window, received and observed in the
    next, by an honest anchor-only node."""
    lot = honest_lot(deployment.rig, "page-ao-honest")
    bundle: dict[str, Any] = json.loads(bundle_of(deployment.rig, lot).dumps())
    return bundle


def test_an_honest_anchor_only_bundle_is_replayed_alike(
    deployment: Deployment, honest: dict[str, Any]
) -> None:
    bundle = honest

    # Tampered with: a transition bent, one left out.
    bent = copy.deepcopy(bundle)
    bent["events"][1]["transitions"][0]["post"]["custodian"] = "4"
    dropped = copy.deepcopy(bundle)
    dropped["events"][2]["transitions"] = []
    reports = _reports(
        deployment,
        {
            "honest": (bundle, True),
            "unread": (bundle, False),
            "bent": (bent, True),
            "dropped": (dropped, True),
        },
    )

    ours, unread = reports["honest"], reports["unread"]
    assert ours["outcome"] == unread["outcome"] == "pass", ours["failures"]
    assert _accepted(ours, "SHIP")["detail"] == REPLAYED
    assert _accepted(unread, "SHIP")["detail"] == f"{REPLAYED}; {UNMARKED}"
    [batch] = ours["batches"]
    custody = next(c for c in batch["checks"] if c["check"] == "custody")
    as_of = f"as of block {bundle['batches'][0]['state']['blockNumber']}: {LATER_UNSEEN}"
    assert custody == {
        "check": "custody",
        "outcome": "pass",
        "detail": f"ACTIVE, held by carrier: {REPLAYED}; {as_of}",
    }
    for name in ("bent", "dropped"):
        assert reports[name]["outcome"] == "fail", name


def test_a_dishonest_window_fails_alike_and_once_marked_fails_every_event(
    deployment: Deployment,
) -> None:
    rig = deployment.rig
    lot, root = dishonest_window(rig, "page-ao-dishonest", observed=True)
    document = bundle_of(rig, lot)
    bundle = json.loads(document.dumps())

    before = _reports(deployment, {"unmarked": (bundle, True)})["unmarked"]

    shipped = _accepted(before, "SHIP")
    assert shipped["outcome"] == "fail"
    assert "it breaks a custody rule: only the batch's custodian may do this" in shipped["detail"]
    assert shipped["detail"].endswith("anyone may prove it on-chain (tracenode challenge)")

    # Anyone (here a participant with no stake) proves it to CustodyChallenge.
    w3, address = rig.chain.w3, deployment.challenge
    challenger = rig.chain.keys["regulator"]
    w3.eth.send_transaction(
        {"from": rig.chain.admin, "to": challenger.address, "value": Wei(10**20)}
    )
    report = verify_bundle(loads(document.dumps()), reader_of(rig))
    found = claims(document, report, reader_of(rig))
    claim = next(c for c in found if not simulate(w3, address, c, challenger.address))
    send_claim(w3, address, claim, challenger)

    reports = _reports(deployment, {"marked": (bundle, True), "unread": (bundle, False)})
    after, unread = reports["marked"], reports["unread"]

    marked = f"window 0x{root.hex()} was proven fraudulent on-chain (CustodyChallenge)"
    assert _accepted(after, "SHIP")["detail"].startswith(marked)
    # The observation, which no rule refused, fails with its window too.
    assert _accepted(after, "OBSERVE")["detail"].startswith(marked)
    assert not any(c["check"] == "accepted-on-chain" for c in _events(unread, "OBSERVE"))
    assert report_json(report)["failures"] == before["failures"]


def _events(report: dict[str, Any], action: str) -> list[dict[str, str]]:
    checks: list[dict[str, str]] = next(e for e in report["events"] if e["action"] == action)[
        "checks"
    ]
    return checks


def test_the_page_shows_an_anchor_only_bundle_replayed_check_by_check(
    page: Browser, deployment: Deployment, honest: dict[str, Any], tmp_path: Path
) -> None:
    """The honest bundle chosen as a file on the node's /verify, checked against the
    anchor-only chain's endpoint (another origin): every check shown is tracenode
    verify's. The page's node publishes other contracts, so the fraud marks are not read,
    and the page says so as tracenode verify does."""
    expected = report_json(
        verify_bundle(loads(json.dumps(honest)), reader_of(deployment.rig, challenge=False))
    )

    assert choose_file(page, honest, tmp_path, rpc=deployment.rpc) == "pass"
    checks = shown(page)
    assert checks == _checks(expected)
    assert checks["event #1 accepted-on-chain"] == ("pass", f"{REPLAYED}; {UNMARKED}")


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


def test_a_bundle_cut_before_a_recall_says_it_holds_only_as_of_its_state(
    deployment: Deployment,
) -> None:
    """The chain keeps no head per batch in anchor-only mode: a bundle exported before a
    RECALL's window (or the current one cut there, the earlier state leaf put back) still
    replays to ACTIVE and holds every event up to its state. Both verifiers say that
    custody and completeness hold as of that state's block only, and that later windows
    cannot be seen on-chain in this mode (docs/proofs.md, "Limits of a bundle")."""
    rig = deployment.rig
    lot = honest_lot(rig, "page-ao-cut")
    old = json.loads(bundle_of(rig, lot).dumps())
    rig.submit("regulator", Action.RECALL, lot)
    committed(rig)
    new = json.loads(bundle_of(rig, lot).dumps())
    cut = copy.deepcopy(new)
    cut["events"] = [e for e in new["events"] if e["event"]["action"] != int(Action.RECALL)]
    cut["batches"][0]["state"] = old["batches"][0]["state"]
    assert cut == old

    reports = _reports(deployment, {"current": (new, True), "cut": (cut, True)})

    for name, bundle in (("current", new), ("cut", cut)):
        block = bundle["batches"][0]["state"]["blockNumber"]
        as_of = f"as of block {block}: {LATER_UNSEEN}"
        [batch] = reports[name]["batches"]
        checks = {c["check"]: (c["outcome"], c["detail"]) for c in batch["checks"]}
        status = "RECALLED" if name == "current" else "ACTIVE"
        assert checks["custody"] == ("pass", f"{status}, held by carrier: {REPLAYED}; {as_of}")
        assert checks["complete"][0] == "pass"
        assert checks["complete"][1].endswith(f"as anchored at block {block}; {as_of}")
    assert "a RECALL too, would not show here" in LATER_UNSEEN
