"""The monitor's scenario library: labelled situations, written as data (TOML files, e.g.
``tests/scenarios/*.toml``), each built on a real node and judged by one monitor cycle.

A file holds ``[[scenario]]`` tables::

    [[scenario]]
    name = "shipped-more-than-made"      # unique in the library
    label = "threat"                     # normal | threat | near-miss
    about = "the farm ships 2,000 L of a 1,000 L lot"
    expect = ["shipped-exceeds-held:high"]   # every alert it must raise: kind[:severity]
    hours_later = 0                      # the monitor's clock, hours after now
    steps = [   # one line each: TOML's inline tables are
      { submit = "COMMISSION", by = "farm", batch = "m", product = "milk", amount = [1000, "LTR"] },
      { submit = "SHIP", by = "farm", batch = "m", to = "processor", amount = [2000, "LTR"] },
      { commit = true },
    ]

Every node has the harness's participants (farm, processor, carrier, shop, regulator);
``participants = { farm-2 = ["producer"] }`` registers more, by name and roles, before
the steps, each licensed a GS1 company prefix of its own (``07`` and its place in the
list). A lot a step creates is named under a company prefix its maker holds: the
product's GTIN when the maker holds its prefix, else the same item reference under the
maker's first prefix (the contracts let only a prefix's holder create lots under it).

Steps (one kind each, its keys checked strictly):

- ``submit``: an event signed by participant ``by`` and ingested. ``batch``, ``inputs``,
  ``outputs`` name lots (made unique per scenario); ``to`` the receiver of a SHIP;
  ``product`` a product of the table (its first id is signed) or any text; ``amount``
  ``[value, uom]`` goes in the payload (``quantity``, a TRANSFORM's ``outputQuantity``)
  and, rounded up, in the signed quantity unless ``quantity`` is given; ``place`` a
  location (an SGLN, a ``geo:`` URI) signed and named as the payload's ``bizLocation``;
  ``payload`` more of the payload; ``at`` hours from the scenario's start (three days ago;
  each step otherwise 10 minutes after the one before); ``id`` names the event for
  ``tamper``; ``refused`` the code of the error the node must refuse it with.
- ``sense``: temperature readings of a lot by participant ``by``, ``every`` minutes:
  one OBSERVE each, or one logger ``upload`` holding them all (EPCIS sensor reports).
- ``commit``: commit every accepted event on-chain now.
- ``tamper``: SQL run on the store behind the node's back (as someone holding its
  database would); ``params`` values ``event:ID``, ``batch:LOT``, ``window:ID``,
  ``participant:NAME`` and ``hex:…`` stand for an event's hash, a lot's batch id, the
  window an event was committed in, a participant's id and bytes.

Each scenario runs on a node of its own, copied from one made for the library (a node
takes seconds to make, a copy of its closed data directory milliseconds): the findings of
its cycle are all its own. More step kinds are added to :data:`STEPS`; more scenarios by
adding data.
"""

from __future__ import annotations

import math
import re
import shutil
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, text

from node.context import Node
from node.events.identifiers import PrefixKind, gtin_check_digit
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Role
from node.ingest.compose import compose_event
from node.monitor.products import ProductTable
from node.monitor.refusals import Attempt, RefusalLog, attempt
from node.monitor.service import Monitor
from node.store.tables import EVENTS
from node.testing.harness import TEST_PASSWORD, TraceNodeHarness

HOUR_MS = 3_600_000
#: The library's product table, beside its scenario files.
PRODUCTS_FILE = "products.toml"
STEP_MS = 600_000  # ten minutes between steps that give no time
#: The GTIN of lots whose product is not a GTIN.
GENERIC_GTIN = "09506000134352"
_GTIN_LINK = re.compile(r"https://id\.gs1\.org/01/(\d{14})")


class ScenarioError(ValueError):
    """A scenario file the runner cannot read, or a scenario that did not go as written."""


