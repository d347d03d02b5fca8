"""The page's custody rules (api/static/verify-core.js ``applyRules``, the second
implementation the browser's verifier replays anchor-only windows with) decide exactly as
node/events/rules.py ``apply`` does, as node/proofs/verify.py calls it: random sequences of
events, of every action and many malformed shapes, signed by the parties a batch names or
anyone, go through both; after each the two accept it, or refuse it with the same
rejection kind and message, and leave every batch in the same state.

The plans run in one Node process per hypothesis example (a few dozen plans each), so the
whole differential costs a few seconds (tests/node/ingest/test_parity.py holds the Python
rules to the contract the same way)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from node.events.batch import BatchState
from node.events.hashing import keccak
from node.events.rules import Actor, Receiver, apply
from node.events.typed_data import MAX_LINKED_BATCHES, ZERO20, ZERO32, Action, Role, TraceEvent
from node.exceptions import EventRejectedError
from tests.web.test_verify_core import node_js

#: Participants by id: roles, active. 6 is a suspended carrier, 7 an auditor (no custody).
PARTICIPANTS: dict[int, tuple[Role, bool]] = {
    1: (Role.PRODUCER, True),
    2: (Role.PROCESSOR, True),
    3: (Role.LOGISTICS, True),
    4: (Role.RETAILER, True),
    5: (Role.REGULATOR, True),
    6: (Role.LOGISTICS, False),
    7: (Role.AUDITOR, True),
}
LOTS = [keccak(f"lot {i}".encode()) for i in range(4)]
PALLET = keccak(b"pallet")
NAMED = ["custodian", "custodian", "receiver", "producer"]
SHAPES = ["ok"] * 16 + ["quantity0", "counterparty", "inputs", "batchzero", "pallet"]

#: Actions weighted so that plans get far into the lifecycle (lots made, shipped, received).
ACTIONS = [Action.COMMISSION] * 3 + [Action.SHIP, Action.RECEIVE] * 3 + list(Action)
HOWS = ["head"] * 8 + ["zero", "stale"]


def _plan(rng: random.Random) -> list[tuple[Any, ...]]:
    """A random plan: (action, who signs, whom a SHIP names, lots, previous event, shape)."""
    return [
        (
            rng.choice(ACTIONS),
            rng.choice([*NAMED, *NAMED, *PARTICIPANTS]),
            rng.choice([*PARTICIPANTS, "outside", "unknown"]),
            [rng.randrange(len(LOTS)) for _ in range(rng.choice([1, 1, 1, 2, 3]))],
            rng.choice(HOWS),
            rng.choice(SHAPES),
        )
        for _ in range(rng.randint(10, 30))
    ]


def _address(participant: int) -> bytes:
    return bytes([participant]) * 20


def _event(
    step: tuple[Any, ...], batches: dict[bytes, BatchState], serial: int
) -> tuple[TraceEvent, int, Receiver | None]:
    """The concrete event a step makes on ``batches``, its signer and the SHIP's receiver."""
    action, who, whom, picks, how, shape = step
    lots = [LOTS[i] for i in picks]
    subject = lots[0]
    stored = batches.get(subject)
    if who in NAMED:
        named = {
            "custodian": stored.custodian_id if stored else 0,
            "receiver": stored.receiver_id if stored else 0,
            "producer": stored.producer_id if stored else 0,
        }[who]
        who = named or 1

    def head(batch_id: bytes) -> bytes:
        if how == "zero":
            return ZERO32
        if how == "stale":
            return keccak(b"stale" + batch_id)
        held = batches.get(batch_id)
        return held.head if held else ZERO32

    fields: dict[str, Any] = {"quantity": 0 if shape == "quantity0" else 5, "nonce": serial}
    receiver = None
    if action is Action.TRANSFORM:
        output = keccak(f"output {serial}".encode())
        fields |= {
            "inputs": tuple(lots),
            "input_prev_hashes": tuple(head(b) for b in lots),
            "outputs": (ZERO32,) if shape == "batchzero" else (output,),
        }
        if shape == "inputs":
            fields["outputs"] = (output, LOTS[picks[-1]])  # an output that exists
        if shape == "counterparty":
            fields["counterparty"] = _address(9)
    elif action in (Action.AGGREGATE, Action.DISAGGREGATE):
        fields |= {
            "batch_id": ZERO32 if shape == "batchzero" else PALLET,
            "inputs": tuple(lots),
            "input_prev_hashes": tuple(head(b) for b in lots),
        }
        if shape == "inputs":
            fields["batch_id"] = subject  # the pallet among its lots
        if shape == "pallet":
            fields["batch_id"] = LOTS[picks[0] - 1]  # a lot (a custody batch once made)
        if shape == "counterparty":
            fields["counterparty"] = _address(9)
    else:
        fields |= {
            "batch_id": ZERO32 if shape == "batchzero" else subject,
            "prev_event_hash": head(subject),
        }
        if shape == "inputs":
            fields |= {"inputs": (subject,), "input_prev_hashes": (head(subject),)}
        if action is Action.SHIP:
            if whom == "outside":
                fields["counterparty"] = ZERO20
            elif whom == "unknown":
                fields["counterparty"] = _address(0x77)
            else:
                roles, active = PARTICIPANTS[whom]
                fields["counterparty"] = _address(whom)
                receiver = Receiver(whom, roles, active)
        elif shape == "counterparty":
            fields["counterparty"] = _address(9)
    return TraceEvent(action, **fields), who, receiver


