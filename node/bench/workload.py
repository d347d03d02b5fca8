"""The mixed workload: signed events as a supply chain of many participants sends them.

Participants (100 by default) are producers, processors and auditors. Each lot goes
COMMISSION (a producer; a GS1 Digital Link, product, quantity, location and a harvest
record) → SHIP (to a processor, with a despatch advice) → RECEIVE (the processor, with a
receipt check) → TRANSFORM (the processor, into a new lot with its own Digital Link) →
OBSERVE (an auditor, a sensor report on the new lot). Four of five events are lifecycle
operations the contracts execute; payloads are a few hundred bytes of JSON, as EPCIS
captures carry.

Events are composed by the one definition (``node.events.compose``) with heads and
nonces tracked here, and grouped as the gateway takes them: one participant's events in
one request (its API key's), in three phases, since a lot's later events extend heads
other participants' events make. The easy workload (``node.bench.ingest.EventFactory``,
fresh lots of eight producers, no identifiers or payloads) stays beside it, labelled.
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

from eth_account import Account

from node.events.compose import EventSpec, compose
from node.events.identifiers import gtin_check_digit
from node.events.signatures import address_of, sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain, Role

#: The lifecycle each lot of the mixed workload goes through, in order.
MIXED_STEPS: Final = (
    Action.COMMISSION,
    Action.SHIP,
    Action.RECEIVE,
    Action.TRANSFORM,
    Action.OBSERVE,
)
#: The share of participants holding each role.
ROLE_SHARES: Final = ((Role.PRODUCER, 0.5), (Role.PROCESSOR, 0.25), (Role.AUDITOR, 0.25))


@dataclass(frozen=True, slots=True)
class Participant:
    name: str
    key: bytes
    roles: Role
    company_prefix: str

    @property
    def address(self) -> bytes:
        return address_of(self.key)

    @property
    def checksum_address(self) -> str:
        return str(Account.from_key(self.key).address)


@dataclass(frozen=True, slots=True)
class Request:
    """One participant's events, as one ``POST /v1/events`` (or ``submit_many``) sends them."""

    participant: int  # index into MixedWorkload.participants
    events: tuple[SignedEvent, ...]


@dataclass(slots=True)
class MixedWorkload:
    """Signed events of the mixed workload for ``domain``: ``make(lots)`` signs the next
    ``lots`` lots' events, returned as phases of requests (every request of a phase may go
    at once; a phase starts when the previous one is accepted)."""

    domain: Domain
    participants_count: int = 100
    bulk: int = 100
    seed: int = 12
    participants: list[Participant] = field(init=False)
    #: Participant ids on the node, by index (set once registered).
    ids: list[int] = field(init=False, default_factory=list)
    _nonces: list[int] = field(init=False)
    _serial: int = field(init=False, default=0)
    _rng: random.Random = field(init=False)
    _made: dict[int, list[SignedEvent]] = field(
        init=False, default_factory=lambda: defaultdict(list)
    )

    def __post_init__(self) -> None:
        if self.participants_count < 4:
            raise ValueError("the mixed workload needs at least 4 participants")
        self._rng = random.Random(self.seed)  # noqa: S311 - picks workload shapes, not secrets
        self.participants = []
        counts = [max(1, int(self.participants_count * share)) for _, share in ROLE_SHARES]
        counts[0] = self.participants_count - sum(counts[1:])
        for (role, _), count in zip(ROLE_SHARES, counts, strict=True):
            for index in range(count):
                number = len(self.participants)
                self.participants.append(
                    Participant(
                        name=f"bench {str(role.name).lower()} {index + 1}",
                        key=os.urandom(32),
                        roles=role,
                        company_prefix=f"95{number:07d}",
                    )
                )
        self._nonces = [0] * len(self.participants)

    @property
    def events_per_lot(self) -> int:
        return len(MIXED_STEPS)

    def describe(self) -> dict[str, Any]:
        """The workload as the bench's JSON states it."""
        return {
            "name": "mixed",
            "participants": len(self.participants),
            "roles": {
                str(role.name).lower(): sum(p.roles == role for p in self.participants)
                for role, _ in ROLE_SHARES
            },
            "per_lot": [step.name for step in MIXED_STEPS],
            "lifecycle_share": sum(s.on_chain for s in MIXED_STEPS) / len(MIXED_STEPS),
            "identifiers": "GS1 Digital Link on every COMMISSION and TRANSFORM output",
            "payload_bytes": "120-530 bytes of RFC 8785 JSON on every event (OBSERVE the largest)",
            "request": f"one participant's events, at most {self.bulk} a request",
        }

    def _of(self, role: Role) -> list[int]:
        return [i for i, p in enumerate(self.participants) if p.roles == role]

    def _sign(self, who: int, spec: EventSpec, heads: dict[bytes, bytes], to: int | None) -> bytes:
        """Sign ``spec`` as participant ``who``; returns the event hash and updates heads."""
        self._nonces[who] += 1
        counterparty = self.participants[to].address if to is not None else bytes(20)
        event, canonical, identifiers = compose(
            spec, counterparty=counterparty, heads=heads, nonce=self._nonces[who]
        )
        event_hash = event.digest(self.domain)
        signed = SignedEvent(
            event, sign_digest(event_hash, self.participants[who].key), canonical, identifiers
        )
        self._made[who].append(signed)
        if event.action.on_chain:
            for batch_id in event.batch_ids():
                heads[batch_id] = event_hash
        return event_hash

    def make(self, lots: int) -> list[list[Request]]:
        """The next ``lots`` lots' events (``5 * lots`` events), as three phases."""
        producers, processors = self._of(Role.PRODUCER), self._of(Role.PROCESSOR)
        auditors = self._of(Role.AUDITOR)
        rng = self._rng
        heads: dict[bytes, bytes] = {}
        phases: list[list[Request]] = []
        plan = []
        for _ in range(lots):
            self._serial += 1
            plan.append(
                (
                    self._serial,
                    rng.choice(producers),
                    rng.choice(processors),
                    rng.choice(auditors),
                )
            )
        # Phase 1: producers commission and ship.
        time0 = int(time.time() * 1000) - 3_600_000  # recent: within the monitor's bounds
        for serial, producer, processor, _ in plan:
            lot = self._link(producer, f"L{serial}")
            self._sign(
                producer,
                EventSpec(
                    Action.COMMISSION,
                    lot,
                    product=f"raw milk, lot {serial}",
                    quantity=1000 + serial % 500,
                    location=f"urn:epc:id:sgln:{self.participants[producer].company_prefix}.0.0",
                    payload=_harvest(serial, rng),
                    event_time=time0 + serial * 10,
                ),
                heads,
                None,
            )
            self._sign(
                producer,
                EventSpec(
                    Action.SHIP,
                    lot,
                    payload=_despatch(serial, rng),
                    event_time=time0 + serial * 10 + 1,
                ),
                heads,
                processor,
            )
        phases.append(self._requests())
        # Phase 2: processors receive and transform.
        for serial, producer, processor, _ in plan:
            lot = self._link(producer, f"L{serial}")
            self._sign(
                processor,
                EventSpec(
                    Action.RECEIVE,
                    lot,
                    payload=_receipt(serial, rng),
                    event_time=time0 + serial * 10 + 2,
                ),
                heads,
                None,
            )
            self._sign(
                processor,
                EventSpec(
                    Action.TRANSFORM,
                    inputs=[lot],
                    outputs=[self._link(processor, f"C{serial}")],
                    product=f"cheese, batch {serial}",
                    quantity=100 + serial % 50,
                    payload=_process(serial, rng),
                    event_time=time0 + serial * 10 + 3,
                ),
                heads,
                None,
            )
        phases.append(self._requests())
        # Phase 3: auditors observe the products.
        for serial, _, processor, auditor in plan:
            self._sign(
                auditor,
                EventSpec(
                    Action.OBSERVE,
                    self._link(processor, f"C{serial}"),
                    payload=_sensors(serial, rng),
                    event_time=time0 + serial * 10 + 4,
                ),
                heads,
                None,
            )
        phases.append(self._requests())
        return phases

    def _requests(self) -> list[Request]:
        requests = [
            Request(who, tuple(events[i : i + self.bulk]))
            for who, events in self._made.items()
            for i in range(0, len(events), self.bulk)
        ]
        self._made = defaultdict(list)
        return requests

    def _link(self, who: int, lot: str) -> str:
        gtin = "0" + self.participants[who].company_prefix + "001"
        return f"https://id.gs1.org/01/{gtin}{gtin_check_digit(gtin)}/10/{lot}"


