"""A whole TraceNode in your test process: a persistent embedded chain in a temporary
directory with the contracts deployed, the store, participants with funded keys and
roles, and helpers to submit events, commit them and get their proofs.

The pytest plugin (:mod:`node.testing.plugin`, registered as the ``tracenode`` pytest11
entry point) hands one to every test that asks for the ``tracenode`` fixture; docs/
testing.md shows a complete example. Outside pytest::

    with TraceNodeHarness.create(Path("/tmp/my-node")) as harness:
        lot = "https://id.gs1.org/01/09506000134352/10/LOT-1"
        harness.submit("farm", Action.COMMISSION, lot, product="milk", quantity=100)
        proof = harness.wait_for_proof(harness.last_event)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import Wei

from node.commit.custody import CustodyMode
from node.commit.worker import CommitPolicy, CommitWorker, WindowResult
from node.context import Node, init_node
from node.events.identifiers import parse_identifier
from node.events.typed_data import Action, Role
from node.exceptions import ProofTimeoutError
from node.ingest.compose import compose_event
from node.ingest.service import IngestResult
from node.keys.keystore import create_keystore, load_keystore
from node.proofs.bundle import Bundle
from node.proofs.verify import Report, verify_bundle
from node.provenance.service import Provenance, ProvenanceService, Trace
from node.store.models import EventStatus

#: The participants every harness starts with: name -> (roles, identifier prefix).
DEFAULT_PARTICIPANTS: Final[dict[str, tuple[Role, str]]] = {
    "farm": (Role.PRODUCER, "0614141"),
    "processor": (Role.PROCESSOR | Role.PRODUCER, "0614142"),
    "carrier": (Role.LOGISTICS, ""),
    "shop": (Role.RETAILER, "88.123.45"),
    "regulator": (Role.REGULATOR | Role.AUDITOR, ""),
}
#: Further prefixes licensed to default participants: the farm, registered with GS1's
#: example company prefix 0614141 (EPCIS documents name it by that), also holds 9506000,
#: the prefix of the GTIN 09506000134352 its milk lots carry, and handle prefix 88.456 for
#: lots named by handles (the shop's 88.123.45 is a retailer's: it commissions nothing).
DEFAULT_LICENCES: Final[dict[str, tuple[str, ...]]] = {"farm": ("9506000", "88.456")}
TEST_PASSWORD: Final = "tracenode-test-password"  # noqa: S105 - throwaway test keys


@dataclass(frozen=True, slots=True)
class EventProof:
    """Where an anchored event sits: its window's root and transaction, and its proof."""

    event_hash: bytes
    root: bytes
    proof: tuple[bytes, ...]
    seq: int
    tx_hash: bytes
    block_number: int


