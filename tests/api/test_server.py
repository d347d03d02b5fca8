"""The gateway as a real uvicorn process (``tracenode serve``) on the embedded chain: a
client holding only /v1/info and a private key signs (eth-account and cast) and submits
events, waits for their proofs, and checks them on-chain with ``cast call`` through /rpc."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from api.cli import app as cli
from node.context import Node, init_node
from node.events.typed_data import Role
from tests.api.server import ROOT, Server, full_document, message_from_info
from tests.wait import wait_until

PASSWORD = "serve test"
CAST = shutil.which("cast") or str(ROOT / "node_modules" / ".bin" / "cast")
GTIN = "09506000134352"


def wait_anchored(url: str, event_hash: str, timeout: float = 60) -> dict[str, Any]:
    """The event's document once it is no longer merely accepted (anchored, or rejected)."""

    def settled() -> dict[str, Any] | None:
        document: dict[str, Any] = httpx.get(f"{url}/v1/events/{event_hash}").json()
        return document if document["status"] != "accepted" else None

    return wait_until(settled, timeout, interval=0.2)


def cast(*args: str) -> str:
    result = subprocess.run([CAST, *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    init_node(data_dir, PASSWORD)
    farm: LocalAccount = Account.create()
    with Node(data_dir) as node:
        node.registry.register(
            node.admin(PASSWORD),
            key=farm.address,
            name="farm",
            roles=Role.PRODUCER,
            prefix="88.123.45",
            licences=("9506000",),
        )
        node.sync_participants()
    created = CliRunner().invoke(
        cli,
        ["apikey", "create", "--participant", farm.address, "--data-dir", str(data_dir)],
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    server = Server(data_dir, PASSWORD, "--commit-interval", "0.2")
    try:
        server.wait_ready()
        yield server, farm, token
    finally:
        code = server.stop()
        assert code == 0, server.output()


def test_a_client_with_only_info_and_a_key_gets_a_proof_that_cast_verifies(served: Any) -> None:
    server, farm, token = served
    url = server.url
    auth = {"Authorization": f"Bearer {token}"}
    info = httpx.get(f"{url}/v1/info").json()
    assert info["contracts"]["custodyChallenge"] is None  # an enforced node has none
    lot = f"https://id.gs1.org/01/{GTIN}/10/SERVE-1"
    batch_id = "0x" + keccak(text=lot).hex()
    message = message_from_info(
        info,
        action=info["actions"]["COMMISSION"],
        batchId=batch_id,
        quantity=5,
        nonce=1,
        eventTime=1_732_000_000_000,
    )
    signed = Account.sign_typed_data(farm.key, full_message=full_document(info, message))

    answer = httpx.post(
        f"{url}/v1/events",
        json={"event": message, "signature": "0x" + signed.signature.hex(), "identifiers": [lot]},
        headers=auth,
    )
    assert answer.status_code == 202, answer.text
    event_hash = answer.json()["eventHash"]
    assert event_hash == "0x" + signed.message_hash.hex()
    anchored = wait_anchored(url, event_hash)
    proof = httpx.get(f"{url}/v1/events/{event_hash}/proof").json()

    assert anchored["status"] == "anchored"
    rpc = f"{url}/rpc"

    def verify_event(leaf: str) -> str:
        """AnchorRegistry.verifyEvent(root, proof, leaf) through the node's /rpc."""
        return cast(
            "call",
            "--rpc-url",
            rpc,
            info["contracts"]["anchorRegistry"],
            "verifyEvent(bytes32,bytes32[],bytes32)(bool)",
            proof["root"],
            "[" + ",".join(proof["proof"]) + "]",
            leaf,
        )

    assert verify_event(event_hash) == "true"
    assert verify_event("0x" + "ab" * 32) == "false"  # tampered
    assert cast("chain-id", "--rpc-url", rpc) == info["chainId"]  # decimal strings both
    assert int(cast("block-number", "--rpc-url", rpc)) >= int(proof["blockNumber"])
    receipt = json.loads(cast("receipt", "--rpc-url", rpc, proof["txHash"], "--json"))
    assert str(int(receipt["blockNumber"], 16)) == proof["blockNumber"]
    assert receipt["status"] == "0x1"
    block = json.loads(cast("block", str(proof["blockNumber"]), "--rpc-url", rpc, "--json"))
    assert block["hash"] == proof["blockHash"]
    logs = json.loads(
        cast(
            "logs",
            "--rpc-url",
            rpc,
            "--from-block",
            str(proof["blockNumber"]),
            "--to-block",
            str(proof["blockNumber"]),
            "--address",
            info["contracts"]["anchorRegistry"],
            "--json",
        )
    )
    assert proof["root"] in {topic for log in logs for topic in log["topics"]} | {
        "0x" + log["data"][2:66] for log in logs
    }
    refused = subprocess.run(
        [CAST, "publish", "--rpc-url", rpc, "0x02f8"], capture_output=True, text=True, check=False
    )
    assert "error code -32601: eth_sendRawTransaction is not served" in refused.stderr

    # The proof bundle, checked by `tracenode verify` through the node's own /rpc only,
    # once the window's state root is anchored too (the transaction after the window's).
    bundle = wait_until(
        lambda: (
            (b := httpx.get(f"{url}/v1/batches/{batch_id}/bundle"))
            .json()["batches"][0]
            .get("state")
            and b
        ),
        30,
        interval=0.2,
    )
    assert bundle.status_code == 200
    # Its completeness by hand with cast (docs/proofs.md, "Completeness"): the state leaf,
    # folded with its proof, is the state root AnchorRegistry holds for the window.
    state = bundle.json()["batches"][0]["state"]
    encoded = cast(
        "abi-encode",
        "f(bytes32,bytes32,uint256,uint8,uint256)",
        batch_id,
        state["head"],
        state["custodian"],
        str(state["status"]),
        state["count"],
    )
    node = cast("keccak", cast("keccak", encoded))
    for sibling in state["proof"]:
        node = cast("keccak", "0x" + "".join(sorted((node[2:], sibling[2:]))))
    anchored_state = cast(
        "call",
        "--rpc-url",
        rpc,
        info["contracts"]["anchorRegistry"],
        "stateRootOf(bytes32)(bytes32)",
        state["root"],
    )
    assert node == anchored_state == state["stateRoot"]
    assert (state["head"], state["count"], state["status"]) == (event_hash, "1", 1)
    path = server.log.parent / "serve-bundle.json"
    path.write_text(bundle.text)
    checked = subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", str(path), "--rpc", rpc, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["outcome"] == "pass"


def test_an_event_signed_with_cast_wallet_sign_is_accepted(served: Any) -> None:
    server, farm, token = served
    url = server.url
    info = httpx.get(f"{url}/v1/info").json()
    batch = httpx.get(f"{url}/v1/batches/https://id.gs1.org/01/{GTIN}/10/SERVE-1").json()
    message = message_from_info(
        info,
        action=info["actions"]["OBSERVE"],
        batchId=batch["batchId"],
        prevEventHash=batch["head"],
        nonce=2,
        eventTime=1_732_000_100_000,
    )

    signature = cast(
        "wallet",
        "sign",
        "--private-key",
        "0x" + bytes(farm.key).hex(),
        "--data",
        json.dumps(full_document(info, message)),
    )
    answer = httpx.post(
        f"{url}/v1/events",
        json={"event": message, "signature": signature},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "accepted"
    assert wait_anchored(url, answer.json()["eventHash"])["status"] == "anchored"