# ----- the files' format -----


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SubmitStep(_Strict):
    submit: str
    by: str
    batch: str | None = None
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    to: str | None = None
    product: str | None = None
    quantity: int | None = Field(default=None, ge=0)
    amount: tuple[float, str] | None = Field(default=None, strict=False)  # TOML has lists
    place: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    at: float | None = None
    id: str | None = None
    refused: str | None = None
    key: Literal["own", "stranger", "rotated-out"] = "own"
    nonce_of: str | None = None
    head_of: str | None = None
    times: int = Field(default=1, ge=1, le=500)


class SenseStep(_Strict):
    sense: str
    by: str
    celsius: list[float] = Field(min_length=1)
    every: float = Field(default=60.0, gt=0)
    uom: Literal["CEL", "FAH", "KEL"] = "CEL"
    upload: bool = False
    at: float | None = None


class CommitStep(_Strict):
    commit: Literal[True]


class TamperStep(_Strict):
    tamper: str
    params: dict[str, str] = Field(default_factory=dict)


class RotateStep(_Strict):
    rotate: str


class SuspendStep(_Strict):
    suspend: str


class FloodStep(_Strict):
    flood: Literal["rate-limited", "rpc-refused", "rpc-expensive"]
    by: str | None = None  # whose API key (rate-limited); else a client address (/rpc)
    times: int = Field(ge=1, le=10_000)


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,80}$")
    label: Literal["normal", "threat", "near-miss"]
    about: str
    expect: list[str] = Field(default_factory=list)
    hours_later: float = 0.0
    participants: dict[str, list[str]] = Field(default_factory=dict)
    steps: list[dict[str, Any]] = Field(min_length=1)
    source: str = ""


def load_library(folder: Path) -> list[Scenario]:
    """Every scenario of the ``*.toml`` files in ``folder`` (but its product table,
    ``products.toml``), each step checked."""
    found: list[Scenario] = []
    for path in sorted(folder.glob("*.toml")):
        if path.name == PRODUCTS_FILE:
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ScenarioError(f"{path}: {exc}") from None
        if set(data) != {"scenario"} or not isinstance(data["scenario"], list):
            raise ScenarioError(f"{path}: a scenario file holds [[scenario]] tables only")
        for index, raw in enumerate(data["scenario"]):
            try:
                scenario = Scenario.model_validate({**raw, "source": path.name})
                for step in scenario.steps:
                    _step_kind(step)[0].model_validate(step)
            except (ValidationError, ScenarioError) as exc:
                raise ScenarioError(f"{path.name}, scenario {index + 1}: {exc}") from None
            found.append(scenario)
    names = Counter(s.name for s in found)
    if twice := [n for n, c in names.items() if c > 1]:
        raise ScenarioError(f"scenario names used twice: {', '.join(twice)}")
    return found


# ----- running one -----


@dataclass
class Run:
    """One scenario being built on its node."""

    harness: TraceNodeHarness
    table: ProductTable
    scenario: Scenario
    tag: str
    start_ms: int
    clock_ms: int = 0
    lots: dict[str, str] = field(default_factory=dict)  # name -> identifier
    #: The gateway's refusal record, as serve makes it (api/main.py).
    refusals: RefusalLog | None = None
    #: Keys rotated out, by participant; a key nobody holds.
    retired: dict[str, LocalAccount] = field(default_factory=dict)
    stranger: LocalAccount = field(default_factory=Account.create)
    events: dict[str, bytes] = field(default_factory=dict)  # id -> hash

    def gateway(self) -> RefusalLog:
        """The refusal record the gateway would write to, sampled as serve's is by default
        (RefusalLog's defaults are api/settings.py's)."""
        if self.refusals is None:
            self.refusals = RefusalLog(self.harness.node.store)
        return self.refusals

    def time(self, at: float | None) -> int:
        self.clock_ms = (
            self.start_ms + round(at * HOUR_MS) if at is not None else self.clock_ms + STEP_MS
        )
        return self.clock_ms

    def lot(self, name: str, product_text: str | None = None, maker: str | None = None) -> str:
        """The identifier of the scenario's lot ``name`` (its GTIN the product's, when the
        product is a GTIN), made by participant ``maker``: under a company prefix the maker
        holds, as the contracts require (the product's own when it holds that)."""
        if name not in self.lots:
            match = _GTIN_LINK.fullmatch(product_text or "")
            gtin = match.group(1) if match else GENERIC_GTIN
            if maker is not None:
                gtin = self._maker_gtin(maker, gtin)
            self.lots[name] = f"https://id.gs1.org/01/{gtin}/10/{self.tag}-{name.upper()}"
        return self.lots[name]

    def _maker_gtin(self, maker: str, gtin: str) -> str:
        """``gtin`` when ``maker`` holds its company prefix; else the same item reference
        under the first GS1 company prefix ``maker`` holds (``gtin`` when it holds none)."""
        store = self.harness.node.store
        with store.read() as conn:
            held = [
                r.prefix
                for r in store.licences.of_holder(conn, self.harness.participant_id(maker))
                if r.kind is PrefixKind.GS1 and r.licence.held
            ]
        if not held or any(gtin[1:].startswith(prefix) for prefix in held):
            return gtin
        body = gtin[0] + held[0] + gtin[1:13][len(held[0]) :]
        return body + str(gtin_check_digit(body))

    def product(self, name: str | None) -> str:
        """The text signed as the product: a table product's first id, else ``name``."""
        if name is None:
            return ""
        known = self.table.products.get(name)
        return known.ids[0] if known is not None else name


