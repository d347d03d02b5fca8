"""Deploy and wire the three registries on any chain (and, for the anchor-only custody
mode, its CustodyChallenge), or join a deployment made by another node (a network of
nodes on one chain, docs/network.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from node.chain.artifacts import ContractName, load
from node.chain.transact import Sender, send_transaction, sender_address
from node.events.identifiers import PrefixKind
from node.exceptions import ConfigurationError


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where the contracts live; everything a reader or verifier needs to find them."""

    chain_id: int
    participant_registry: ChecksumAddress
    batch_registry: ChecksumAddress
    anchor_registry: ChecksumAddress
    #: The block ParticipantRegistry was created in: where a node starts reading its logs.
    block_number: int
    #: The CustodyChallenge of an anchor-only deployment, where anyone proves a window
    #: fraudulent (docs/contracts.md); None for an enforced one.
    custody_challenge: ChecksumAddress | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def contract(w3: Web3, name: ContractName, address: ChecksumAddress) -> Contract:
    """A web3 contract object for the deployed contract ``name`` at ``address``."""
    return w3.eth.contract(address=address, abi=load(name).abi)


def deploy_contracts(
    w3: Web3, *, admin: Sender, node: ChecksumAddress, challenge: bool = False
) -> Deployment:
    """Deploy ParticipantRegistry, AnchorRegistry and BatchRegistry from ``admin``, and
    with ``challenge`` (the anchor-only custody mode) the CustodyChallenge that reads them.

    ``admin`` governs participants and roles; ``node`` may relay events and anchor roots.
    The BatchRegistry is allowed to anchor on a node's behalf, so that one commit
    transaction carries a window's operations and its root.

    ``admin`` is also the root of the identifier authority and, this deployment being one
    node, that node's registrar: it delegates itself the whole GS1 and handle namespaces,
    so it may license any prefix to the participants it registers (docs/contracts.md).
    """

    def send(call: Any) -> Any:
        return send_transaction(w3, call, admin)

    created: dict[str, int] = {}

    def create(name: ContractName, *args: Any) -> Contract:
        artifact = load(name)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = send(factory.constructor(*args))
        created[name] = int(receipt["blockNumber"])
        return contract(w3, name, receipt["contractAddress"])

    owner = sender_address(admin)
    participants = create("ParticipantRegistry", owner)
    anchors = create("AnchorRegistry", owner)
    batches = create("BatchRegistry", owner, participants.address, anchors.address)
    send(anchors.functions.grantRole(anchors.functions.COMMITTER_ROLE().call(), batches.address))
    challenger = (
        create("CustodyChallenge", participants.address, anchors.address, batches.address)
        if challenge
        else None
    )
    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        participant_registry=participants.address,
        batch_registry=batches.address,
        anchor_registry=anchors.address,
        block_number=0,
        custody_challenge=None if challenger is None else challenger.address,
    )
    grant_relayer(w3, deployment, admin, node)
    for kind in (PrefixKind.GS1, PrefixKind.HANDLE):
        send(participants.functions.delegate(owner, int(kind), ""))
    return replace(deployment, block_number=created["ParticipantRegistry"])


def grant_relayer(w3: Web3, deployment: Deployment, admin: Sender, node: ChecksumAddress) -> None:
    """Let ``node`` relay events and anchor roots (NODE_ROLE of BatchRegistry and
    AnchorRegistry): the root authority's step for a node's key (``admin``: the root)."""
    names: tuple[tuple[ContractName, ChecksumAddress], ...] = (
        ("AnchorRegistry", deployment.anchor_registry),
        ("BatchRegistry", deployment.batch_registry),
    )
    for name, address in names:
        registry = contract(w3, name, address)
        role = registry.functions.NODE_ROLE().call()
        send_transaction(w3, registry.functions.grantRole(role, node), admin)


def join_deployment(
    w3: Web3, batch_registry: ChecksumAddress, custody_challenge: ChecksumAddress | None = None
) -> Deployment:
    """The deployment whose BatchRegistry is at ``batch_registry`` (the EIP-712 verifying
    contract every node and bundle names), read from the chain: its registries, and the
    block the ParticipantRegistry was created in (where a node starts reading logs).
    ``custody_challenge``: the CustodyChallenge of an anchor-only deployment (nothing on
    the chain leads from the registries to it), checked to read these registries."""
    if not w3.eth.get_code(batch_registry):
        raise ConfigurationError(f"no contract at {batch_registry} on this chain")
    batches = contract(w3, "BatchRegistry", batch_registry)
    try:
        participants, anchors = batches.functions.registries().call()
    except Exception as exc:  # any failure means: not a BatchRegistry of ours
        raise ConfigurationError(f"{batch_registry} is not a TraceNode BatchRegistry") from exc
    participants = Web3.to_checksum_address(participants)
    anchors = Web3.to_checksum_address(anchors)
    for address in (participants, anchors):
        if not w3.eth.get_code(address):
            raise ConfigurationError(f"the registry {address} it names has no code")
    if custody_challenge is not None:
        _check_challenge(w3, custody_challenge, (participants, anchors, batch_registry))
    return Deployment(
        chain_id=w3.eth.chain_id,
        participant_registry=participants,
        batch_registry=batch_registry,
        anchor_registry=anchors,
        block_number=_created_at(w3, participants),
        custody_challenge=custody_challenge,
    )


def _check_challenge(
    w3: Web3, address: ChecksumAddress, registries: tuple[ChecksumAddress, ...]
) -> None:
    """That ``address`` is a CustodyChallenge reading exactly ``registries`` (participant,
    anchor and batch registry)."""
    if not w3.eth.get_code(address):
        raise ConfigurationError(f"no contract at {address} on this chain")
    try:
        read = contract(w3, "CustodyChallenge", address).functions.registries().call()
    except Exception as exc:  # any failure means: not a CustodyChallenge of ours
        raise ConfigurationError(f"{address} is not a TraceNode CustodyChallenge") from exc
    if tuple(Web3.to_checksum_address(a) for a in read) != registries:
        raise ConfigurationError(f"the CustodyChallenge at {address} reads other registries")


def _created_at(w3: Web3, address: ChecksumAddress) -> int:
    """The first block at which ``address`` holds code (a binary search of the state)."""
    low, high = 0, int(w3.eth.block_number)
    while low < high:
        middle = (low + high) // 2
        if w3.eth.get_code(address, block_identifier=middle):
            high = middle
        else:
            low = middle + 1
    return low
