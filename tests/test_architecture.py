"""The dependency rules of docs/design.md §2, checked on the source: one-way, by construction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    where = ROOT / folder
    for path in [where] if where.is_file() else sorted(where.rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = {
            alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
        }
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in imports_of(folder).items()
        for name in names
        if (name.split(".")[0] in forbidden or name.startswith(forbidden))
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        # The event model is pure: no store, no chain, no web framework.
        (
            "node/events",
            (
                "node.store",
                "node.chain",
                "node.ingest",
                "api",
                "fastapi",
                "sqlalchemy",
                "sqlmodel",
                "web3",
            ),
        ),
        # The file lock every layer may use (leader, migrations, embedded chain) imports
        # nothing of the node.
        ("node/filelock.py", ("node", "api", "sqlalchemy", "sqlmodel", "web3")),
        # The store and the chain never import each other.
        ("node/store", ("node.chain", "web3", "node.ingest", "node.participants")),
        ("node/chain", ("node.store", "sqlalchemy", "sqlmodel", "node.ingest")),
        # The bundle verifier reads the chain, never the node's database: "verify without
        # trusting the node" holds by construction.
        (
            "node/proofs",
            (
                "node.store",
                "node.ingest",
                "node.commit",
                "node.provenance",
                "node.context",
                "sqlalchemy",
                "sqlmodel",
            ),
        ),
        # Another node's answer is judged against the chain alone, as the verifier judges
        # a bundle: resolution across nodes never reads this node's database.
        (
            "node/network",
            (
                "node.store",
                "node.ingest",
                "node.commit",
                "node.provenance",
                "node.context",
                "sqlalchemy",
                "sqlmodel",
            ),
        ),
        # The supplier SDK is a client of a remote gateway: no store, no server side.
        (
            "node/sdk",
            (
                "node.store",
                "node.ingest",
                "node.commit",
                "node.context",
                "node.provenance",
                "node.participants",
                "node.testing",
                "node.epcis.capture",
                "sqlalchemy",
                "sqlmodel",
                "alembic",
                "uvicorn",
                "starlette",
            ),
        ),
        # Nothing in node/ imports the HTTP gateway.
        ("node", ("api", "fastapi")),
        # The gateway reads and writes through the node's store, never SQL of its own.
        ("api", ("sqlalchemy", "sqlmodel", "alembic")),
    ],
)
def test_dependencies_point_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(folder, forbidden) == []
