"""The contracts' ABI and bytecode, exported from the Foundry build and committed.

Regenerate with ``python scripts/export_artifacts.py``; a test fails when they are stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from node.exceptions import ArtifactError

ContractName = Literal[
    "ParticipantRegistry", "BatchRegistry", "AnchorRegistry", "CustodyChallenge", "ReadMany"
]
CONTRACT_NAMES: tuple[ContractName, ...] = (
    "ParticipantRegistry",
    "BatchRegistry",
    "AnchorRegistry",
    "CustodyChallenge",  # the anchor-only mode's challenge game (deployed with that mode)
    "ReadMany",  # never deployed: its creation code runs in an eth_call (node.chain.reader)
)


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load(name: ContractName) -> Artifact:
    """The committed artifact of contract ``name``."""
    try:
        text = resources.files("node.chain").joinpath("artifacts", f"{name}.json").read_text()
        data = json.loads(text)
        return Artifact(
            name=data["contractName"],
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
        )
    except (OSError, KeyError, ValueError) as exc:
        raise ArtifactError(f"contract artifact {name} is missing or malformed: {exc}") from exc
