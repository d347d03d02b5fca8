"""Commit throughput and anchoring cost on the embedded chain (issue #4's figures).

``lifecycle_ops_per_s``: signed COMMISSION events, already accepted, committed by the
commit worker (relayed to BatchRegistry in transactions of up to 300 operations, each
window anchored in the same transaction) until none is left. ``gas_per_anchored_event``:
gas of one commit transaction anchoring a window of 1,000 observations, per event.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import Wei

from node.bench.ingest import EventFactory
from node.chain.commits import CommitClient
from node.chain.deploy import deploy_contracts
from node.chain.embedded import open_embedded_chain
from node.chain.registry import ParticipantRegistryClient
from node.commit.worker import CommitWorker
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain, Role, TraceEvent
from node.ingest.service import IngestService
from node.participants.sync import sync_participants
from node.runtime import Progress, quiet
from node.store.engine import sqlite_url
from node.store.store import Store


@dataclass(frozen=True, slots=True)
class CommitFigures:
    operations: int
    lifecycle_ops_per_s: float
    window_events: int
    gas_per_anchored_event: float


def measure_commit(
    *, operations: int = 1200, window_events: int = 1000, progress: Progress = quiet
) -> CommitFigures:
    progress("commit: deploying on an in-memory chain, registering the signers")
    with tempfile.TemporaryDirectory() as tmp, open_embedded_chain(None) as chain:
        w3 = chain.w3
        admin = next(iter(w3.eth.accounts))
        node: LocalAccount = Account.create()
        w3.eth.send_transaction({"from": admin, "to": node.address, "value": Wei(10**22)})
        deployment = deploy_contracts(w3, admin=admin, node=node.address)
        domain = Domain(deployment.chain_id, bytes.fromhex(deployment.batch_registry[2:]))
        registry = ParticipantRegistryClient(w3, deployment)
        factory = EventFactory(domain=domain)
        for index, key in enumerate(factory.keys):
            registry.register(
                admin,
                key=Account.from_key(key).address,
                name=f"producer {index}",
                roles=Role.PRODUCER,
                prefix=factory.prefixes[index],
            )
        auditor: LocalAccount = Account.create()
        registry.register(admin, key=auditor.address, name="auditor", roles=Role.AUDITOR, prefix="")
        store = Store.open(sqlite_url(Path(tmp)))
        try:
            sync_participants(store=store, source=registry, head=w3.eth.block_number)
            ingest = IngestService(store=store, domain=domain)
            worker = CommitWorker(store=store, client=CommitClient(w3, deployment), node=node)
            progress(f"commit: signing and ingesting {operations:,} lifecycle events")
            signed = factory.make(operations)
            for start in range(0, operations, 1000):
                ingest.submit_many(signed[start : start + 1000])
            progress(f"commit: relaying and anchoring {operations:,} operations (timed)")
            began = time.perf_counter()
            while worker.commit_once() is not None:
                pass
            ops_per_s = operations / (time.perf_counter() - began)

            lot, head = signed[0].event.batch_id, None
            with store.read() as conn:
                state = store.batches.get(conn, lot)
                head = state.head if state else bytes(32)
            progress(f"commit: gas of a window of {window_events:,} observations")
            observations = []
            for nonce in range(window_events):
                event = TraceEvent(
                    Action.OBSERVE,
                    batch_id=lot,
                    prev_event_hash=head,
                    event_time=1_732_000_000_000 + nonce,
                    payload_hash=nonce.to_bytes(32, "big"),
                    nonce=nonce,
                )
                observations.append(
                    SignedEvent(event, sign_digest(event.digest(domain), bytes(auditor.key)))
                )
            ingest.submit_many(observations)
            result = worker.commit_once()
            if result is None or result.event_count != window_events:
                raise RuntimeError("the observation window was not committed whole")
            gas = result.gas_used / window_events
        finally:
            store.close()
    return CommitFigures(operations, ops_per_s, window_events, gas)
