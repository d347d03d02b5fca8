"""A real node (embedded chain persisted in a data directory, SQLite store) behind the
gateway, with one registered participant per role and an API key for each; and the
three-node network (tests/network.py) that the network's modules share."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI

from api import create_app
from api.settings import ApiSettings
from node.chain.commits import CommitClient
from node.commit.worker import CommitWorker
from node.context import Node, init_node
from node.events.hashing import keccak
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent, submission_document
from node.events.typed_data import Action, Role, TraceEvent
from node.store.apikeys import ApiKeys
from node.testing.harness import DEFAULT_LICENCES
from tests.network import Network, postgres_three_nodes

PASSWORD = "gateway test"
GTIN = "09506000134352"
ROLES = {
    "farm": (Role.PRODUCER, "0614141"),
    "processor": (Role.PROCESSOR, "0614142"),
    "carrier": (Role.LOGISTICS, ""),
    "shop": (Role.RETAILER, "88.123.45"),
    "regulator": (Role.REGULATOR, ""),
}
#: Limits high enough that the shared app never rate-limits a test by accident.
TEST_SETTINGS = ApiSettings(
    rate_per_second=10_000, rate_burst=100_000, webhooks_allow_loopback=True
)


class AppClient:
    """A synchronous client calling the app in-process through httpx's ASGI transport
    (on an event loop in a helper thread, as a server would run it)."""

    def __init__(self, app: FastAPI, *, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self._portal_context = anyio.from_thread.start_blocking_portal()
        self.portal = self._portal_context.__enter__()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=client)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            return await self._client.request(method, url, **kwargs)

        return self.portal.call(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self.portal.call(self._client.aclose)
        self._portal_context.__exit__(None, None, None)


@dataclass
class Rig:
    node: Node
    app: FastAPI
    client: AppClient
    registrar: LocalAccount
    node_key: LocalAccount
    admin_token: str
    accounts: dict[str, LocalAccount]
    tokens: dict[str, str]
    pids: dict[str, int]
    nonces: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        token = self.admin_token if who == "admin" else self.tokens[who]
        return {"Authorization": f"Bearer {token}"}

    def sign(self, who: str, action: Action, **fields: Any) -> SignedEvent:
        """A signed event by ``who`` with its next nonce (fields as TraceEvent's)."""
        self.nonces[who] = self.nonces.get(who, 0) + 1
        defaults: dict[str, Any] = {"nonce": self.nonces[who], "event_time": _now()}
        if action is Action.COMMISSION:
            defaults |= {"product": keccak(b"gtin"), "quantity": 10}
        event = TraceEvent(action, **(defaults | fields))
        account = self.accounts[who]
        return SignedEvent(event, sign_digest(event.digest(self.node.domain), bytes(account.key)))

    def commission(self, who: str = "farm") -> tuple[str, dict[str, Any]]:
        """A fresh lot identifier and the submission that commissions it."""
        lot = f"https://id.gs1.org/01/{GTIN}/10/L{secrets.token_hex(4).upper()}"
        from node.events.identifiers import parse_identifier

        signed = self.sign(who, Action.COMMISSION, batch_id=bytes(parse_identifier(lot).batch_id))
        document = submission_document(signed)
        document["identifiers"] = [lot]
        return lot, document

    def commit(self) -> int:
        worker = CommitWorker(
            store=self.node.store,
            client=CommitClient(self.node.w3, self.node.deployment),
            node=self.node_key,
        )
        windows = 0
        while worker.commit_once() is not None:
            windows += 1
        return windows


def _now() -> int:
    return int(time.time() * 1000)


def make_node(data_dir: Path) -> Node:
    init_node(data_dir, PASSWORD)
    return Node(data_dir)


def register_all(node: Node, registrar: LocalAccount) -> dict[str, LocalAccount]:
    accounts: dict[str, LocalAccount] = {}
    for name, (roles, prefix) in ROLES.items():
        account: LocalAccount = Account.create()
        node.registry.register(
            registrar,
            key=account.address,
            name=name,
            roles=roles,
            prefix=prefix,
            licences=DEFAULT_LICENCES.get(name, ()),
        )
        accounts[name] = account
    node.sync_participants()
    return accounts


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    node = make_node(tmp_path_factory.mktemp("gateway") / "data")
    try:
        registrar = node.admin(PASSWORD)
        accounts = register_all(node, registrar)
        with node.store.read() as conn:
            pids = {
                row.name: row.id for row in node.store.participants.all(conn) if row.name in ROLES
            }
        keys = ApiKeys(node.store)
        tokens = {name: keys.create(participant_id=pid).token for name, pid in pids.items()}
        app = create_app(node, settings=TEST_SETTINGS, registrar=registrar)
        client = AppClient(app)
        try:
            yield Rig(
                node=node,
                app=app,
                client=client,
                registrar=registrar,
                node_key=node.node_key(PASSWORD),
                admin_token=keys.create(admin=True).token,
                accounts=accounts,
                tokens=tokens,
                pids=pids,
            )
        finally:
            client.close()
            app.state.gateway.rpc.close()
    finally:
        node.close()


#: Closes the shared network (:func:`three_node_network`) once started.
_NETWORK_STOP = pytest.StashKey[ExitStack]()
#: The last test of the run that uses the shared network.
_NETWORK_LAST = pytest.StashKey["pytest.Item | None"]()


@pytest.fixture(scope="session")
def three_node_network(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Network]:
    """The three-node network of tests/network.py, B on PostgreSQL: one for every module
    that uses it (tests/api/test_network.py, tests/api/test_provenance_network.py), as
    starting it takes seconds. Each test leaves it as it found it, but for what it adds (a
    node it kills is started again, a URL it moves set back, each in a ``finally``), and
    makes its lots under codes of its own. Stopped right after the last test that uses
    it (:func:`pytest_runtest_teardown`), not at the end of the run, so that three idle
    nodes and anvil do not run beside the rest of the suite."""
    with ExitStack() as stack:
        request.config.stash[_NETWORK_STOP] = stack
        yield stack.enter_context(postgres_three_nodes(tmp_path_factory.mktemp("network")))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last test using :func:`three_node_network` (its module's fixtures torn
    down, failing or not), the network is stopped."""
    try:
        return (yield)
    finally:
        stash = item.config.stash
        if _NETWORK_STOP in stash:  # started
            if _NETWORK_LAST not in stash:
                users = [
                    i
                    for i in item.session.items
                    if "three_node_network" in getattr(i, "fixturenames", ())
                ]
                stash[_NETWORK_LAST] = users[-1] if users else None
            if item is stash[_NETWORK_LAST]:
                stash[_NETWORK_STOP].close()