def _submit(run: Run, step: SubmitStep) -> None:
    action = Action[step.submit.upper()]
    product = run.product(step.product)
    payload = dict(step.payload)
    quantity = step.quantity
    if step.amount is not None:
        value, uom = step.amount
        key = "outputQuantity" if action is Action.TRANSFORM else "quantity"
        payload[key] = {"value": value, "uom": uom}
        if quantity is None:
            quantity = max(1, math.ceil(value))
    if step.place is not None:
        payload["bizLocation"] = {"id": step.place}
    fields: dict[str, Any] = {
        "product": product,
        "quantity": quantity or 0,
        "location": step.place or "",
        "event_time": run.time(step.at),
    }
    if payload:
        fields["payload"] = payload
    for turn in range(step.times):
        if turn:
            fields["event_time"] = run.time(None)
        batch = None
        if step.batch:
            batch = (
                run.lot(step.batch, product, step.by)
                if action is Action.COMMISSION
                else run.lot(step.batch)
            )
        signed = _signed(
            run,
            step,
            action,
            batch=batch,
            inputs=[run.lot(i) for i in step.inputs],
            outputs=[run.lot(o, product, step.by) for o in step.outputs],
            counterparty=bytes.fromhex(run.harness.keys[step.to].address[2:])
            if step.to
            else bytes(20),
            **fields,
        )
        (result,) = run.harness.node.ingest.submit_many(
            [signed], as_participant=run.harness.participant_id(step.by)
        )
        if result.error is not None:
            # As the gateway records it (api/routes/events.py), under the API key of `by`.
            run.gateway().note(
                attempt(_caller(run, step.by), result.error.code, signed=signed, result=result)
            )
            if step.refused == result.error.code:
                continue
            raise ScenarioError(
                f"{run.scenario.name}: {action.name} was refused ({result.error.code}: "
                f"{result.error})"
            )
        if step.refused is not None:
            raise ScenarioError(f"{run.scenario.name}: {action.name} was not refused")
        if step.id is not None:
            run.events[step.id] = result.event_hash


def _signed(
    run: Run, step: SubmitStep, action: Action, *, batch: str | None, **fields: Any
) -> SignedEvent:
    """The event of ``step``, composed on the current heads, signed by the key it names;
    with another event's nonce (``nonce_of``) or on the head another extended
    (``head_of``: a second branch) when it says so."""
    who = step.by
    key = {
        "own": lambda: run.harness.keys[who],
        "stranger": lambda: run.stranger,
        "rotated-out": lambda: run.retired[who],
    }[step.key]()
    node = run.harness.node
    signed = compose_event(
        store=node.store,
        domain=node.domain,
        private_key=bytes(key.key),
        action=action,
        batch=batch,
        **fields,
    )
    event = signed.event
    with node.store.read() as conn:
        if step.nonce_of is not None:
            earlier = node.store.events.get(conn, run.events[step.nonce_of])
            assert earlier is not None
            event = replace(event, nonce=earlier.event.nonce)
        if step.head_of is not None:
            earlier = node.store.events.get(conn, run.events[step.head_of])
            assert earlier is not None
            event = replace(event, prev_event_hash=earlier.event.prev_event_hash)
    if event is signed.event:
        return signed
    signature = sign_digest(event.digest(node.domain), bytes(key.key))
    return SignedEvent(event, signature, signed.payload, signed.identifiers)


