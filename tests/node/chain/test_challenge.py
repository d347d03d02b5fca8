"""The anchor-only deployment's CustodyChallenge, deployed and joined as the node does, and
one game played end to end on the embedded chain: an invalid transition marks its window,
an honest one cannot, and the contract's refusals decode to typed errors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from node.chain.artifacts import load
from node.chain.deploy import Deployment, contract, deploy_contracts, join_deployment
from node.chain.embedded import embedded_web3
from node.chain.errors import decode_error, revert_data
from node.chain.logs import WINDOW_ANCHORED, committed_roots, window_commitment
from node.events.merkle import MerkleTree
from node.events.typed_data import ZERO32, Action, BatchStatus, Domain, Role, TraceEvent
from node.exceptions import ConfigurationError, ContractError, NotCustodianError


@dataclass
class Game:
    w3: Web3
    deployment: Deployment
    node: ChecksumAddress
    anchors: Contract
    challenge: Contract
    domain: Domain
    keys: dict[str, tuple[LocalAccount, int]]
    next_seq: int = 1


@pytest.fixture(scope="module")
def game() -> Game:
    w3 = embedded_web3()
    admin, node = list(w3.eth.accounts)[:2]
    deployment = deploy_contracts(w3, admin=admin, node=node, challenge=True)
    assert deployment.custody_challenge is not None
    participants = contract(w3, "ParticipantRegistry", deployment.participant_registry)
    participants.functions.setOpenIdentifiers(admin, True).transact({"from": admin})
    keys = {}
    for name, roles in (("farm", Role.PRODUCER), ("carrier", Role.LOGISTICS)):
        account: LocalAccount = Account.create()
        participants.functions.register(account.address, name, int(roles), "").transact(
            {"from": admin}
        )
        keys[name] = (account, participants.functions.authorize(account.address).call()[0])
    return Game(
        w3=w3,
        deployment=deployment,
        node=node,
        anchors=contract(w3, "AnchorRegistry", deployment.anchor_registry),
        challenge=contract(w3, "CustodyChallenge", deployment.custody_challenge),
        domain=Domain(deployment.chain_id, bytes.fromhex(deployment.batch_registry[2:])),
        keys=keys,
    )


def test_an_enforced_deployment_has_no_challenge() -> None:
    w3 = embedded_web3()
    admin, node = list(w3.eth.accounts)[:2]
    assert deploy_contracts(w3, admin=admin, node=node).custody_challenge is None


def test_the_challenge_reads_the_deployments_registries_and_is_joined(game: Game) -> None:
    d = game.deployment
    assert game.challenge.functions.registries().call() == [
        d.participant_registry,
        d.anchor_registry,
        d.batch_registry,
    ]
    joined = join_deployment(game.w3, d.batch_registry, d.custody_challenge)
    assert replace(joined, block_number=0) == replace(d, block_number=0)
    with pytest.raises(ConfigurationError, match="is not a TraceNode CustodyChallenge"):
        join_deployment(game.w3, d.batch_registry, d.anchor_registry)
    with pytest.raises(ConfigurationError, match="no contract at"):
        join_deployment(game.w3, d.batch_registry, Web3.to_checksum_address("0x" + "22" * 20))


def test_an_invalid_transition_marks_its_window_and_an_honest_one_cannot(game: Game) -> None:
    farm, farm_id = game.keys["farm"]
    carrier, carrier_id = game.keys["carrier"]
    lot = keccak(b"lot-e2e")
    made = TraceEvent(Action.COMMISSION, batch_id=lot, quantity=10, nonce=1)
    made_hash = made.digest(game.domain)
    none = (ZERO32, 0, BatchStatus.NONE, 0)
    # Its identifier, "lot-e2e", is of no prefix kind, which the farm's node allows.
    honest = _window(game, made, farm, farm_id, none, made_hash, [(b"lot-e2e", 0)])
    # The carrier ships a lot the farm holds; the node anchors it anyway.
    moved = TraceEvent(Action.SHIP, batch_id=lot, prev_event_hash=made_hash, nonce=1)
    moved = replace(moved, counterparty=bytes.fromhex(farm.address[2:]))
    pre = (made_hash, farm_id, BatchStatus.ACTIVE, 1)
    fraud = _window(game, moved, carrier, carrier_id, pre, moved.digest(game.domain), [])

    challenger, latecomer = list(game.w3.eth.accounts)[3:5]
    refused = _call(game, honest, challenger)
    assert isinstance(refused, ContractError)
    assert refused.name == "CustodyChallengeTransitionValid"

    receipt = _transact(game, fraud, challenger)
    assert receipt["status"] == 1
    assert game.challenge.functions.fraudulent(fraud["root"]).call()
    kind, marker, _ = game.challenge.functions.fraudOf(fraud["root"]).call()
    assert (kind, marker) == (1, challenger)
    (marked,) = game.challenge.events.TransitionRefused().process_receipt(receipt, errors=DISCARD)
    reason = decode_error(bytes(marked["args"]["reason"]))
    assert isinstance(reason, NotCustodianError)
    assert not game.challenge.functions.fraudulent(honest["root"]).call()

    again = _call(game, fraud, latecomer)
    assert isinstance(again, ContractError)
    assert again.name == "CustodyChallengeAlreadyFraudulent"


def test_a_claim_with_a_forged_root_pair_is_refused_first(game: Game) -> None:
    """The window's state and transition roots are checked against its commitment before
    anything else: a claim naming other roots marks nothing, whatever it proves."""
    farm, farm_id = game.keys["farm"]
    carrier, carrier_id = game.keys["carrier"]
    lot = keccak(b"lot-forged-pair")
    made = TraceEvent(Action.COMMISSION, batch_id=lot, quantity=10, nonce=2)
    made_hash = made.digest(game.domain)
    _window(game, made, farm, farm_id, (ZERO32, 0, BatchStatus.NONE, 0), made_hash, [])
    moved = TraceEvent(Action.SHIP, batch_id=lot, prev_event_hash=made_hash, nonce=2)
    moved = replace(moved, counterparty=bytes.fromhex(farm.address[2:]))
    pre = (made_hash, farm_id, BatchStatus.ACTIVE, 1)
    fraud = _window(game, moved, carrier, carrier_id, pre, moved.digest(game.domain), [])
    root, state_root, transition_root = fraud["args"][0]
    sender = list(game.w3.eth.accounts)[3]

    for forged in (
        (root, keccak(b"another state"), transition_root),
        (root, transition_root, state_root),
    ):
        refused = _call(game, {"args": (forged, *fraud["args"][1:])}, sender)
        assert isinstance(refused, ContractError)
        assert refused.name == "CustodyChallengeWrongRoots"
        assert refused.args_by_name == {"root": root}
    assert not game.challenge.functions.fraudulent(root).call()


def test_the_window_commitment_has_one_definition(game: Game) -> None:
    """Python's window commitment is AnchorRegistry's (tests/web: and the page's)."""
    for state_root, transition_root in ((keccak(b"s"), keccak(b"t")), (b"\x01" * 32, ZERO32)):
        theirs = game.anchors.functions.windowCommitment(state_root, transition_root).call()
        assert theirs == window_commitment(state_root, transition_root)


def _window(
    game: Game,
    event: TraceEvent,
    signer: LocalAccount,
    signer_id: int,
    pre: tuple[bytes, int, BatchStatus, int],
    post_head: bytes,
    proofs: list[tuple[bytes, int]],
) -> dict[str, Any]:
    """Anchors a one-event window of ``event`` as the node would: its transition from
    ``pre`` to what the lifecycle makes of it (SHIP: in transit; else: active, the
    signer's). Returns the challenge's arguments."""
    digest = event.digest(game.domain)
    head, custodian, status, count = pre
    if event.action is Action.SHIP:
        after = (post_head, custodian, BatchStatus.IN_TRANSIT, count + 1)
    else:
        after = (post_head, signer_id, BatchStatus.ACTIVE, count + 1)
    seq = game.next_seq
    game.next_seq += 1
    leaf: tuple[Any, ...] = (digest, seq, signer_id, event.batch_id, head, custodian, int(status))
    leaf += (count, after[0], after[1], int(after[2]), after[3])
    types = _transition_types()
    transitions = MerkleTree([encode(types, list(leaf))], width=32 * len(types))
    events = MerkleTree([digest])
    state_root = keccak(b"state" + digest)
    game.anchors.functions.anchorWindow(events.root, state_root, transitions.root, seq, 1).transact(
        {"from": game.node}
    )
    assert game.anchors.functions.windowCommitmentOf(events.root).call() == window_commitment(
        state_root, transitions.root
    )
    signature = Account.unsafe_sign_hash(digest, signer.key)
    return {
        "root": events.root,
        "args": (
            (events.root, state_root, transitions.root),
            leaf,
            transitions.proof(0),
            (
                event.as_abi_tuple(),
                signature.v,
                signature.r.to_bytes(32, "big"),
                signature.s.to_bytes(32, "big"),
                [],
            ),
            events.proof(0),
            proofs,
        ),
    }


def _transition_types() -> list[str]:
    """The transition leaf's ABI types, as the contract declares its ``Transition``."""
    abi = load("CustodyChallenge").abi
    (leaf,) = [item for item in abi if item.get("name") == "transitionLeaf"]
    return [str(field["type"]) for field in leaf["inputs"][0]["components"]]


def _call(game: Game, claim: dict[str, Any], sender: ChecksumAddress) -> Exception:
    with pytest.raises(Exception) as raised:  # noqa: PT011 - its type depends on the backend
        game.challenge.functions.challengeTransition(*claim["args"]).call({"from": sender})
    data = revert_data(raised.value)
    assert data is not None
    return decode_error(data)


def _transact(game: Game, claim: dict[str, Any], sender: ChecksumAddress) -> Any:
    tx = game.challenge.functions.challengeTransition(*claim["args"]).transact({"from": sender})
    return game.w3.eth.wait_for_transaction_receipt(tx, timeout=10)


def test_a_window_log_is_taken_only_when_its_roots_hash_to_the_commitment() -> None:
    """node.chain.logs.committed_roots, which ChainReader.window_roots applies to the logs
    an endpoint returns: another contract's log, another window's, a malformed one, or
    roots that do not hash to the commitment are passed over."""
    registry, root = "0x" + "ab" * 20, keccak(b"window")
    state_root, transition_root = keccak(b"state"), keccak(b"transitions")
    commitment = window_commitment(state_root, transition_root)

    def log(address: str, topic_root: bytes, data: bytes) -> dict[str, Any]:
        return {
            "address": address,
            "topics": [WINDOW_ANCHORED, topic_root, bytes(32)],
            "data": data,
        }

    honest = log(registry.upper().replace("0X", "0x"), root, state_root + transition_root)
    forged = [
        log("0x" + "cd" * 20, root, state_root + transition_root),
        log(registry, keccak(b"other"), state_root + transition_root),
        log(registry, root, transition_root + state_root),
        log(registry, root, state_root + keccak(b"forged tree")),
        log(registry, root, state_root),
    ]
    assert committed_roots(forged, registry, root, commitment) is None
    assert committed_roots([*forged, honest], registry, root, commitment) == (
        state_root,
        transition_root,
    )
    with pytest.raises(ValueError, match="32 bytes"):
        window_commitment(state_root, b"\x01")
