"""``tracenode prefix license|revoke|list`` against a real embedded chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli import app

PASSWORD = "prefix-cli-password"


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--data-dir", str(data_dir)], env={"TRACENODE_PASSWORD": PASSWORD}
    )
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prefixes") / "data"
    assert run(path, "init")[0] == 0
    added = run(
        path, "participant", "add", "Green Valley Farm", "--roles", "producer",
        "--prefix", "9506000", "--key", "0x" + "cd" * 20,
    )  # fmt: skip
    assert added[0] == 0, added[1]
    return path


def licences(data_dir: Path, *prefixes: str) -> list[dict[str, object]]:
    code, output = run(data_dir, "prefix", "list", *prefixes, "--json")
    assert code == 0, output
    return list(json.loads(output))


def test_registration_licenses_the_prefix(data_dir: Path) -> None:
    (only,) = licences(data_dir)

    assert only["prefix"] == "9506000"
    assert only["kind"] == "gs1"
    assert only["holderName"] == "Green Valley Farm"
    assert only["held"] is True
    assert only["validUntil"] is None


def test_license_overlap_and_revoke(data_dir: Path) -> None:
    granted = run(data_dir, "prefix", "license", "1", "88.77")
    inside = run(data_dir, "prefix", "license", "1", "95060001")
    malformed = run(data_dir, "prefix", "license", "1", "950")
    revoked = run(data_dir, "prefix", "revoke", "88.77")
    again = run(data_dir, "prefix", "revoke", "88.77")

    assert granted[0] == 0, granted[1]
    assert inside[0] == 1
    assert "PrefixOverlap" in inside[1]
    assert malformed[0] == 1
    assert "InvalidPrefix" in malformed[1]
    assert revoked[0] == 0, revoked[1]
    assert again[0] == 1
    assert "NotLicensed" in again[1]
    (handle,) = licences(data_dir, "88.77")
    assert handle["kind"] == "handle"
    assert handle["held"] is False
    assert handle["validUntil"] is not None


def test_open_and_close_set_the_roots_policy_on_the_chain(data_dir: Path) -> None:
    """``prefix open|close``: the root's open-identifier policy for this node, as the
    chain answers it for the node's participant (participant 1, the farm)."""
    from node.context import Node

    def allowed() -> bool:
        with Node(data_dir) as node:
            return node.registry.open_identifiers(1)

    opened = run(data_dir, "prefix", "open")
    assert opened[0] == 0, opened[1]
    assert "allowed" in opened[1]
    assert allowed() is True
    closed = run(data_dir, "prefix", "close")
    assert closed[0] == 0, closed[1]
    assert allowed() is False
    other = run(data_dir, "prefix", "open", "--registrar", "not-an-address")
    assert other[0] == 2  # a usage error, before the chain is touched
    assert "not an address" in other[1]


def test_init_cannot_open_a_node_that_joins(tmp_path: Path) -> None:
    """``init --open-identifiers`` is the root's to give: with --join it is refused before
    anything is made."""
    code, output = run(
        tmp_path / "data", "init", "--open-identifiers", "--join", "0x" + "11" * 20,
        "--chain-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 1, output
    assert "--open-identifiers is the root's to give" in output
    assert not (tmp_path / "data").exists()