def _caller(run: Run, who: str | None) -> Attempt:
    """Who the gateway would say asked: ``who``'s API key, or (None) an anonymous client."""
    if who is None:
        return Attempt(code="", caller="addr:198.51.100.7", client="198.51.100.7")
    key_id = f"tn_scenario_{who}"
    return Attempt(
        code="",
        caller=f"key:{key_id}",
        client="203.0.113.7",
        key_id=key_id,
        claimed_participant=run.harness.participant_id(who),
    )


def _rotate(run: Run, step: RotateStep) -> None:
    run.retired[step.rotate] = run.harness.keys[step.rotate]
    run.harness.rotate(step.rotate)


def _suspend(run: Run, step: SuspendStep) -> None:
    run.harness.suspend(step.suspend)


def _flood(run: Run, step: FloodStep) -> None:
    """``times`` refusals of one code from one caller, as the gateway records them (the
    rate limiter's 429s, /rpc's refused or expensive calls)."""
    who = _caller(run, step.by)
    detail = "" if step.flood == "rate-limited" else "eth_call"
    for _ in range(step.times):
        run.gateway().note(attempt(who, step.flood, detail=detail))


def _sense(run: Run, step: SenseStep) -> None:
    first = run.time(step.at)
    times = [first + round(i * step.every * 60_000) for i in range(len(step.celsius))]

    def report(value: float, at: int) -> dict[str, Any]:
        moment = datetime.fromtimestamp(at / 1000, UTC).isoformat(timespec="milliseconds")
        return {"type": "gs1:Temperature", "value": value, "uom": step.uom, "time": moment}

    batches = [(times[-1], [report(v, t) for v, t in zip(step.celsius, times, strict=True)])]
    if not step.upload:
        batches = [(t, [report(v, t)]) for v, t in zip(step.celsius, times, strict=True)]
    for at, reports in batches:
        run.harness.submit(
            step.by,
            Action.OBSERVE,
            run.lot(step.sense),
            event_time=at,
            payload={"sensorElementList": [{"sensorReport": reports}]},
        )
    run.clock_ms = times[-1]


def _commit(run: Run, step: CommitStep) -> None:
    del step
    run.harness.commit()


def _tamper(run: Run, step: TamperStep) -> None:
    values: dict[str, Any] = {}
    for key, value in step.params.items():
        kind, _, ref = value.partition(":")
        if kind == "event":
            values[key] = run.events[ref]
        elif kind == "batch":
            values[key] = run.harness.batch_id(run.lots[ref])
        elif kind == "participant":
            values[key] = run.harness.participant_id(ref)
        elif kind == "hex":
            values[key] = bytes.fromhex(ref.removeprefix("0x"))
        elif kind == "window":
            with run.harness.node.store.read() as conn:
                values[key] = conn.execute(
                    select(EVENTS.c.window_id).where(EVENTS.c.event_hash == run.events[ref])
                ).scalar_one()
        else:
            values[key] = value
    with run.harness.node.store.engine.begin() as conn:
        conn.execute(text(step.tamper), values)


#: Step kinds: the key that names each, its format, and what it does.
STEPS: dict[str, tuple[type[_Strict], Callable[[Run, Any], None]]] = {
    "submit": (SubmitStep, _submit),
    "sense": (SenseStep, _sense),
    "commit": (CommitStep, _commit),
    "tamper": (TamperStep, _tamper),
    "rotate": (RotateStep, _rotate),
    "suspend": (SuspendStep, _suspend),
    "flood": (FloodStep, _flood),
}


