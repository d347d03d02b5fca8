"""The committed contract artifacts are exactly what the sources compile to."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "export_artifacts.py"


def run_check(artifacts_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--artifacts-dir", str(artifacts_dir)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_committed_artifacts_match_a_fresh_build() -> None:
    result = run_check(ROOT / "node" / "chain" / "artifacts")

    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_changed_artifact(tmp_path: Path) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(ROOT / "node" / "chain" / "artifacts", copy)
    path = copy / "BatchRegistry.json"
    artifact = json.loads(path.read_text())
    artifact["bytecode"] = artifact["bytecode"][:-2] + (
        "00" if artifact["bytecode"][-2:] != "00" else "01"
    )
    path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")

    result = run_check(copy)

    assert result.returncode == 1
    assert "BatchRegistry" in result.stderr
