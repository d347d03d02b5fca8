"""The node's local rules decide exactly as BatchRegistry does, error for error.

Random sequences of lifecycle events, each signed and given to both the ingest service
(on a store mirroring the chain's participants) and the contract: both accept it, or
both refuse it with the same rule. Signers are drawn mostly from the parties a batch
names (custodian, receiver, producer), so that sequences get far into the lifecycle.

After every step the three places that keep a batch's lifecycle agree on every batch:
the contract's record (BatchRegistry.batch), the node's store (what its rules judge the
next event on), and the state a verifier replays from the accepted events
(node/proofs/state.py, the one transition the commit worker's state roots and both
verifiers use; the browser's twin is held to it by tests/web/test_verify_core.py).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable

from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.chain.errors import decode_error, revert_data
from node.chain.reader import Contracts
from node.chain.registry import ParticipantRegistryClient
from node.events.identifiers import PrefixKind, identifier_split, parse_identifier
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, BatchStatus, TraceEvent
from node.ingest.chain_view import ChainView
from node.ingest.service import IngestService
from node.participants.sync import sync_participants
from node.proofs.state import replay
from node.store.store import Store
from tests.conftest import Chain

PARTIES = ["farm", "processor", "carrier", "shop", "regulator"]
ROLES_OF_BATCH = ["custodian", "custodian", "receiver", "producer"]
#: A SHIP's receiver outside the network: counterparty zero (the batch is EXPORTED).
OUTSIDE = "outside"
_salt = itertools.count()

steps = st.lists(
    st.tuples(
        st.sampled_from([a for a in Action if a.on_chain]),
        st.sampled_from(ROLES_OF_BATCH + PARTIES),  # who signs
        st.sampled_from([*PARTIES, OUTSIDE]),  # receiver, for SHIP
        st.lists(st.integers(0, 6), min_size=1, max_size=3),  # lots (subject / inputs)
        st.sampled_from(["head"] * 6 + ["zero", "stale"]),
    ),
    min_size=8,
    max_size=30,
)


class Parity:
    """Submits each step to the node and the contract and asserts they agree."""

    def __init__(self, chain: Chain, store: Store) -> None:
        self.chain = chain
        client = ParticipantRegistryClient(chain.w3, chain.deployment)
        sync_participants(store=store, source=client, head=chain.w3.eth.block_number)
        d = chain.deployment
        view = ChainView(
            chain.w3, Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
        )
        # The node's open-identifier policy is the chain's (the root's), read as it changes.
        self.store = store
        self.ingest = IngestService(
            store=store, domain=chain.domain, open_policy=view.open_identifiers
        )
        self.registry = client
        #: The events both accepted, in order: (digest, event, signer's participant id).
        self.accepted: list[tuple[bytes, TraceEvent, int]] = []
        self.salt = next(_salt)
        self.names: dict[bytes, str] = {}
        # four lots of the farm's, one under a prefix nobody holds (adopted from outside),
        # and two open identifiers (no prefix kind: only under the node's policy)
        self.lots = [self.lot("0614141", f"L{self.salt}-{i}") for i in range(4)]
        self.lots.append(self.lot("4012345", f"F{self.salt}"))
        self.lots += [self.open_lot(f"urn:acme:lot:{self.salt}-{i}") for i in range(2)]
        self.by_id = {
            int(chain.participants.functions.authorize(account.address).call()[0]): name
            for name, account in chain.keys.items()
        }
        self.stale: dict[bytes, bytes] = {}
        self.seen: Counter[str] = Counter()
        self.number = 0

    def lot(self, prefix: str, name: str) -> bytes:
        """A lot of a GTIN under ``prefix`` (the farm's 0614141, the processor's 0614142, or
        4012345, which nobody holds)."""
        gtin = {
            "0614141": "00614141123452",
            "0614142": "00614142000011",
            "4012345": "04012345000016",
        }[prefix]
        identifier = parse_identifier(f"https://id.gs1.org/01/{gtin}/10/{name}")
        self.names[identifier.batch_id] = identifier.canonical
        return identifier.batch_id

    def open_lot(self, name: str) -> bytes:
        identifier = parse_identifier(name)
        self.names[identifier.batch_id] = identifier.canonical
        return identifier.batch_id

    def set_open(self, allowed: bool) -> None:
        """The root allows (or stops allowing) open identifiers for the node's registrar."""
        self.registry.set_open_identifiers(
            self.chain.admin, registrar=self.chain.admin, allowed=allowed
        )

    def proof(self, batch_id: bytes) -> tuple[bytes, int]:
        """The proof the commit worker would send: the split the contract checks."""
        split = identifier_split(parse_identifier(self.names[batch_id]))
        if split.kind is PrefixKind.OTHER:
            return split.proof(None)
        return split.proof(next(c for c in split.candidates if len(c) == 7))

    def state(self, batch_id: bytes) -> list:  # type: ignore[type-arg]
        return list(self.chain.batches.functions.batch(batch_id).call())

    def head(self, batch_id: bytes, how: str) -> bytes:
        if how == "zero":
            return bytes(32)
        if how == "stale":
            return self.stale.get(batch_id, keccak(b"never"))
        return bytes(self.state(batch_id)[4])

    def step(self, action: Action, who: str, receiver: str, picks: list[int], how: str) -> None:
        chain = self.chain
        self.number += 1
        subject = self.lots[picks[0]]
        producer, custodian, in_transit_to, status, _ = self.state(subject)
        named = {"producer": producer, "custodian": custodian, "receiver": in_transit_to}
        if who in named:
            who = self.by_id.get(named[who], "farm") if status != BatchStatus.NONE else "farm"
        nonce = self.salt * 1000 + self.number
        fields: dict[str, object] = {"nonce": nonce, "event_time": 1_732_000_000_000, "quantity": 5}
        if action is Action.TRANSFORM:
            inputs = tuple(dict.fromkeys(self.lots[i] for i in picks))
            fields |= {
                "inputs": inputs,
                "input_prev_hashes": tuple(self.head(b, how) for b in inputs),
                # under the transformer's prefix: the node does not check licences yet
                "outputs": (self.lot("0614142" if who == "processor" else "0614141", f"O{nonce}"),),
            }
        else:
            fields |= {"batch_id": subject, "prev_event_hash": self.head(subject, how)}
            if action is Action.SHIP:
                fields["counterparty"] = (
                    bytes(20)
                    if receiver == OUTSIDE
                    else bytes.fromhex(chain.keys[receiver].address[2:])
                )
        event = TraceEvent(action, **fields)  # type: ignore[arg-type]
        signature = sign_digest(event.digest(chain.domain), chain.keys[who].key)

        created = event.created_batch_ids()
        names = tuple(self.names[b] for b in created)
        local = self.ingest.submit_many([SignedEvent(event, signature, identifiers=names)])[0]
        proofs = [self.proof(b) for b in created]
        call = chain.batches.functions.submit(
            (event.as_abi_tuple(), signature[64], signature[:32], signature[32:64], proofs)
        )
        try:
            call.call({"from": chain.node})
            on_chain = None
        except Exception as exc:
            data = revert_data(exc)
            assert data is not None, exc  # noqa: PT017 - the revert data, whichever backend
            on_chain = type(decode_error(data))
        if on_chain is None:
            for batch_id in (event.batch_id, *event.inputs):
                self.stale[batch_id] = bytes(self.state(batch_id)[4])
            call.transact({"from": chain.node})
            signer = next(i for i, name in self.by_id.items() if name == who)
            self.accepted.append((event.digest(chain.domain), event, signer))
        self.seen[f"{action.name}:{'accepted' if on_chain is None else on_chain.__name__}"] += 1

        assert (type(local.error) if local.error else None) is on_chain, (action, who, local.error)
        # Only the batches an event names can move (each plan ends with a look at all).
        self.check_states(event.batch_ids())

    def check_states(self, batch_ids: Iterable[bytes] | None = None) -> None:
        """Chain, store and replayed state agree on ``batch_ids`` (default: every batch of
        the plan; the module docstring)."""
        replayed = replay(self.accepted)
        wanted = {b: self.names[b] for b in (self.names if batch_ids is None else batch_ids)}
        with self.store.read() as conn:
            stored = self.store.batches.load(conn, list(wanted))
        for batch_id, name in wanted.items():
            producer, custodian, receiver, status, head = self.state(batch_id)
            chain = (BatchStatus(status), int(custodian), bytes(head))
            leaf = replayed.get(batch_id)
            if status == BatchStatus.NONE:
                assert batch_id not in stored, name
                assert leaf is None, name
                continue
            assert leaf is not None, name
            assert (leaf.status, leaf.custodian, leaf.head) == chain, name
            held = stored[batch_id]
            assert (held.status, held.custodian_id, held.head) == chain, name
            assert (held.producer_id, held.receiver_id) == (int(producer), int(receiver)), name
            assert leaf.count == sum(batch_id in e.batch_ids() for _, e, _ in self.accepted)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps)