class TraceNodeHarness:
    """A node on a temporary embedded chain, driven synchronously from a test."""

    def __init__(self, node: Node, password: str, keys: dict[str, LocalAccount]) -> None:
        self.node = node
        self.password = password
        self.keys = keys
        self.last_event: bytes = b""
        self.provenance_service = ProvenanceService(node.store, node.w3, node.deployment)
        self._worker = CommitWorker(
            store=node.store,
            client=node.commit_client(),
            node=node.node_key(password),
            policy=CommitPolicy(interval=0),
        )

    @classmethod
    def create(
        cls,
        data_dir: Path,
        *,
        participants: dict[str, tuple[Role, str]] | None = None,
        password: str = TEST_PASSWORD,
        database_url: str | None = None,
        custody: CustodyMode = CustodyMode.ENFORCED,
    ) -> TraceNodeHarness:
        """Initialise ``data_dir`` (in the ``custody`` mode; or reopen it) and register the
        participants."""
        if not (data_dir / "node.json").exists():
            init_node(
                data_dir,
                password,
                database_url=database_url,
                pbkdf2_iterations=1000,
                custody=custody,
            )
        harness = cls(Node(data_dir, database_url=database_url), password, {})
        for name, (roles, prefix) in (participants or DEFAULT_PARTICIPANTS).items():
            extra = DEFAULT_LICENCES.get(name, ()) if participants is None else ()
            harness.add_participant(name, roles, prefix, licences=extra)
        return harness

    def close(self) -> None:
        self.node.close()

    def __enter__(self) -> TraceNodeHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- participants -----

    def add_participant(
        self, name: str, roles: Role, prefix: str = "", *, licences: Sequence[str] = ()
    ) -> LocalAccount:
        """Register a participant with a new funded key (its key file kept in the data
        directory, so a reopened harness has the same participants), licensed ``prefix``
        and ``licences``: only under those may it create batches."""
        path = self.node.data_dir / "keystore" / "participants" / f"test-{name}.json"
        if path.exists():
            account = load_keystore(path, self.password)
        else:
            account = create_keystore(path, self.password, pbkdf2_iterations=1000)
            admin = self.node.admin(self.password)
            self.node.registry.register(
                admin,
                key=account.address,
                name=name,
                roles=roles,
                prefix=prefix,
                licences=licences,
            )
            funder = self.node.w3.eth.accounts[0]
            tx = self.node.w3.eth.send_transaction(
                {"from": funder, "to": account.address, "value": Wei(10**18)}
            )
            self.node.w3.eth.wait_for_transaction_receipt(tx)
        self.node.sync_participants()
        self.keys[name] = account
        return account

    def participant_id(self, name: str) -> int:
        with self.node.store.read() as conn:
            found = self.node.store.participants.by_key(
                conn, bytes.fromhex(self.keys[name].address[2:])
            )
        if found is None:
            raise KeyError(name)
        return found.id

    def suspend(self, name: str) -> None:
        """Suspend participant ``name`` on-chain (as the registrar) and sync the mirror."""
        self.node.registry.suspend(self.node.admin(self.password), self.participant_id(name))
        self.node.sync_participants()

    def rotate(self, name: str) -> LocalAccount:
        """Give participant ``name`` a new key; the old one signs nothing from now on."""
        new: LocalAccount = Account.create()
        pid = self.participant_id(name)
        self.node.registry.rotate_key(self.node.admin(self.password), pid, new.address)
        self.node.sync_participants()
        self.keys[name] = new
        return new

    def new_key(self) -> LocalAccount:
        """A key no participant holds (to test refusals)."""
        account: LocalAccount = Account.create()
        return account

    # ----- events -----

    def submit(
        self,
        who: str,
        action: Action,
        batch: str | None = None,
        *,
        to: str | None = None,
        inputs: Sequence[str] = (),
        outputs: Sequence[str] = (),
        **fields: Any,
    ) -> bytes:
        """Sign an event as participant ``who`` (extending the batches' current heads, with
        the next nonce) and ingest it; returns its hash. ``to`` names the participant a
        SHIP goes to. Raises the typed rejection when the node refuses it."""
        counterparty = bytes.fromhex(self.keys[to].address[2:]) if to else bytes(20)
        signed = compose_event(
            store=self.node.store,
            domain=self.node.domain,
            private_key=bytes(self.keys[who].key),
            action=action,
            batch=batch,
            inputs=inputs,
            outputs=outputs,
            counterparty=counterparty,
            **fields,
        )
        result: IngestResult = self.node.ingest.submit(signed)
        self.last_event = result.event_hash
        return result.event_hash

    def worker(self, policy: CommitPolicy | None = None) -> CommitWorker:
        """A commit worker for this node (default policy unless given), e.g. to ``run`` in
        a thread while the test submits."""
        return CommitWorker(
            store=self.node.store,
            client=self.node.commit_client(),
            node=self.node.node_key(self.password),
            policy=policy or CommitPolicy(),
        )

    def commit(self) -> list[WindowResult]:
        """Commit every accepted event now, in as many windows as needed."""
        done = []
        while (result := self._worker.commit_once()) is not None:
            done.append(result)
        return done

    def wait_for_proof(self, event_hash: bytes, *, timeout: float = 30) -> EventProof:
        """The event's proof once anchored, committing pending windows meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            with self.node.store.read() as conn:
                row = self.node.store.events.get(conn, event_hash)
                window = (
                    self.node.store.windows.get(conn, row.window_id)
                    if row is not None and row.window_id is not None
                    else None
                )
            if row is None:
                raise ProofTimeoutError(f"no event 0x{event_hash.hex()} was accepted")
            if row.status == EventStatus.REJECTED:
                raise ProofTimeoutError(f"the chain rejected 0x{event_hash.hex()}")
            if (
                row.status == EventStatus.ANCHORED
                and window is not None
                and window.block_number is not None
                and row.anchor_seq is not None
            ):
                return EventProof(
                    event_hash=event_hash,
                    root=window.root,
                    proof=row.proof,
                    seq=row.anchor_seq,
                    tx_hash=window.tx_hash,
                    block_number=window.block_number,
                )
            if time.monotonic() > deadline:
                raise ProofTimeoutError(f"0x{event_hash.hex()} not anchored in {timeout} s")
            if not self.commit():
                time.sleep(0.05)

    # ----- queries -----

    def batch_id(self, identifier: str) -> bytes:
        return bytes(parse_identifier(identifier).batch_id)

    def provenance(self, identifier: str) -> Provenance:
        return self.provenance_service.provenance(self.batch_id(identifier))

    def trace(self, identifier: str) -> Trace:
        return self.provenance_service.trace(self.batch_id(identifier))

    def export(self, identifier: str) -> Bundle:
        return self.provenance_service.export(self.batch_id(identifier))

    def verify(self, bundle: Bundle) -> Report:
        """Check ``bundle`` against this harness's chain (as `tracenode verify` would)."""
        return verify_bundle(bundle, self.provenance_service.reader())
