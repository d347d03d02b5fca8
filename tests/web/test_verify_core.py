"""The browser's verifier (api/static/verify-core.js) agrees with the Python one, run under
Node on the very files the node serves: EIP-712 digests, Merkle proofs, signer recovery
and RFC 8785 payload hashes on random inputs; the contract selectors and log topics it
encodes by hand against the contracts' ABIs; and whole verification reports — every check
of every event and batch, outcome and detail — against ``tracenode verify``'s for a real
node's bundle and for that bundle tampered field by field."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from node.chain.artifacts import load
from node.chain.reader import ChainReader, Contracts
from node.events.hashing import keccak
from node.events.identifiers import (
    Identifier,
    IdentifierKind,
    gs1_check_digit,
    identifier_split,
    parse_identifier,
)
from node.events.merkle import MerkleTree, leaf_hash
from node.events.payload import payload_hash
from node.events.signatures import SECP256K1_N, recover_signer, sign_digest
from node.events.typed_data import TRACE_EVENT_TYPE, Action, BatchId, Domain, TraceEvent
from node.exceptions import InvalidIdentifierError, InvalidPayloadError, InvalidSignatureError
from node.proofs.bundle import loads
from node.proofs.verify import report_json, verify_bundle
from tests.api.server import ROOT
from tests.web.conftest import Site

CORE = (ROOT / "api" / "static" / "verify-core.js").as_uri()


def node_js(body: str, data: Any) -> Any:
    """Run ``body`` as an ES module under Node with ``core`` (verify-core.js) imported and
    ``data`` (JSON from stdin) in scope; its last ``console.log`` is the answer."""
    script = (
        f"import * as core from {json.dumps(CORE)};\n"
        'import { readFileSync } from "node:fs";\n'
        'const data = JSON.parse(readFileSync(0, "utf8"));\n' + body
    )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----- random inputs -----

hash32 = st.binary(min_size=32, max_size=32)
events = st.builds(
    TraceEvent,
    action=st.sampled_from(list(Action)),
    batch_id=hash32,
    prev_event_hash=hash32,
    inputs=st.lists(hash32, max_size=3).map(tuple),
    input_prev_hashes=st.lists(hash32, max_size=3).map(tuple),
    outputs=st.lists(hash32, max_size=3).map(tuple),
    counterparty=st.binary(min_size=20, max_size=20),
    product=hash32,
    quantity=st.integers(0, 2**256 - 1),
    event_time=st.integers(0, 2**63 - 1),
    location=hash32,
    payload_hash=hash32,
    nonce=st.integers(0, 2**256 - 1),
)
domains = st.builds(
    Domain,
    chain_id=st.integers(0, 2**256 - 1),
    verifying_contract=st.binary(min_size=20, max_size=20),
)


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(events, domains), min_size=1, max_size=40))
def test_event_digests_agree_with_python(cases: list[tuple[TraceEvent, Domain]]) -> None:
    theirs = node_js(
        """
        console.log(JSON.stringify(data.map(([message, domain]) => {
          const event = core.parseEvent(message);
          const contract = domain.verifyingContract.toLowerCase();
          const separator = core.domainSeparator(BigInt(domain.chainId), contract);
          return [core.bytesToHex(core.structHash(event)), core.eventDigest(event, separator)];
        })));
        """,
        [[event.message(), domain.as_json()] for event, domain in cases],
    )
    ours = [["0x" + e.struct_hash().hex(), "0x" + e.digest(d).hex()] for e, d in cases]
    assert theirs == ours


@settings(max_examples=5, deadline=None)
@given(st.lists(st.lists(hash32, min_size=1, max_size=40, unique=True), min_size=1, max_size=8))
def test_merkle_proofs_agree_with_python(trees: list[list[bytes]]) -> None:
    cases = []
    for values in trees:
        tree = MerkleTree(values)
        for i, value in enumerate(values):
            cases.append(
                {
                    "hash": "0x" + value.hex(),
                    "proof": ["0x" + p.hex() for p in tree.proof(i)],
                    "root": "0x" + tree.root.hex(),
                    "leaf": "0x" + leaf_hash(value).hex(),
                }
            )
    theirs = node_js(
        """
        const flip = (h) => h.slice(0, 2) + (h[2] === "0" ? "1" : "0") + h.slice(3);
        console.log(JSON.stringify(data.map((c) => [
          core.bytesToHex(core.leafHash(c.hash)),
          core.processProof(c.hash, c.proof),
          // a proof with one digit changed leads elsewhere
          c.proof.length && core.processProof(c.hash, [flip(c.proof[0]), ...c.proof.slice(1)]),
        ])));
        """,
        cases,
    )
    for case, (leaf, root, forged) in zip(cases, theirs, strict=True):
        assert leaf == case["leaf"]
        assert root == case["root"]
        assert forged != case["root"]


def _signature_cases(count: int) -> list[tuple[str, str]]:
    cases = []
    for i in range(count):
        digest = os.urandom(32)
        signature = sign_digest(digest, os.urandom(32))
        r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
        variants = [signature]
        if i % 4 == 1:  # the malleated twin: high s, flipped v
            variants = [r + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - v,))]
        elif i % 4 == 2:
            variants = [signature[:64] + bytes((v - 27,)), signature[:64] + bytes((29,))]
        elif i % 4 == 3:
            variants = [bytes(32) + signature[32:], os.urandom(65)]
        cases += [("0x" + digest.hex(), "0x" + sig.hex()) for sig in variants]
    return cases


def test_signer_recovery_agrees_with_python_including_refusals() -> None:
    cases = _signature_cases(80)
    theirs = node_js(
        """
        console.log(JSON.stringify(data.map(([digest, signature]) => {
          try { return ["ok", core.recoverSigner(digest, signature)]; }
          catch (error) {
            return [error instanceof core.SignatureError ? "refused" : "crashed", error.message];
          }
        })));
        """,
        cases,
    )
    outcomes = set()
    for (digest, signature), answer in zip(cases, theirs, strict=True):
        try:
            ours = [
                "ok",
                "0x"
                + recover_signer(bytes.fromhex(digest[2:]), bytes.fromhex(signature[2:])).hex(),
            ]
        except InvalidSignatureError as exc:
            ours = ["refused", str(exc)]
        assert answer == ours, (digest, signature)
        outcomes.add(ours[0])
    assert outcomes == {"ok", "refused"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_values, min_size=1, max_size=40))
def test_payload_hashes_agree_with_python(payloads: list[Any]) -> None:
    cases = []
    for payload in payloads:
        try:
            expected = "0x" + payload_hash(payload).hex()
        except InvalidPayloadError:
            continue  # no canonical form (a whole float beyond 2^53): never in a bundle
        cases.append([json.dumps(payload), expected])
    theirs = node_js(
        "console.log(JSON.stringify(data.map(([text]) => core.payloadHash(JSON.parse(text)))));",
        cases,
    )
    assert theirs == [expected for _, expected in cases]


def test_selectors_topics_and_the_type_are_the_contracts() -> None:
    theirs = node_js(
        """console.log(JSON.stringify({
          selectors: core.SELECTORS, signatures: core.SIGNATURES, topics: core.TOPICS,
          type: core.TRACE_EVENT_TYPE,
        }));""",
        None,
    )
    abis = {
        name: load(name).abi
        for name in ("ParticipantRegistry", "AnchorRegistry", "BatchRegistry", "CustodyChallenge")
    }

    def signature(entry: dict[str, Any]) -> str:
        return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"

    functions = {
        signature(e): keccak(signature(e).encode())[:4]
        for abi in abis.values()
        for e in abi
        if e["type"] == "function"
    }
    events_by_name = {
        e["name"]: "0x" + keccak(signature(e).encode()).hex()
        for abi in abis.values()
        for e in abi
        if e["type"] == "event"
    }
    assert set(theirs["selectors"]) == {
        "keyRecord",
        "statusAt",
        "participant",
        "anchorOf",
        "stateRootOf",
        "windowCommitmentOf",
        "nextSequence",
        "batch",
        "licenceAt",
        "registrarOf",
        "fraudOf",
        "registries",
    }
    for name, selector in theirs["selectors"].items():
        assert selector == "0x" + functions[theirs["signatures"][name]].hex(), name
    assert theirs["topics"] == {name: events_by_name[name] for name in theirs["topics"]}
    assert theirs["type"] == TRACE_EVENT_TYPE


def _gtin(digits: int, rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(digits - 1))
    return body + str(gs1_check_digit(body))


def _spellings(rng: random.Random) -> list[str]:
    """Identifiers in every form the node reads, canonicalised by it below."""
    texts = []
    for digits in (8, 12, 13, 14):
        for _ in range(4):
            gtin = _gtin(digits, rng)
            texts += [
                f"https://example.com/shop/01/{gtin}/10/L%2F{rng.randrange(10**6)}",
                f"https://id.gs1.org/01/{gtin}/21/S-{rng.randrange(10**6)}?17=261231",
                f"(01){gtin.zfill(14)}(10)A.B-{rng.randrange(100)}",
            ]
    for length in range(6, 13):  # EPC URNs: every company prefix length
        company = "".join(rng.choice("0123456789") for _ in range(length))
        reference = "".join(rng.choice("0123456789") for _ in range(13 - length))
        texts += [
            f"urn:epc:class:lgtin:{company}.{reference}.LOT{length}",
            f"urn:epc:id:sgtin:{company}.{reference}.{length}%2F1",
        ]
    texts += [
        "88.1/x",
        "88.123.45/Lot-1",
        "88.0123.45/lot-1",
        "88.123.45.6.7/a/b.c",
        "hdl:20.500.12345/x",
        "https://hdl.handle.net/88.123/%C3%A9t%C3%A9",
        "0.0/a",
        ".".join(str(i) for i in range(40)) + "/deep",  # longer than 64: only its ancestors
        "1" * 70 + ".5/x",  # no group short enough: no candidate at all
        "9" * 30 + "." + "8" * 33 + "/edge",  # exactly 64
        "9" * 30 + "." + "8" * 34 + "/edge",  # 65
        "0x" + "ab" * 32,  # a bare batch id: no identifier
        "0X" + "CD" * 32,
    ]
    return texts


def test_identifier_splits_agree_with_python() -> None:
    """verify-core.js's identifierSplit reads every canonical identifier as
    identifier_split does: the kind and the prefix candidates, longest first."""
    rng = random.Random(20261204)
    identifiers = [parse_identifier(text) for text in _spellings(rng)]
    # Open identifiers (no prefix kind: a node-local urn:, allowed by a node's policy)
    # as the parser reads them, and one no parser reads, as the contracts see it.
    for text in ("urn:tracenode:lot-1", "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", "acme:7"):
        identifiers.append(parse_identifier(text))
    identifiers.append(Identifier(IdentifierKind.HANDLE, "x/1.2/y", BatchId(keccak(b"x/1.2/y"))))
    ours: list[Any] = []
    for identifier in identifiers:
        try:
            split = identifier_split(identifier)
        except InvalidIdentifierError:
            ours.append(None)
            continue
        ours.append({"kind": split.kind.name, "candidates": list(split.candidates)})
    theirs = node_js(
        "console.log(JSON.stringify(data.map((i) => core.identifierSplit(i))));",
        [i.canonical for i in identifiers],
    )
    assert theirs == ours
    assert {o["kind"] if o else None for o in ours} == {"GS1", "HANDLE", "OTHER", None}
    assert {len(o["candidates"]) for o in ours if o} >= {0, 1, 2, 3, 5, 9}


# ----- whole reports, against a real node -----


def _flip(value: str, position: int) -> str:
    data = bytearray.fromhex(value[2:])
    data[position] ^= 1
    return "0x" + data.hex()


def _tampered(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The bundle, and one copy per kind of change (tests/node/provenance/test_tampering.py
    has the full list for the Python verifier)."""
    events = bundle["events"]
    anchored = [i for i, e in enumerate(events) if "anchor" in e]
    with_payload = next(i for i, e in enumerate(events) if "payload" in e)
    observed = next(i for i, e in enumerate(events) if e["event"]["action"] == int(Action.OBSERVE))
    stated = next(i for i, b in enumerate(bundle["batches"]) if "state" in b)
    changes: dict[str, Any] = {
        "untouched": lambda b: None,
        "signature s": lambda b: b["events"][3].update(
            signature=_flip(b["events"][3]["signature"], 40)
        ),
        "signature v": lambda b: b["events"][3].update(
            signature=b["events"][3]["signature"][:-2] + "1d"
        ),
        "proof": lambda b: b["events"][anchored[1]]["anchor"]["proof"].__setitem__(
            0, _flip(b["events"][anchored[1]]["anchor"]["proof"][0], 0)
        ),
        "nonce": lambda b: b["events"][2]["event"].update(
            nonce=str(int(b["events"][2]["event"]["nonce"]) + 1)
        ),
        "payload": lambda b: b["events"][with_payload].update(payload={"altered": True}),
        "root": lambda b: b["events"][anchored[2]]["anchor"].update(
            root=_flip(b["events"][anchored[2]]["anchor"]["root"], 3)
        ),
        "transaction": lambda b: b["events"][anchored[2]]["anchor"].update(
            txHash=_flip(b["events"][anchored[2]]["anchor"]["txHash"], 3)
        ),
        "block": lambda b: b["events"][anchored[2]]["anchor"].update(
            blockNumber=str(int(b["events"][anchored[2]]["anchor"]["blockNumber"]) + 1)
        ),
        "event hash": lambda b: b["events"][1].update(
            eventHash=_flip(b["events"][1]["eventHash"], 1)
        ),
        "a middle event removed": lambda b: b["events"].pop(len(b["events"]) // 2),
        "the last event removed": lambda b: b["events"].pop(),
        # completeness: what only the anchored state of a batch shows
        "an observation removed": lambda b: b["events"].pop(observed),
        "an observation repeated": lambda b: b["events"].insert(
            observed + 1, copy.deepcopy(b["events"][observed])
        ),
        "a state's count": lambda b: b["batches"][stated]["state"].update(
            count=str(int(b["batches"][stated]["state"]["count"]) + 1)
        ),
        "a state removed": lambda b: b["batches"][stated].pop("state"),
        "subject": lambda b: b.update(subject=b["batches"][-1]["batchId"]),
        "lineage link": lambda b: b["lineage"][0].update(
            eventHash=_flip(b["lineage"][0]["eventHash"], 1)
        ),
        "registries swapped": lambda b: b["chain"].update(
            participantRegistry=b["chain"]["anchorRegistry"],
            anchorRegistry=b["chain"]["participantRegistry"],
        ),
        "chain id": lambda b: b["chain"].update(chainId=str(int(b["chain"]["chainId"]) + 1)),
    }
    out = {}
    for name, change in changes.items():
        copied = copy.deepcopy(bundle)
        change(copied)
        out[name] = copied
    return out


def _checks(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    flat = {f"bundle {c['check']}": (c["outcome"], c["detail"]) for c in report["checks"]}
    for e in report["events"]:
        for c in e["checks"]:
            flat[f"event #{e['index']} {c['check']}"] = (c["outcome"], c["detail"])
    for b in report["batches"]:
        for c in b["checks"]:
            flat[f"batch {b['batchId']} {c['check']}"] = (c["outcome"], c["detail"])
    return flat


def test_whole_reports_agree_with_tracenode_verify_on_a_real_and_tampered_bundles(
    site: Site,
) -> None:
    cheese = site.demo.lots["cheese"]
    bundle = httpx.get(f"{site.url}/v1/batches/{cheese}/bundle", timeout=60).json()
    cases = _tampered(bundle)
    rpc = f"{site.url}/rpc"
    theirs = node_js(
        """
        const out = {};
        for (const [name, doc] of Object.entries(data.cases)) {
          const report = await core.verifyBundle(core.parseBundle(doc), new core.Rpc(data.rpc));
          out[name] = report;
        }
        console.log(JSON.stringify(out));
        """,
        {"cases": cases, "rpc": rpc},
    )
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60}))
    for name, document in cases.items():
        parsed = loads(json.dumps(document))
        contracts = Contracts(
            Web3.to_checksum_address(parsed.chain.participant_registry),
            Web3.to_checksum_address(parsed.chain.batch_registry),
            Web3.to_checksum_address(parsed.chain.anchor_registry),
        )
        ours: dict[str, Any] = report_json(verify_bundle(parsed, ChainReader(w3, contracts)))
        js = theirs[name]
        assert js["outcome"] == ours["outcome"] == ("pass" if name == "untouched" else "fail"), name
        mine, reference = _checks(js), _checks(ours)
        if ours["checks"][0]["outcome"] == "fail":
            # chain: nothing else is checked (Python's report has no other check at all)
            assert {k: mine[k] for k in reference} == reference, name
            assert {o for k, (o, _) in mine.items() if k not in reference} == {"skipped"}, name
            assert js["failures"] == ours["failures"], name
            continue
        assert mine == reference, name
        assert js["failures"] == ours["failures"], name
        assert [_summary(e) for e in js["events"]] == [_summary(e) for e in ours["events"]], name
        assert [_summary(b) for b in js["batches"]] == [_summary(b) for b in ours["batches"]], name