def test_node_and_contract_agree(chain: Chain, store: Store, plan: list[tuple]) -> None:  # type: ignore[type-arg]
    parity = Parity(chain, store)
    for step in plan:
        parity.step(*step)
    parity.check_states()


def test_node_and_contract_agree_through_a_whole_lifecycle(chain: Chain, store: Store) -> None:
    """A fixed plan that reaches every action's acceptance and the main refusals."""
    parity = Parity(chain, store)
    plan = [
        (Action.COMMISSION, "farm", "farm", [0], "zero"),
        (Action.COMMISSION, "farm", "farm", [1], "zero"),
        (Action.COMMISSION, "farm", "farm", [0], "zero"),  # exists
        (Action.SHIP, "carrier", "shop", [0], "head"),  # not custodian
        (Action.SHIP, "custodian", "processor", [0], "head"),
        (Action.SHIP, "custodian", "processor", [0], "head"),  # in transit
        (Action.RECEIVE, "shop", "farm", [0], "head"),  # not receiver
        (Action.RECEIVE, "receiver", "farm", [0], "head"),
        (Action.SHIP, "custodian", "processor", [1], "head"),
        (Action.RECEIVE, "receiver", "farm", [1], "head"),
        (Action.TRANSFORM, "custodian", "farm", [0, 1], "stale"),  # head mismatch
        (Action.TRANSFORM, "custodian", "farm", [0, 1], "head"),
        (Action.SHIP, "custodian", "carrier", [0], "head"),  # consumed
        (Action.COMMISSION, "farm", "farm", [2], "zero"),
        (Action.RECALL, "carrier", "farm", [2], "head"),  # not recaller
        (Action.RECALL, "regulator", "farm", [2], "head"),
        (Action.SHIP, "custodian", "carrier", [2], "head"),  # recalled
        (Action.DESTROY, "custodian", "farm", [2], "head"),
        (Action.COMMISSION, "farm", "farm", [3], "zero"),
        (Action.SHIP, "custodian", "regulator", [3], "head"),  # invalid receiver
        (Action.SHIP, "custodian", OUTSIDE, [3], "head"),  # out of the network: EXPORTED
        (Action.SHIP, "custodian", "processor", [3], "head"),  # exported: not movable here
        (Action.RECALL, "producer", "farm", [3], "head"),  # an exported lot can be recalled
        (Action.RECEIVE, "processor", "farm", [3], "head"),  # recalled while outside
        (Action.RECEIVE, "shop", "farm", [4], "zero"),  # never seen: adopted from outside
        (Action.RECEIVE, "carrier", "farm", [4], "zero"),  # now in the network: not adoptable
        (Action.RECEIVE, "shop", "farm", [0], "zero"),  # consumed, in the network
        (Action.SHIP, "custodian", OUTSIDE, [4], "head"),  # out again
        (Action.RECEIVE, "carrier", "farm", [4], "zero"),  # back, but not on the export's head
        (Action.RECEIVE, "carrier", "farm", [4], "head"),  # back into the network
    ]
    for step in plan:
        parity.step(*step)
    parity.check_states()

    accepted = {
        key.split(":")[0] for key, count in parity.seen.items() if key.endswith(":accepted")
    }
    assert accepted == {"COMMISSION", "SHIP", "RECEIVE", "TRANSFORM", "RECALL", "DESTROY"}
    assert parity.seen["SHIP:accepted"] == 4  # two within the network, two out of it
    assert parity.seen["RECEIVE:accepted"] == 4  # two shipments, an adoption, a return
    assert parity.seen["RECEIVE:BatchInNetworkError"] == 2
    assert parity.seen["RECEIVE:BatchRecalledError"] == 1
    refusals = {key.split(":")[1] for key in parity.seen if not key.endswith(":accepted")}
    assert len(refusals) >= 7, refusals


