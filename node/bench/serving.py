"""A node as ``tracenode serve`` runs it, in a temporary data directory, for the bench.

The data directory is made by ``init_node`` and opened by ``Node`` exactly as serve
opens it: the persistent embedded chain (py-evm on its on-disk database), the SQLite
store, serve's signature-recovery worker count (``node.context.RECOVERY_WORKERS``), and
serve's commit process (node/commit/process.py: the commit worker in a process of its
own, which owns the chain) at serve's default policy. Participants are registered on the
chain by the admin key, so the contracts execute their events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from eth_account import Account

from node.bench.workload import Participant
from node.commit.custody import CustodyMode
from node.commit.process import CommitProcess, CommitSettings
from node.commit.worker import CommitPolicy, CommitWorker
from node.context import Node, init_node
from node.store.apikeys import ApiKeys

#: The keystore password of a bench node's throwaway keys.
BENCH_PASSWORD: Final = "tracenode-bench"  # noqa: S105 - keys of a temporary node


class BenchNode:
    """A fresh node in ``data_dir``, opened as serve opens one."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        custody: CustodyMode = CustodyMode.ENFORCED,
        chain_in_memory: bool = False,
    ) -> None:
        """``chain_in_memory``: run the chain ``init_node`` made in memory instead (the
        persistent chain's comparison; serve never does)."""
        init_node(
            data_dir,
            BENCH_PASSWORD,
            database_url=database_url,
            pbkdf2_iterations=1000,
            custody=custody,
        )
        self.data_dir = data_dir
        self.database_url = database_url
        self.node = Node(data_dir, database_url=database_url, chain_in_memory=chain_in_memory)
        self.chain_in_memory = chain_in_memory
        self.node.verifier.warm()  # as serve starts its recovery processes
        self.node_key = self.node.node_key(BENCH_PASSWORD)
        self.policy = CommitPolicy()  # `tracenode serve`'s defaults (api/cli.py)

    def close(self) -> None:
        self.node.close()

    def __enter__(self) -> BenchNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self, participants: Sequence[Participant]) -> list[int]:
        """Register ``participants`` on the chain (the registrar's transactions) and in the
        mirror; returns their participant ids, in order."""
        admin = self.node.admin(BENCH_PASSWORD)
        ids = [
            self.node.registry.register(
                admin,
                key=Account.from_key(p.key).address,
                name=p.name,
                roles=p.roles,
                prefix=p.company_prefix,
            )
            for p in participants
        ]
        self.node.sync_participants()
        return ids

    def api_keys(self, ids: Sequence[int]) -> list[str]:
        """An API key for each participant id."""
        keys = ApiKeys(self.node.store)
        return [keys.create(participant_id=pid, label="bench").token for pid in ids]

    def worker(self) -> CommitWorker:
        """A commit worker at serve's policy, to drive by hand (``commit_once``)."""
        return CommitWorker(
            store=self.node.store,
            client=self.node.commit_client(),
            node=self.node_key,
            policy=self.policy,
        )

    @contextmanager
    def committing(self) -> Iterator[None]:
        """serve's commit process, as serve runs it, while the block runs: this node is
        opened again as serve's gateway opens it (following the embedded chain, which the
        child owns and writes; ``self.node`` is that node from here on) and the child is
        started by serve's supervisor (node.commit.process.CommitProcess), stopped after."""
        if self.chain_in_memory:
            raise ValueError("serve's commit process runs the chain on disk, not in memory")
        self.node.close()
        self.node = Node(self.data_dir, database_url=self.database_url, follow_chain=True)
        self.node.verifier.warm()
        followed = self.node.followed_chain
        child = CommitProcess(
            CommitSettings(
                data_dir=str(self.data_dir),
                chain_url=None,
                database_url=self.database_url,
                policy=self.policy,
                log_level="warning",
            ),
            BENCH_PASSWORD,
        )
        if followed is not None:
            followed.send_raw = child.send_raw  # the registrar's transactions, as serve's
        child.start()
        try:
            child.wait_ready()
            yield
        finally:
            child.stop()
            if followed is not None:
                followed.send_raw = None

    def configuration(self, *, commit: bool) -> dict[str, Any]:
        """What the figures measured with this node ran on, for the JSON."""
        return {
            "as": "tracenode serve's node, opened in this process",
            "chain": "embedded py-evm, "
            + ("in memory (not serve's)" if self.chain_in_memory else "persistent (on disk)"),
            "store": self.node.store.dialect,
            "custody_mode": self.node.custody.value,
            "recovery_workers": self.node.verifier.workers,
            "commit_worker": "running (serve's commit process, node/commit/process.py)"
            if commit
            else "off",
            "commit_policy": asdict(self.policy),
        }