def both_reports(site: Site, bundle: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The browser's report of ``bundle`` and ``tracenode verify``'s, against the site's
    chain."""
    return both_reports_at(f"{site.url}/rpc", bundle)


def both_reports_at(rpc: str, bundle: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The browser's report of ``bundle`` and ``tracenode verify``'s, against the chain
    behind the JSON-RPC endpoint ``rpc`` (a node's ``/rpc``)."""
    js = node_js(
        "console.log(JSON.stringify(await core.verifyBundle(core.parseBundle(data.bundle), "
        "new core.Rpc(data.rpc))));",
        {"bundle": bundle, "rpc": rpc},
    )
    parsed = loads(json.dumps(bundle))
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60}))
    contracts = Contracts(
        Web3.to_checksum_address(parsed.chain.participant_registry),
        Web3.to_checksum_address(parsed.chain.batch_registry),
        Web3.to_checksum_address(parsed.chain.anchor_registry),
    )
    ours: dict[str, Any] = report_json(verify_bundle(parsed, ChainReader(w3, contracts)))
    return js, ours


def assert_same_reports(js: dict[str, Any], ours: dict[str, Any], name: str = "") -> None:
    """Every check of every event and batch, outcome and detail, the failures and what the
    reports say of each event and batch besides: the same."""
    assert js["outcome"] == ours["outcome"], name
    assert _checks(js) == _checks(ours), name
    assert js["failures"] == ours["failures"], name
    assert [_summary(e) for e in js["events"]] == [_summary(e) for e in ours["events"]], name
    assert [_summary(b) for b in js["batches"]] == [_summary(b) for b in ours["batches"]], name


