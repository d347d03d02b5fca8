"""Every uint256 and uint64 the node emits in JSON is a decimal string, so that JavaScript
(JSON.parse, ethers, @openzeppelin/merkle-tree) reads it without loss: a random 128-bit
nonce printed as a JSON number became 7.7e+37 in jq and overflowed ethers' route."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from eth_utils.address import to_checksum_address

from node.events.identifiers import parse_identifier
from node.events.submission import submission_document
from node.events.typed_data import DOMAIN_NAME, DOMAIN_VERSION, TRACE_EVENT_FIELDS, Action
from tests.api.conftest import GTIN, Rig

ROOT = Path(__file__).resolve().parents[2]
#: The largest integer a JavaScript number holds exactly.
JS_SAFE = 2**53 - 1
NONCE = 2**127 + 12_345
QUANTITY = 2**200 + 7

VERIFIER = """
const { ethers } = require("ethers");
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const bundle = JSON.parse(require("fs").readFileSync(0, "utf8"));
const [name, version, fields] = JSON.parse(process.argv[1]);
const types = { TraceEvent: fields };
const domain = {
  name, version,
  chainId: bundle.chain.chainId,
  verifyingContract: bundle.chain.batchRegistry,
};
const checked = bundle.events.map((e) => ({
  eventHash: e.eventHash,
  hashMatches: ethers.TypedDataEncoder.hash(domain, types, e.event) === e.eventHash,
  signer: ethers.verifyTypedData(domain, types, e.event, e.signature),
  nonce: e.event.nonce,
  quantity: e.event.quantity,
  proven: e.anchor
    ? StandardMerkleTree.verify(e.anchor.root, ["bytes32"], [e.eventHash], e.anchor.proof)
    : null,
}));
// Completeness (docs/proofs.md): each batch's state leaf against its window's state root.
const STATE = ["bytes32", "bytes32", "uint256", "uint8", "uint256"];
const states = bundle.batches.filter((b) => b.state).map((b) =>
  StandardMerkleTree.verify(
    b.state.stateRoot,
    STATE,
    [b.batchId, b.state.head, b.state.custodian, b.state.status, b.state.count],
    b.state.proof,
  ),
);
console.log(JSON.stringify({ checked, states }));
"""


def unsafe_numbers(value: Any, path: str = "") -> list[str]:
    """Where ``value`` holds a JSON integer JavaScript cannot hold exactly."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [f"{path or '/'}: {value}"] if abs(value) > JS_SAFE else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in unsafe_numbers(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in unsafe_numbers(v, f"{path}/{i}")]
    return []


def lot_with_big_numbers(rig: Rig, nonce: int) -> tuple[str, str]:
    """A lot commissioned and observed with 128-bit nonces from ``nonce`` on and a 201-bit
    quantity, anchored."""
    lot = f"https://id.gs1.org/01/{GTIN}/10/BIG{secrets.token_hex(4).upper()}"
    batch_id = bytes(parse_identifier(lot).batch_id)
    rig.nonces["farm"] = nonce - 1
    commission = rig.sign("farm", Action.COMMISSION, batch_id=batch_id, quantity=QUANTITY)
    observe = rig.sign(
        "farm",
        Action.OBSERVE,
        batch_id=batch_id,
        prev_event_hash=commission.event.digest(rig.node.domain),
    )
    hashes = []
    for signed, identifiers in ((commission, [lot]), (observe, [])):
        document = submission_document(signed) | {"identifiers": identifiers}
        answer = rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
        assert answer.status_code == 202, answer.text
        hashes.append(answer.json()["eventHash"])
    rig.commit()
    return lot, hashes[0]


def test_no_json_the_node_emits_holds_a_number_javascript_would_round(rig: Rig) -> None:
    lot, event_hash = lot_with_big_numbers(rig, NONCE)
    rig.nonces["farm"] = NONCE - 1  # an event of another lot at a nonce already used
    reused = submission_document(rig.sign("farm", Action.OBSERVE, batch_id=bytes(32)))
    farm = rig.accounts["farm"].address
    batch = quote(lot, safe="")
    paths = [
        "/v1/info",
        f"/v1/participants/{farm}/nonce",
        f"/v1/participants/{farm}",
        f"/v1/events/{event_hash}",
        f"/v1/events/{event_hash}/proof",
        f"/v1/batches/{batch}",
        f"/v1/batches/{batch}/bundle",
        f"/v1/batches/{batch}/provenance",
        f"/v1/batches/{batch}/overview",
        "/v1/anchors",
    ]

    answers = {path: rig.client.get(path) for path in paths}
    refused = rig.client.post("/v1/events", json=reused, headers=rig.auth("farm"))

    assert {p: a.status_code for p, a in answers.items()} == dict.fromkeys(paths, 200)
    found = {p: unsafe_numbers(a.json()) for p, a in answers.items()}
    assert found == {p: [] for p in paths}
    assert answers[f"/v1/participants/{farm}/nonce"].json()["nextNonce"] == str(NONCE + 2)
    assert refused.status_code == 409
    assert refused.json()["code"] == "nonce-used"
    assert refused.json()["nonce"] == str(NONCE)
    assert unsafe_numbers(refused.json()) == []
    message = answers[f"/v1/events/{event_hash}"].json()["event"]
    assert (message["nonce"], message["quantity"]) == (str(NONCE), str(QUANTITY))


def test_a_javascript_verifier_checks_a_bundle_with_128_bit_nonces(rig: Rig) -> None:
    lot, _ = lot_with_big_numbers(rig, 3 * NONCE)
    bundle = rig.client.get(f"/v1/batches/{quote(lot, safe='')}/bundle").text
    fields = [{"name": name, "type": kind} for name, kind in TRACE_EVENT_FIELDS]

    done = subprocess.run(
        ["node", "-e", VERIFIER, json.dumps([DOMAIN_NAME, DOMAIN_VERSION, fields])],
        input=bundle,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    checked = answer["checked"]
    assert len(checked) == 2
    assert all(c["hashMatches"] and c["proven"] for c in checked), checked
    assert answer["states"] == [True]  # the lot's state leaf, by OpenZeppelin's library
    assert {c["signer"] for c in checked} == {to_checksum_address(rig.accounts["farm"].address)}
    assert [c["nonce"] for c in checked] == [str(3 * NONCE), str(3 * NONCE + 1)]
    assert checked[0]["quantity"] == str(QUANTITY)
