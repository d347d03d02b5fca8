"""The Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import node.store.models  # noqa: F401 - registers the tables
from node.store.engine import MIGRATIONS
from node.store.store import Store

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)

    assert differences == []


# A process that has imported everything, says so, and opens the store when told to.
STARTER = """
import sys
from node.store.store import Store
print("ready", flush=True)
sys.stdin.readline()
Store.open(sys.argv[1]).close()
"""


def test_processes_opening_a_new_database_at_once_all_find_it_migrated(store_url: str) -> None:
    # Several `serve` processes started together on one fresh database: one migrates, the
    # others wait for it and then find the schema current, instead of failing half-way.
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, store_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for starter in starters:
        assert starter.stdout is not None
        assert starter.stdout.readline() == "ready\n"
    for starter in starters:
        assert starter.stdin is not None
        starter.stdin.write("go\n")
        starter.stdin.flush()
    outcomes = [starter.communicate(timeout=120) for starter in starters]

    assert [starter.returncode for starter in starters] == [0] * 4, outcomes
    opened = Store.open(store_url)
    try:
        with opened.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD
    finally:
        opened.close()
