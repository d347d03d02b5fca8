"""Export the contracts' ABI and bytecode into the Python package (node/chain/artifacts).

The node runs from these committed files and needs no npm. ``--check`` rebuilds from the
sources into a temporary directory and fails when the committed artifacts differ.

    python scripts/export_artifacts.py            # rebuild and write
    python scripts/export_artifacts.py --check    # rebuild and compare (used by the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "node" / "chain" / "artifacts"
CONTRACTS = (
    "ParticipantRegistry",
    "BatchRegistry",
    "AnchorRegistry",
    "CustodyChallenge",
    "ReadMany",
)


def forge_command() -> str:
    local = ROOT / "node_modules" / ".bin" / "forge"
    return str(local) if local.exists() else "forge"


def build(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Compile with forge into ``out_dir`` and return each contract's artifact."""
    subprocess.run(
        [
            forge_command(),
            "build",
            "--root",
            str(ROOT),
            "--out",
            str(out_dir / "out"),
            "--cache-path",
            str(out_dir / "cache"),
            "--skip",
            "test",
            "--quiet",
        ],
        check=True,
        cwd=ROOT,
        env={**os.environ, "FOUNDRY_PROFILE": "default"},
    )
    artifacts: dict[str, dict[str, Any]] = {}
    for name in CONTRACTS:
        compiled = json.loads((out_dir / "out" / f"{name}.sol" / f"{name}.json").read_text())
        artifacts[name] = {
            "contractName": name,
            "abi": compiled["abi"],
            "bytecode": compiled["bytecode"]["object"],
            "deployedBytecode": compiled["deployedBytecode"]["object"],
        }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--artifacts-dir", type=Path, default=ARTIFACTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = build(Path(tmp))
    stale = []
    for name, artifact in artifacts.items():
        path = args.artifacts_dir / f"{name}.json"
        text = render(artifact)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(
            f"stale contract artifacts: {', '.join(stale)}; "
            "run `python scripts/export_artifacts.py` and commit the result",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
