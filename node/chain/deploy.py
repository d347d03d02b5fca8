"""Deploy and wire the three registries on any chain."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from node.chain.artifacts import ContractName, load
from node.chain.transact import Sender, send_transaction, sender_address
from node.events.identifiers import PrefixKind


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where the contracts live; everything a reader or verifier needs to find them."""

    chain_id: int
    participant_registry: ChecksumAddress
    batch_registry: ChecksumAddress
    anchor_registry: ChecksumAddress
    block_number: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def contract(w3: Web3, name: ContractName, address: ChecksumAddress) -> Contract:
    """A web3 contract object for the deployed contract ``name`` at ``address``."""
    return w3.eth.contract(address=address, abi=load(name).abi)


def deploy_contracts(w3: Web3, *, admin: Sender, node: ChecksumAddress) -> Deployment:
    """Deploy ParticipantRegistry, AnchorRegistry and BatchRegistry from ``admin``.

    ``admin`` governs participants and roles; ``node`` may relay events and anchor roots.
    The BatchRegistry is allowed to anchor on a node's behalf, so that one commit
    transaction carries a window's operations and its root.

    ``admin`` is also the root of the identifier authority and, this deployment being one
    node, that node's registrar: it delegates itself the whole GS1 and handle namespaces,
    so it may license any prefix to the participants it registers (docs/contracts.md).
    """

    def send(call: Any) -> Any:
        return send_transaction(w3, call, admin)

    def create(name: ContractName, *args: Any) -> Contract:
        artifact = load(name)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = send(factory.constructor(*args))
        return contract(w3, name, receipt["contractAddress"])

    owner = sender_address(admin)
    participants = create("ParticipantRegistry", owner)
    anchors = create("AnchorRegistry", owner)
    batches = create("BatchRegistry", owner, participants.address, anchors.address)
    send(anchors.functions.grantRole(anchors.functions.COMMITTER_ROLE().call(), batches.address))
    send(anchors.functions.grantRole(anchors.functions.NODE_ROLE().call(), node))
    send(batches.functions.grantRole(batches.functions.NODE_ROLE().call(), node))
    for kind in (PrefixKind.GS1, PrefixKind.HANDLE):
        send(participants.functions.delegate(owner, int(kind), ""))
    return Deployment(
        chain_id=w3.eth.chain_id,
        participant_registry=participants.address,
        batch_registry=batches.address,
        anchor_registry=anchors.address,
        block_number=w3.eth.block_number,
    )