def _states(batches: dict[bytes, BatchState]) -> list[list[Any]]:
    return [
        [
            "0x" + b.batch_id.hex(),
            b.producer_id,
            b.custodian_id,
            b.receiver_id,
            b.status.name,
            "0x" + b.head.hex(),
            "0x" + b.created_by.hex(),
        ]
        for b in sorted(batches.values(), key=lambda b: b.batch_id)
    ]


def _run(plans: list[list[tuple[Any, ...]]]) -> list[list[dict[str, Any]]]:
    """Each plan through Python's rules, then the same events through the page's; the page's
    answers are compared step by step with Python's. Python's answers, for the caller."""
    cases: list[list[dict[str, Any]]] = []
    ours: list[list[dict[str, Any]]] = []
    serial = 0
    for plan in plans:
        batches: dict[bytes, BatchState] = {}
        case, answers = [], []
        for step in plan:
            serial += 1
            event, signer, receiver = _event(step, batches, serial)
            digest = keccak(f"event {serial}".encode())
            roles, _ = PARTICIPANTS[signer]
            try:
                apply(event, digest, Actor(_address(signer), signer, roles), batches, receiver)
                outcome = ["accepted", ""]
            except EventRejectedError as exc:
                outcome = [type(exc).code, str(exc)]
            case.append(
                {
                    "event": event.message(),
                    "hash": "0x" + digest.hex(),
                    "actor": {"participantId": signer, "roles": int(roles)},
                    "receiver": None
                    if receiver is None
                    else {
                        "participantId": receiver.participant_id,
                        "roles": int(receiver.roles),
                        "active": receiver.active,
                    },
                }
            )
            answers.append({"outcome": outcome, "states": _states(batches)})
        cases.append(case)
        ours.append(answers)
    theirs = node_js(
        """
        const states = (batches) => [...batches.values()]
          .sort((a, b) => (a.batchId < b.batchId ? -1 : 1))
          .map((b) => [
            b.batchId, b.producerId, b.custodianId, b.receiverId, b.status, b.head, b.createdBy,
          ]);
        console.log(JSON.stringify(data.map((plan) => {
          const batches = new Map();
          return plan.map((step) => {
            let outcome = ["accepted", ""];
            try {
              const event = core.parseEvent(step.event);
              core.applyRules(event, step.hash, step.actor, batches, step.receiver);
            } catch (error) {
              if (!(error instanceof core.RuleError)) throw error;
              outcome = [error.kind, error.message];
            }
            return { outcome, states: states(batches) };
          });
        })));
        """,
        cases,
    )
    for number, (mine, reference, case) in enumerate(zip(theirs, ours, cases, strict=True)):
        for index, (js, py) in enumerate(zip(mine, reference, strict=True)):
            assert js == py, (number, index, case[index])
    return ours


# A drawn seed has nothing to shrink: a failure names its plan and step instead.
@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.randoms(use_true_random=False))
def test_the_page_s_custody_rules_decide_as_node_events_rules(rng: random.Random) -> None:
    _run([_plan(rng) for _ in range(40)])