def flatten(phases: list[list[Request]]) -> list[SignedEvent]:
    """Every event of ``phases``, in an order the node accepts."""
    return [event for phase in phases for request in phase for event in request.events]


def _harvest(serial: int, rng: random.Random) -> dict[str, Any]:
    return {
        "harvest": {
            "farm": f"farm {serial % 97}",
            "herd": [f"cow-{rng.randrange(10_000)}" for _ in range(4)],
            "volumeLitres": 1000 + serial % 500,
            "fatPercent": round(3.2 + rng.random(), 2),
            "proteinPercent": round(3.0 + rng.random() / 2, 2),
            "collectedAt": "2025-11-24T05:30:00Z",
            "certificates": ["organic EU-ÖKO-006", "animal welfare tier 2"],
        }
    }


def _despatch(serial: int, rng: random.Random) -> dict[str, Any]:
    return {
        "despatchAdvice": {
            "number": f"DA-{serial:08d}",
            "vehicle": f"TRK-{rng.randrange(1000):03d}",
            "sealNumbers": [f"S{rng.randrange(10**6):06d}" for _ in range(2)],
            "temperatureSetpointC": 4,
        }
    }


def _receipt(serial: int, rng: random.Random) -> dict[str, Any]:
    return {
        "receivingAdvice": {
            "despatchAdvice": f"DA-{serial:08d}",
            "receivedLitres": 1000 + serial % 500 - rng.randrange(3),
            "temperatureC": round(3 + rng.random() * 2, 1),
            "sealsIntact": True,
            "dock": f"dock {rng.randrange(1, 9)}",
        }
    }


def _process(serial: int, rng: random.Random) -> dict[str, Any]:
    return {
        "process": {
            "recipe": "alpine hard cheese v3",
            "vat": rng.randrange(1, 12),
            "rennet": "microbial",
            "pasteurised": {"temperatureC": 72, "seconds": 15},
            "yieldPercent": round(9 + rng.random(), 2),
            "operator": f"op-{serial % 31}",
        }
    }


def _sensors(serial: int, rng: random.Random) -> dict[str, Any]:
    return {
        "sensorReport": [
            {
                "type": "gs1:Temperature",
                "value": round(3 + rng.random() * 2, 2),
                "uom": "CEL",
                "time": f"2025-11-25T{hour:02d}:00:00Z",
            }
            for hour in range(6)
        ],
        "device": f"logger-{serial % 211}",
    }
