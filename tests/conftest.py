"""Fixtures shared by the project's tests: a fresh embedded chain with the contracts deployed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from node.chain.deploy import Deployment, contract, deploy_contracts
from node.chain.embedded import embedded_web3
from node.events.typed_data import Domain, Role


@dataclass
class Chain:
    """A deployed TraceNode on a fresh embedded chain, with one participant per role."""

    w3: Web3
    deployment: Deployment
    admin: str
    node: str
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


@pytest.fixture
def chain() -> Chain:
    w3 = embedded_web3()
    admin, node = list(w3.eth.accounts)[:2]
    deployment = deploy_contracts(w3, admin=admin, node=node)
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