def test_every_rule_is_reached_alike_through_a_whole_lifecycle() -> None:
    """A fixed plan that reaches every acceptance and every refusal the replay can meet."""
    a, b, c, d = [0], [1], [2], [3]
    plan = [
        (Action.COMMISSION, 1, 1, a, "head", "ok"),
        (Action.COMMISSION, 1, 1, b, "head", "ok"),
        (Action.COMMISSION, 1, 1, a, "head", "ok"),  # batch-exists
        (Action.COMMISSION, 1, 1, c, "head", "quantity0"),  # invalid-event
        (Action.COMMISSION, 1, 1, c, "stale", "ok"),  # head-mismatch
        (Action.SHIP, 3, 4, a, "head", "ok"),  # not-custodian
        (Action.SHIP, "custodian", 6, a, "head", "ok"),  # invalid-receiver: suspended
        (Action.SHIP, "custodian", 7, a, "head", "ok"),  # invalid-receiver: no custody role
        (Action.SHIP, "custodian", "unknown", a, "head", "ok"),  # invalid-receiver: nobody
        (Action.SHIP, "custodian", 3, a, "head", "ok"),
        (Action.SHIP, "custodian", 3, a, "head", "ok"),  # invalid-status: in transit
        (Action.RECEIVE, 4, 1, a, "head", "ok"),  # not-receiver
        (Action.RECEIVE, "receiver", 1, a, "head", "ok"),
        (Action.SHIP, 3, 2, d, "head", "ok"),  # unknown-batch
        (Action.TRANSFORM, 1, 1, [1, 1], "head", "ok"),  # an input listed twice
        (Action.TRANSFORM, 1, 1, b, "head", "inputs"),  # an output that exists
        (Action.TRANSFORM, 1, 1, b, "head", "batchzero"),  # a zero output
        (Action.AGGREGATE, 1, 1, b, "head", "ok"),
        (Action.AGGREGATE, 1, 1, b, "head", "inputs"),  # the pallet among its lots
        (Action.AGGREGATE, 1, 1, b, "head", "pallet"),  # pallet-is-batch: lot a
        (Action.DISAGGREGATE, 1, 1, b, "head", "pallet"),  # pallet-is-batch: lot a
        (Action.DISAGGREGATE, 1, 1, b, "head", "ok"),
        (Action.OBSERVE, 5, 1, b, "head", "ok"),
        (Action.TRANSFORM, 1, 1, b, "head", "ok"),
        (Action.SHIP, 1, 3, b, "head", "ok"),  # invalid-status: consumed
        (Action.RECALL, 3, 1, a, "head", "ok"),  # not-recaller
        (Action.RECALL, 5, 1, a, "head", "ok"),
        (Action.SHIP, "custodian", 4, a, "head", "ok"),  # batch-recalled
        (Action.RECALL, 5, 1, a, "head", "ok"),  # invalid-status: recalled
        (Action.DESTROY, "custodian", 1, a, "head", "ok"),
        (Action.DESTROY, "custodian", 1, a, "head", "ok"),  # invalid-status: destroyed
        (Action.RECEIVE, 4, 1, c, "zero", "ok"),  # adopted from outside
        (Action.RECEIVE, 3, 1, c, "zero", "ok"),  # batch-in-network
        (Action.SHIP, "custodian", "outside", c, "head", "ok"),  # exported
        (Action.RECEIVE, 3, 1, c, "zero", "ok"),  # head-mismatch: not the export's head
        (Action.RECEIVE, 3, 1, c, "head", "ok"),  # back into the network
        (Action.OBSERVE, 5, 1, c, "head", "counterparty"),  # invalid-event
    ]

    [answers] = _run([plan])

    kinds = {a["outcome"][0] for a in answers}
    assert kinds == {
        "accepted",
        "batch-exists",
        "invalid-event",
        "head-mismatch",
        "not-custodian",
        "invalid-receiver",
        "invalid-status",
        "not-receiver",
        "unknown-batch",
        "batch-recalled",
        "not-recaller",
        "batch-in-network",
        "pallet-is-batch",
    }
    assert answers[-2]["outcome"] == ["accepted", ""]


def test_the_page_s_limit_of_linked_batches_is_the_contract_s() -> None:
    assert node_js("console.log(core.MAX_LINKED_BATCHES);", None) == MAX_LINKED_BATCHES
