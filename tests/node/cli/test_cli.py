"""The CLI end to end on a real data directory: init, participants, signed events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli import app
from node.context import Node
from node.events.typed_data import BatchStatus

PASSWORD = "correct horse battery staple"
LOT = "https://id.gs1.org/01/09506000134352/10/LOT-7"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("node") / "data"
    result = CliRunner().invoke(
        app, ["init", "--data-dir", str(path)], env={"TRACENODE_PASSWORD": PASSWORD}
    )
    assert result.exit_code == 0, result.output
    return path


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--data-dir", str(data_dir)], env={"TRACENODE_PASSWORD": PASSWORD}
    )
    return result.exit_code, result.output


def test_init_writes_encrypted_keys_and_refuses_a_second_init(data_dir: Path) -> None:
    node_key = data_dir / "keystore" / "node.json"

    code, output = run(data_dir.parent, "init")  # parent is not initialised: a fresh one works
    again, again_output = run(data_dir, "init")

    assert code == 0, output
    assert node_key.stat().st_mode & 0o777 == 0o600
    assert "crypto" in json.loads(node_key.read_text())
    assert again == 1
    assert "[configuration-error]" in again_output


def test_participants_and_signed_events_through_the_cli(data_dir: Path) -> None:
    keys = data_dir / "keystore" / "participants"
    assert (
        run(
            data_dir,
            "participant",
            "add",
            "Farm",
            "--roles",
            "producer",
            "--prefix",
            "9506000",
            "--create-key",
        )[0]
        == 0
    )
    assert (
        run(data_dir, "participant", "add", "Carrier", "--roles", "logistics", "--create-key")[0]
        == 0
    )
    code, listing = run(data_dir, "participant", "list", "--json")
    parties = {p["name"]: p for p in json.loads(listing)}
    assert code == 0
    assert parties["Farm"]["roles"] == ["producer"]

    commission = run(
        data_dir,
        "event",
        "submit",
        "--keystore",
        str(keys / "farm.json"),
        "--action",
        "commission",
        "--batch",
        "urn:epc:class:lgtin:9506000.013435.LOT-7",
        "--product",
        "gtin",
        "--quantity",
        "5",
    )
    ship = run(
        data_dir,
        "event",
        "submit",
        "--keystore",
        str(keys / "farm.json"),
        "--action",
        "ship",
        "--batch",
        LOT,
        "--to",
        str(parties["Carrier"]["id"]),
    )
    by_farm = run(
        data_dir,
        "event",
        "submit",
        "--keystore",
        str(keys / "farm.json"),
        "--action",
        "receive",
        "--batch",
        LOT,
    )

    assert commission[0] == 0, commission[1]
    assert "accepted" in ship[1]
    assert by_farm[0] == 1
    assert "[not-receiver]" in by_farm[1]
    with Node(data_dir) as node, node.store.read() as conn:
        batch = node.store.batches.by_identifier(conn, LOT)
        assert batch is not None
        assert batch.receiver_id == parties["Carrier"]["id"]

    # Out of the network (only the word "outside" says so) and a lot from outside in.
    carrier = ("event", "submit", "--keystore", str(keys / "carrier.json"), "--batch", LOT)
    assert run(data_dir, *carrier, "--action", "receive")[0] == 0
    destination = data_dir / "destination.json"
    destination.write_text('{"destination": "urn:epc:id:sgln:4000001.00000.0"}')
    assert run(data_dir, *carrier, "--action", "ship")[0] == 1  # no receiver: an error
    out = run(data_dir, *carrier, "--action", "ship", "--to", "outside",
              "--payload", str(destination))  # fmt: skip
    assert out[0] == 0, out[1]
    foreign = "https://id.gs1.org/01/04012345000016/10/IMPORT-1"
    adopted = run(data_dir, "event", "submit", "--keystore", str(keys / "carrier.json"),
                  "--action", "receive", "--batch", foreign)  # fmt: skip
    assert adopted[0] == 0, adopted[1]
    with Node(data_dir) as node, node.store.read() as conn:
        exported = node.store.batches.by_identifier(conn, LOT)
        assert exported is not None
        assert exported.status is BatchStatus.EXPORTED
        state = node.store.batches.by_identifier(conn, foreign)
        assert state is not None
        assert (state.producer_id, state.custodian_id) == (0, parties["Carrier"]["id"])


def test_suspension_and_rotation_take_effect(data_dir: Path) -> None:
    keys = data_dir / "keystore" / "participants"
    run(
        data_dir,
        "participant",
        "add",
        "Dairy",
        "--roles",
        "producer,processor",
        "--prefix",
        "88.123.45",
        "--create-key",
    )
    parties = {p["name"]: p for p in json.loads(run(data_dir, "participant", "list", "--json")[1])}
    dairy = str(parties["Dairy"]["id"])
    commission = (
        "event",
        "submit",
        "--keystore",
        str(keys / "dairy.json"),
        "--action",
        "commission",
        "--product",
        "milk",
        "--quantity",
        "1",
    )

    assert run(data_dir, "participant", "suspend", dairy)[0] == 0
    refused = run(data_dir, *commission, "--batch", "88.123.45/dairy-1")
    assert run(data_dir, "participant", "reactivate", dairy)[0] == 0
    rotated = run(data_dir, "participant", "rotate", dairy, "--create-key")
    old_key = run(data_dir, *commission, "--batch", "88.123.45/dairy-2")
    new_key_file = next(keys.glob("dairy-*-rotated.json"))
    new_key = run(
        data_dir,
        *commission[:3],
        str(new_key_file),
        *commission[4:],
        "--batch",
        "88.123.45/dairy-3",
    )

    assert "[signer-suspended]" in refused[1]
    assert rotated[0] == 0, rotated[1]
    assert "[unknown-signer]" in old_key[1]
    assert new_key[0] == 0, new_key[1]


def test_bad_input_is_a_clear_error_not_a_traceback(data_dir: Path) -> None:
    code, output = run(data_dir, "participant", "add", "X", "--roles", "wizard", "--create-key")
    bad_batch = run(
        data_dir,
        "event",
        "submit",
        "--keystore",
        str(data_dir / "keystore" / "node.json"),
        "--action",
        "commission",
        "--batch",
        "https://id.gs1.org/01/09506000134353/10/A",
    )

    assert code == 1
    assert "unknown role 'wizard'" in output
    assert bad_batch[0] == 1
    assert "[invalid-identifier]" in bad_batch[1]
    assert "Traceback" not in output + bad_batch[1]


def test_wrong_password_is_refused(data_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["participant", "suspend", "1", "--data-dir", str(data_dir)],
        env={"TRACENODE_PASSWORD": "wrong"},
    )

    assert result.exit_code == 1
    assert "[keystore-error]" in result.output


def test_a_wrong_password_writes_no_key_file_and_a_retry_succeeds(data_dir: Path) -> None:
    key_file = data_dir / "keystore" / "participants" / "orchard.json"
    add = ("participant", "add", "Orchard", "--roles", "producer", "--create-key")

    wrong = CliRunner().invoke(
        app, [*add, "--data-dir", str(data_dir)], env={"TRACENODE_PASSWORD": "wrong"}
    )
    exists_after_wrong = key_file.exists()
    retry = run(data_dir, *add)
    orchard = next(
        p["id"]
        for p in json.loads(run(data_dir, "participant", "list", "--json")[1])
        if p["name"] == "Orchard"
    )
    wrong_rotation = CliRunner().invoke(
        app,
        ["participant", "rotate", str(orchard), "--create-key", "--data-dir", str(data_dir)],
        env={"TRACENODE_PASSWORD": "wrong"},
    )

    assert wrong.exit_code == 1
    assert "[keystore-error]" in wrong.output
    assert not exists_after_wrong
    assert retry[0] == 0, retry[1]
    assert key_file.exists()
    names = [p["name"] for p in json.loads(run(data_dir, "participant", "list", "--json")[1])]
    assert names.count("Orchard") == 1
    assert wrong_rotation.exit_code == 1
    assert list(key_file.parent.glob("orchard-*-rotated.json")) == []


def test_a_refused_registration_removes_its_new_key_file(data_dir: Path) -> None:
    keys = data_dir / "keystore" / "participants"
    assert (
        run(
            data_dir,
            "participant",
            "add",
            "Mill",
            "--roles",
            "processor",
            "--prefix",
            "4711",
            "--key",
            "0x" + "ab" * 20,
        )[0]
        == 0
    )
    add = ("participant", "add", "Bakery", "--roles", "processor", "--create-key")

    taken = run(data_dir, *add, "--prefix", "4711")  # the prefix is the Mill's: reverted
    exists_after_refusal = (keys / "bakery.json").exists()
    retry = run(data_dir, *add, "--prefix", "4712")

    assert taken[0] == 1
    assert "PrefixOverlap" in taken[1]
    assert not exists_after_refusal
    assert retry[0] == 0, retry[1]
    assert (keys / "bakery.json").exists()


def test_apikey_create_prints_only_the_key_on_stdout(data_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["apikey", "create", "--admin", "--label", "ops", "--data-dir", str(data_dir)]
    )

    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"tn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n", result.stdout)
    key_id = result.stdout.split("_")[1]
    assert f"created API key {key_id} for admin" in result.stderr


def test_a_held_chain_says_why_and_what_works_instead(data_dir: Path) -> None:
    with Node(data_dir):  # as `tracenode serve` holds it
        code, output = run(data_dir, "participant", "list")

    assert code == 1
    assert "[chain-locked]" in output
    assert "tracenode serve" in output
    assert "POST /v1/participants" in output
    assert "--rpc URL/rpc" in output


def test_a_node_url_other_nodes_would_refuse_is_refused_before_the_chain(data_dir: Path) -> None:
    """Private peers are off by default (node.json), a run may turn them on; `node
    register` refuses a URL nodes would not fetch from before any transaction."""
    config = json.loads((data_dir / "node.json").read_text())
    assert config["allow_private_peers"] is False
    with Node(data_dir) as node:
        assert node.peer_addresses.allow_private is False
    with Node(data_dir, allow_private_peers=True) as node:
        assert node.peer_addresses.allow_private is True
        nodes_before = node.registry.nodes()

    registrar = "0x" + "12" * 20
    for url, hint in (("http://10.0.0.7", True), ("http://169.254.169.254/latest", False)):
        code, output = run(data_dir, "node", "register", "--registrar", registrar, "--url", url)
        assert code == 1
        assert "node-url-refused" in output
        assert ("--allow-private-peers" in output) is hint  # no setting allows link-local
    with Node(data_dir) as node:
        assert node.registry.nodes() == nodes_before