def test_a_lot_made_without_the_licence_fails_alike_naming_the_holder(site: Site) -> None:
    """The hostile participant's COMMISSION of a lot under the demo farm's prefix, refused
    by the chain: both verifiers fail its licence, naming the farm (a holder that signed
    nothing in the bundle), and agree on every other check."""
    js, ours = both_reports(site, site.squat)

    mine, reference = _checks(js), _checks(ours)
    # The browser shows a rejection as the contract's raw error data (docs/proofs.md).
    rejected = "event #0 accepted-on-chain"
    assert mine.pop(rejected)[0] == reference.pop(rejected)[0] == "fail"
    assert mine == reference
    assert [_summary(b) for b in js["batches"]] == [_summary(b) for b in ours["batches"]]
    (licence,) = [c for c in ours["batches"][0]["checks"] if c["check"] == "licence"]
    assert licence["outcome"] == "fail"
    assert "prefix 9506000 was licensed to Green Valley Farm at block " in licence["detail"]
    assert ours["batches"][0]["licence"]["holder"]["name"] == "Green Valley Farm"


def test_a_lot_from_outside_and_out_again_verifies_alike(site: Site) -> None:
    """A lot received from outside the network (no producer here, under a prefix nobody
    in it holds) and shipped out again: both verifiers pass it, mark where its history
    here starts, and call it EXPORTED."""
    lot = parse_identifier(site.outside).batch_id_hex
    bundle = httpx.get(f"{site.url}/v1/batches/{lot}/bundle", timeout=60).json()
    js, ours = both_reports(site, bundle)

    assert js["outcome"] == ours["outcome"] == "pass", ours["failures"]
    assert _checks(js) == _checks(ours)
    assert [_summary(b) for b in js["batches"]] == [_summary(b) for b in ours["batches"]]
    (batch,) = ours["batches"]
    assert (batch["adoptedAt"], batch["status"], batch["licence"]) == (0, "EXPORTED", None)
    (licence,) = [c for c in batch["checks"] if c["check"] == "licence"]
    assert licence["detail"].startswith("GTIN 04012345000016: received from outside TraceNode by ")


