"""The custody mode of a data directory: chosen at init, kept in node.json, served by
/v1/info, and what `tracenode challenge` works with (docs/operations.md)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api import create_app
from node.cli import app
from node.commit.custody import CustodyMode
from node.context import init_node
from node.events.typed_data import Action
from node.exceptions import ConfigurationError
from node.proofs.verify import REPLAYED, UNMARKED
from node.testing.harness import TEST_PASSWORD, TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.api.server import Server
from tests.web.test_verify_core import node_js


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceNodeHarness]:
    data_dir = tmp_path_factory.mktemp("anchor-only") / "node"
    with TraceNodeHarness.create(data_dir, custody=CustodyMode.ANCHOR_ONLY) as made:
        yield made


def test_the_mode_is_kept_in_node_json_and_served_by_info(harness: TraceNodeHarness) -> None:
    config = json.loads((harness.node.data_dir / "node.json").read_text())
    client = AppClient(create_app(harness.node, settings=TEST_SETTINGS))
    try:
        info = client.get("/v1/info").json()
    finally:
        client.close()

    assert config["custody"] == "anchor-only"
    assert harness.node.custody is CustodyMode.ANCHOR_ONLY
    assert harness.node.deployment.custody_challenge is not None
    assert info["custodyMode"] == "anchor-only"


LOT = "https://id.gs1.org/01/00614141123452/10/CLI-AO-1"


@pytest.fixture(scope="module")
def served(harness: TraceNodeHarness) -> tuple[Path, dict[str, Any]]:
    """The node's data directory with an honest lot committed, and the lot's bundle; the
    harness closed (the embedded chain is one process's at a time: the CLI and serve open
    it next), so this runs after the tests that use the open harness."""
    harness.submit("farm", Action.COMMISSION, LOT, quantity=3)
    harness.submit("farm", Action.SHIP, LOT, to="carrier")
    harness.commit()
    harness.submit("carrier", Action.RECEIVE, LOT)
    harness.commit()
    bundle = harness.export(LOT).as_json()
    harness.close()
    return harness.node.data_dir, bundle


def test_challenge_finds_no_claim_against_an_honest_node(
    served: tuple[Path, dict[str, Any]],
) -> None:
    data_dir, _ = served

    result = CliRunner().invoke(app, ["challenge", LOT, "--data-dir", str(data_dir), "--json"])

    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == {"claims": [], "marks": None, "txHash": None}


def test_joining_in_the_anchor_only_mode_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="one node's deployment"):
        init_node(
            tmp_path / "joining",
            "x",
            chain_url="http://127.0.0.1:9",
            join="0x" + "11" * 20,
            custody=CustodyMode.ANCHOR_ONLY,
        )
    assert not (tmp_path / "joining" / "node.json").exists()


def test_the_page_verifier_reads_an_anchor_only_bundle_and_says_what_it_checked(
    served: tuple[Path, dict[str, Any]],
) -> None:
    data_dir, bundle = served
    forged = copy.deepcopy(bundle)
    shipped = forged["events"][1]["transitions"][0]
    shipped["post"]["custodian"] = str(int(shipped["post"]["custodian"]) + 1)
    server = Server(data_dir, TEST_PASSWORD)
    try:
        server.wait_ready()
        reports = node_js(
            """
            const out = [];
            for (const doc of data.bundles) {
              out.push(await core.verifyBundle(core.parseBundle(doc), new core.Rpc(data.rpc)));
            }
            console.log(JSON.stringify(out));
            """,
            {"bundles": [bundle, forged], "rpc": f"{server.url}/rpc"},
        )
    finally:
        server.stop()

    honest, bent = reports
    assert honest["outcome"] == "pass", honest["failures"]
    lifecycle = [
        c for e in honest["events"] for c in e["checks"] if c["check"] == "accepted-on-chain"
    ]
    # the page replays the custody rules as tracenode verify does (docs/proofs.md, "In
    # the browser"); it was not told the CustodyChallenge, so it read no fraud mark
    assert [c["outcome"] for c in lifecycle] == ["pass"] * 3
    assert all(c["detail"] == f"{REPLAYED}; {UNMARKED}" for c in lifecycle)
    [batch] = honest["batches"]
    custody = next(c for c in batch["checks"] if c["check"] == "custody")
    assert (custody["outcome"], batch["status"]) == ("pass", "ACTIVE")
    assert REPLAYED in custody["detail"]
    assert bent["outcome"] == "fail"
    assert any(
        "does not lead to the window's anchored transition root" in f for f in bent["failures"]
    )
