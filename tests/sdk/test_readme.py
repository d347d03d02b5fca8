"""README.md's "From nothing to a verified proof": its bash session run verbatim, twice, as
the README says to run it (`bash -e session.sh`, in a clone, beside a running
`tracenode serve` on a fresh data directory); and its Python client against a real gateway
(only the gateway's address changed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.context import init_node
from node.events.identifiers import prefix_kind
from tests.api.server import ROOT, Server
from tests.environment import unavailable
from tests.sdk.conftest import Gateway

SECTION = "## From nothing to a verified proof"
DOCUMENTED_URL = "http://127.0.0.1:8000"
PASSWORD = "readme session password"
TIMEOUT = 180  # seconds for one run of the session; it gives up waiting after 30 s


def snippet(language: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found is not None, f"no {language} block in the README's section"
    return found.group(1)


def needs_jq() -> None:
    if shutil.which("jq") is None:
        unavailable("jq is not installed (scripts/services.sh installs it)")


def make_clone(root: Path) -> Path:
    """A directory laid out like a clone after scripts/setup.sh (its .venv and node_modules,
    linked), with a fresh, initialised ./tracenode-data."""
    root.mkdir()
    (root / ".venv").symlink_to(ROOT / ".venv")
    (root / "node_modules").symlink_to(ROOT / "node_modules")
    init_node(root / "tracenode-data", PASSWORD, pbkdf2_iterations=1000)
    return root


def run_session(clone: Path, server: Server, script: str) -> subprocess.CompletedProcess[str]:
    """The script as `bash -e session.sh` (with -u and pipefail too), with no TraceNode
    setting but the port, no password, and no cast on PATH: the README must say all."""
    (clone / "session.sh").write_text(script)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRACENODE_")}
    environment["PATH"] = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if not (Path(entry) / "cast").exists()
    )
    environment["TRACENODE_PORT"] = str(server.port)
    return subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "session.sh"],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    clone = make_clone(tmp_path_factory.mktemp("readme") / "clone")
    server = Server(clone / "tracenode-data", PASSWORD, "--commit-interval", "0.2")
    try:
        server.wait_ready()
        yield clone, server
    finally:
        code = server.stop()
        assert code == 0, server.output()


def test_the_curl_session_runs_verbatim_twice_from_a_fresh_node(
    served: tuple[Path, Server],
) -> None:
    needs_jq()
    clone, server = served
    script = snippet("bash")

    participants = []
    for run in (1, 2):
        result = run_session(clone, server, script)

        assert result.returncode == 0, (run, result.stdout, result.stderr, server.output())
        registered, status, provenance, verified = result.stdout.splitlines()
        found = re.fullmatch(r"participant (\d+) (0x[0-9a-fA-F]{40})", registered)
        assert found is not None, registered
        participants.append(found.groups())
        assert (status, provenance, verified) == ("anchored", "pass", "pass")
        bundle = json.loads((clone / "bundle.json").read_text())
        submitted = json.loads((clone / "submitted.json").read_text())
        assert [e["eventHash"] for e in bundle["events"]] == [submitted["eventHash"]]
        prefix = f"88.{int(found.group(2)[2:10], 16)}"  # the session's own handle prefix
        assert bundle["batches"][0]["identifier"] == f"{prefix}/LOT-1"
    assert participants[0] != participants[1]


def test_a_refused_submission_stops_the_session_with_the_problem(
    served: tuple[Path, Server],
) -> None:
    needs_jq()
    clone, server = served
    script = snippet("bash")
    signing = '--arg sig "$SIG"'
    assert signing in script
    broken = script.replace(signing, '--arg sig "${SIG}00"')  # a 66-byte signature

    began = time.monotonic()
    result = run_session(clone, server, broken)

    assert result.returncode != 0
    assert time.monotonic() - began < 60  # it stops; it does not wait for a proof
    assert '"code": "invalid-signature"' in result.stdout
    assert "pass" not in result.stdout


def test_the_session_gives_up_waiting_when_nothing_commits(tmp_path: Path) -> None:
    needs_jq()
    clone = make_clone(tmp_path / "clone")
    server = Server(clone / "tracenode-data", PASSWORD, "--no-commit")
    try:
        server.wait_ready()
        # The session's bound is its loop: 60 polls with a pause between. The pause is
        # cut tenfold here (the README's 30 s wait would be most of this file's time);
        # the loop, its count and its way out are the README's, verbatim.
        script = snippet("bash")
        assert script.count("sleep 0.5 ") == 1
        assert "seq 60" in script
        began = time.monotonic()
        result = run_session(clone, server, script.replace("sleep 0.5 ", "sleep 0.05 "))
        took = time.monotonic() - began
    finally:
        code = server.stop()

    assert code == 0, server.output()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[1:] == ["accepted", "pending", "pending"]
    assert 60 * 0.05 <= took < TIMEOUT


def test_the_python_client_goes_from_nothing_to_a_verified_proof(
    gateway: Gateway, tmp_path: Path
) -> None:
    code = snippet("python")
    assert DOCUMENTED_URL in code
    code = code.replace(DOCUMENTED_URL, gateway.url)

    harness = gateway.harness
    prefix = "88.808"  # the README's session gives its participant a handle prefix of its own
    harness.node.registry.license(
        harness.node.admin(harness.password),
        harness.participant_id("farm"),
        kind=prefix_kind(prefix),
        prefix=prefix,
    )
    harness.node.sync_participants()  # the gateway refuses lots under licences it has not read

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=os.environ
        | {
            "KEY": "0x" + bytes(harness.keys["farm"].key).hex(),
            "TRACENODE_KEY": gateway.tokens["farm"],
            "PREFIX": prefix,
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    block, outcome = result.stdout.split()
    assert int(block) > 0
    assert outcome == "pass"
    assert len([line for line in code.strip().splitlines() if line.strip()]) <= 10
    assert (tmp_path / "outbox" / "outbox.sqlite3").exists()