def test_node_and_contract_agree_on_open_identifiers(chain: Chain, store: Store) -> None:
    """Open identifiers (urn:acme:lot:…) are refused while the node's policy is closed,
    created and adopted once the root opens it, and refused again once it closes: on
    the node as on the chain, the node reading the policy from the chain."""
    parity = Parity(chain, store)
    plan_closed = [
        (Action.COMMISSION, "farm", "farm", [5], "zero"),  # open identifier refused
        (Action.RECEIVE, "shop", "farm", [6], "zero"),  # adoption of one: refused too
    ]
    plan_open = [
        (Action.COMMISSION, "farm", "farm", [5], "zero"),
        (Action.COMMISSION, "farm", "farm", [5], "zero"),  # exists
        (Action.SHIP, "custodian", "shop", [5], "head"),
        (Action.RECEIVE, "receiver", "farm", [5], "head"),
        (Action.RECEIVE, "shop", "farm", [6], "zero"),  # adopted from outside
    ]
    try:
        for step in plan_closed:
            parity.step(*step)
        parity.set_open(True)
        for step in plan_open:
            parity.step(*step)
    finally:
        parity.set_open(False)

    assert parity.seen["COMMISSION:OpenIdentifierRefusedError"] == 1
    assert parity.seen["RECEIVE:OpenIdentifierRefusedError"] == 1
    assert parity.seen["COMMISSION:accepted"] == 1
    assert parity.seen["COMMISSION:BatchExistsError"] == 1
    assert parity.seen["RECEIVE:accepted"] == 2
