"""TraceNode's pytest plugin (entry point ``pytest11: tracenode``).

Installed with the package; any test can ask for:

``tracenode``
    a :class:`~node.testing.harness.TraceNodeHarness`: a fresh node on a persistent
    embedded chain in the test's temporary directory, contracts deployed, participants
    ``farm``, ``processor``, ``carrier``, ``shop`` and ``regulator`` registered with
    funded keys. Closed after the test.
``tracenode_factory``
    a callable ``(data_dir=None, participants=None) -> TraceNodeHarness`` for tests that
    need several nodes, other participants, or to reopen a node's data directory
    (a restart: the chain and the store persist). Every harness it made is closed after
    the test.

docs/testing.md has a complete example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.events.typed_data import Role
from node.testing.harness import TraceNodeHarness

HarnessFactory = Callable[..., TraceNodeHarness]


@pytest.fixture
def tracenode_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HarnessFactory]:
    made: list[TraceNodeHarness] = []

    def make(
        data_dir: Path | None = None,
        participants: dict[str, tuple[Role, str]] | None = None,
        database_url: str | None = None,
    ) -> TraceNodeHarness:
        directory = data_dir or tmp_path_factory.mktemp("tracenode") / "node"
        harness = TraceNodeHarness.create(
            directory, participants=participants, database_url=database_url
        )
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def tracenode(tracenode_factory: HarnessFactory) -> TraceNodeHarness:
    return tracenode_factory()
