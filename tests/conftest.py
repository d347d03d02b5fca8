"""Fixtures shared by the project's tests: a fresh embedded chain with the contracts deployed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hypothesis import HealthCheck, settings
from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from node.chain.deploy import Deployment, contract, deploy_contracts
from node.chain.embedded import embedded_web3
from node.chain.registry import ParticipantRegistryClient
from node.events.typed_data import Domain, Role
from node.participants.sync import sync_participants
from node.store.store import Store
from tests.anvil import Anvil, AnvilUnavailableError, start_anvil, stop_anvil
from tests.environment import postgres_database, unavailable

# Property tests assert behaviour, never speed: on a shared 2-core machine the time a test
# or its data generation takes says nothing, and Hypothesis's deadline and too-slow health
# check made runs fail at random (once in tests/node/epcis/test_hashid.py).
settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("shared-machine")


@dataclass
class Chain:
    """A deployed TraceNode on a fresh embedded chain, with one participant per role."""

    w3: Web3
    deployment: Deployment
    admin: ChecksumAddress
    node: ChecksumAddress
    participants: Contract
    batches: Contract
    anchors: Contract
    domain: Domain
    keys: dict[str, LocalAccount]

    def register(self, name: str, roles: Role, prefix: str = "") -> LocalAccount:
        account: LocalAccount = Account.create()
        self.participants.functions.register(account.address, name, int(roles), prefix).transact(
            {"from": self.admin}
        )
        self.keys[name] = account
        return account

    def commit_key(self, store: Store) -> LocalAccount:
        """Make ``store`` ready to commit to this chain: a fresh node key, funded and
        granted NODE_ROLE on BatchRegistry and AnchorRegistry, and the registered
        participants mirrored into the store. Returns the key, for a commit worker."""
        node: LocalAccount = Account.create()
        self.w3.eth.send_transaction({"from": self.admin, "to": node.address, "value": Wei(10**21)})
        for registry in (self.batches, self.anchors):
            role = registry.functions.NODE_ROLE().call()
            registry.functions.grantRole(role, node.address).transact({"from": self.admin})
        sync_participants(
            store=store,
            source=ParticipantRegistryClient(self.w3, self.deployment),
            head=self.w3.eth.block_number,
        )
        return node


@pytest.fixture
def chain() -> Chain:
    return make_chain()


def make_chain(*, challenge: bool = False) -> Chain:
    """A fresh embedded chain with TraceNode deployed (``challenge``: with the anchor-only
    mode's CustodyChallenge) and one participant per role."""
    w3 = embedded_web3()
    admin, node = list(w3.eth.accounts)[:2]
    deployment = deploy_contracts(w3, admin=admin, node=node, challenge=challenge)
    result = Chain(
        w3=w3,
        deployment=deployment,
        admin=admin,
        node=node,
        participants=contract(w3, "ParticipantRegistry", deployment.participant_registry),
        batches=contract(w3, "BatchRegistry", deployment.batch_registry),
        anchors=contract(w3, "AnchorRegistry", deployment.anchor_registry),
        domain=Domain(deployment.chain_id, bytes.fromhex(deployment.batch_registry[2:])),
        keys={},
    )
    result.register("farm", Role.PRODUCER, "0614141")
    result.register("processor", Role.PROCESSOR, "0614142")
    result.register("carrier", Role.LOGISTICS)
    result.register("shop", Role.RETAILER, "88.123.45")
    result.register("regulator", Role.REGULATOR)
    return result


# ----- the store, on SQLite and on a real PostgreSQL -----


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database.

    PostgreSQL comes from TRACENODE_TEST_POSTGRES_URL (scripts/test.sh starts a server and
    sets it). Without it the PostgreSQL variants are skipped — except in CI, where a
    missing server is a failure (tests/environment.py).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


# ----- a real anvil (Foundry's JSON-RPC node) -----


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    """A fresh anvil on a free loopback port (tests/anvil.py), auto-mining; killed after.

    Without an anvil binary the test is skipped on a developer's machine and fails in CI.
    """
    try:
        started = start_anvil()
    except AnvilUnavailableError as exc:
        unavailable(str(exc))
    try:
        yield started
    finally:
        stop_anvil(started.process)