def _step_kind(step: dict[str, Any]) -> tuple[type[_Strict], Callable[[Run, Any], None]]:
    kinds = [key for key in step if key in STEPS]
    if len(kinds) != 1:
        raise ScenarioError(f"a step needs exactly one of {', '.join(STEPS)}: {step}")
    return STEPS[kinds[0]]


# ----- the library -----


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a scenario raised against what it expected (``kind:severity`` each)."""

    scenario: Scenario
    found: tuple[str, ...]
    missed: tuple[str, ...]  # expected, not raised
    unexpected: tuple[str, ...]  # raised, not expected

    @property
    def passed(self) -> bool:
        return not self.missed and not self.unexpected


def judge(expected: Sequence[str], found: Sequence[str]) -> tuple[list[str], list[str]]:
    """Expected alerts not found, and found ones not expected; an expectation without a
    severity matches the kind at any severity."""
    left = sorted(found)
    missed: list[str] = []
    for spec in sorted(expected, key=lambda s: ":" not in s):  # exact ones first
        match = next(
            (f for f in left if f == spec or (":" not in spec and f.split(":")[0] == spec)),
            None,
        )
        if match is None:
            missed.append(spec)
        else:
            left.remove(match)
    return missed, left


def run_library(
    scenarios: Iterable[Scenario], table: ProductTable, *, workdir: Path
) -> list[Outcome]:
    """Build each scenario on a node of its own (in ``workdir``) and judge it by one
    monitor cycle."""
    template = workdir / "template"
    with TraceNodeHarness.create(template) as made:
        keys = dict(made.keys)
    outcomes: list[Outcome] = []
    for index, scenario in enumerate(scenarios):
        data_dir = workdir / f"s{index:03d}"
        shutil.copytree(template, data_dir)
        # the copy's participants are the template's: their keys are already open
        with TraceNodeHarness(Node(data_dir), TEST_PASSWORD, dict(keys)) as harness:
            outcomes.append(_run(harness, scenario, table, tag=f"S{index:03d}"))
        shutil.rmtree(data_dir, ignore_errors=True)
    return outcomes


def _run(harness: TraceNodeHarness, scenario: Scenario, table: ProductTable, tag: str) -> Outcome:
    start = int(time.time() * 1000) - 72 * HOUR_MS
    run = Run(harness=harness, table=table, scenario=scenario, tag=tag, start_ms=start)
    run.clock_ms = start
    for index, (name, roles) in enumerate(scenario.participants.items(), start=1):
        # Each licensed a company prefix of its own, for the lots it makes (Run.lot).
        harness.add_participant(name, _roles(roles), f"07{index:05d}")
    for step in scenario.steps:
        model, action = _step_kind(step)
        action(run, model.model_validate(step))
    monitor = Monitor.of(harness.node)
    monitor.products = table
    monitor.clock = _clock(scenario.hours_later)
    found = [f"{f.kind}:{f.severity.name.lower()}" for f in monitor.cycle().findings]
    missed, unexpected = judge(scenario.expect, found)
    return Outcome(scenario, tuple(sorted(found)), tuple(missed), tuple(unexpected))


def _clock(hours_later: float) -> Callable[[], float]:
    return lambda: time.time() + hours_later * 3600


def _roles(names: Sequence[str]) -> Role:
    roles = Role(0)
    for name in names:
        roles |= Role[name.upper()]
    return roles


# ----- precision and recall -----


@dataclass(frozen=True, slots=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0


def scores(outcomes: Sequence[Outcome]) -> dict[str, Score]:
    """Precision and recall per rule (by alert kind), and ``overall`` across them."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for outcome in outcomes:
        wrong = Counter(label.split(":")[0] for label in outcome.unexpected)
        found = Counter(label.split(":")[0] for label in outcome.found)
        tp.update(found - wrong)
        fp.update(wrong)
        fn.update(label.split(":")[0] for label in outcome.missed)
    kinds = sorted(set(tp) | set(fp) | set(fn))
    table = {k: Score(tp[k], fp[k], fn[k]) for k in kinds}
    table["overall"] = Score(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return table