def test_a_lot_first_seen_mid_chain_verifies_alike_labelled_so(site: Site) -> None:
    """A lot the farm, its brand owner, first named in an EPCIS shipping: both verifiers
    pass it and mark its adoption as first seen mid-chain (docs/epcis.md)."""
    lot = parse_identifier(site.midchain).batch_id_hex
    bundle = httpx.get(f"{site.url}/v1/batches/{lot}/bundle", timeout=60).json()
    js, ours = both_reports(site, bundle)

    assert js["outcome"] == ours["outcome"] == "pass", ours["failures"]
    assert _checks(js) == _checks(ours)
    assert [_summary(b) for b in js["batches"]] == [_summary(b) for b in ours["batches"]]
    (batch,) = ours["batches"]
    assert (batch["adoptedAt"], batch["firstSeenMidChain"]) == (0, True)
    assert [e["action"] for e in ours["events"]] == ["RECEIVE", "SHIP"]


def test_a_lot_under_an_open_identifier_verifies_alike_labelled_node_local(site: Site) -> None:
    """A lot under urn:acme:lot:7, made while the root allowed open identifiers for the
    node: both verifiers pass it, skip its licence check and say why in the same words."""
    lot = parse_identifier(site.open_lot).batch_id_hex
    bundle = httpx.get(f"{site.url}/v1/batches/{lot}/bundle", timeout=60).json()
    js, ours = both_reports(site, bundle)

    assert js["outcome"] == ours["outcome"] == "pass", ours["failures"]
    assert _checks(js) == _checks(ours)
    (batch,) = ours["batches"]
    assert (batch["identifier"], batch["licence"]) == (site.open_lot, None)
    (licence,) = [c for c in batch["checks"] if c["check"] == "licence"]
    assert licence["outcome"] == "skipped"
    assert licence["detail"].startswith(
        f"{site.open_lot}: node-local identifier: no prefix, no brand owner; allowed by the "
        "open-identifier policy of "
    )


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    """What a report says of an event or a batch besides its checks."""
    return {k: v for k, v in item.items() if k != "checks"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the bundle: must be an object"),
        ({"format": "tracenode-bundle/1"}, "/format: tracenode-bundle/1 is retired"),
        ({"format": "tracenode-bundle/3"}, "lacks subject"),
        (
            {
                "format": "tracenode-bundle/2",
                "subject": "0x" + "11" * 32,
                "chain": {
                    "chainId": "1",
                    "participantRegistry": "0x" + "22" * 20,
                    "batchRegistry": "0x" + "33" * 20,
                    "anchorRegistry": "0x" + "44" * 20,
                },
                "batches": [{"batchId": "0x" + "11" * 32}],
                "lineage": [],
                "events": [
                    {
                        "eventHash": "0x" + "55" * 32,
                        "event": TraceEvent(Action.COMMISSION).message(),
                        "signature": "0x" + "66" * 64,
                    }
                ],
            },
            "/events/0/signature: must be 65 bytes",
        ),
    ],
)
def test_malformed_bundles_are_refused_naming_the_field(document: Any, message: str) -> None:
    answer = node_js(
        """
        try { core.parseBundle(data); console.log(JSON.stringify(["accepted", ""])); }
        catch (error) { console.log(JSON.stringify([error.constructor.name, error.message])); }
        """,
        document,
    )
    assert answer[0] == "BundleError"
    assert message in answer[1]
