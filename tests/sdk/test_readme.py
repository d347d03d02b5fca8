"""README.md's "From nothing to a verified proof": its curl session and its Python client,
run as written (only the gateway's address changed) against a real gateway."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.api.server import ROOT
from tests.environment import unavailable
from tests.sdk.conftest import Gateway

SECTION = "## From nothing to a verified proof"
DOCUMENTED_URL = "http://127.0.0.1:8080"
TOOLS = str(ROOT / "node_modules" / ".bin")


def snippet(language: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found is not None, f"no {language} block in the README's section"
    assert DOCUMENTED_URL in found.group(1)
    return found.group(1)


def environment(gateway: Gateway) -> dict[str, str]:
    return os.environ | {
        "KEY": "0x" + bytes(gateway.harness.keys["farm"].key).hex(),
        "TRACENODE_KEY": gateway.tokens["farm"],
        "PATH": TOOLS + os.pathsep + os.environ.get("PATH", ""),
    }


def run(command: list[str], gateway: Gateway, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a snippet as a reader would, in ``cwd``, against ``gateway``."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment(gateway),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_curl_session_goes_from_nothing_to_a_verified_bundle(
    gateway: Gateway, tmp_path: Path
) -> None:
    if shutil.which("jq") is None:
        unavailable("jq is not installed (scripts/services.sh installs it)")
    script = snippet("bash").replace(DOCUMENTED_URL, gateway.url)

    result = run(["bash", "-euo", "pipefail", "-c", script], gateway, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    status, provenance, verified = result.stdout.split()
    assert status in ('"accepted"', '"anchored"')
    assert (provenance, verified) == ('"pass"', '"pass"')
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert len(bundle["events"]) == 1
    assert gateway.event_rows() == 1


def test_the_python_client_goes_from_nothing_to_a_verified_proof(
    gateway: Gateway, tmp_path: Path
) -> None:
    code = snippet("python").replace(DOCUMENTED_URL, gateway.url)

    result = run([sys.executable, "-c", code], gateway, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    block, outcome = result.stdout.split()
    assert int(block) > 0
    assert outcome == "pass"
    assert len([line for line in code.strip().splitlines() if line.strip()]) <= 10
    assert (tmp_path / "outbox" / "outbox.sqlite3").exists()
