"""Schemathesis against the gateway's own /openapi.json (issue #5): no 5xx, and no answer
that its OpenAPI document does not describe — status, media type, body schema, headers.

Two tests on one real node (embedded chain, SQLite), seeded with an anchored supply chain
(tests/node/provenance/conftest.py), an accepted-but-unanchored event and an EPCIS capture:

- ``test_schemathesis_run`` is a ``schemathesis run``: its engine, in process over ASGI,
  runs every phase (examples, coverage, fuzzing, stateful) over every operation, with
  positive and negative data, a fixed seed, derandomized, a bounded number of examples.
  The admin key goes to the admin operations, a participant's key to event and EPCIS
  submission; reads go without a key (they are public). (schemathesis' pytest
  integration, ``schemathesis.pytest.from_fixture``, cannot serve: it writes pytest's
  ``Node._nodeid``, which pytest 9.2 no longer has.)
- ``test_known_resources_conform`` sends, for every operation, requests that succeed on
  the seeded data (fuzzing rarely finds a real batch or event hash) and validates each
  answer with the same checks, so the success schemas are checked against real documents.

Checks left out, each for a documented reason (docs/api.md, "Schema conformance"):

- ``positive_data_acceptance``: a body can match the schema of a signed event and still
  be refused (422 invalid-signature, 403 unknown-signer, 409 head-mismatch ...): the
  signature and the chain's state decide, not the shape.
- ``max_response_time`` (off unless given a limit): timing targets are never asserted in
  tests.
- ``negative_data_rejection`` on ``POST /rpc`` and ``POST /v1/events``: JSON-RPC 2.0
  answers an invalid call with HTTP 200 and an ``error`` member, and a bulk submission
  answers 202 with a ``rejected`` result for each malformed item. Both are checked instead
  by :func:`invalid_items_are_refused`, which demands exactly that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import pytest
import schemathesis
from eth_account import Account
from fastapi import FastAPI
from schemathesis import HookContext
from schemathesis.checks import CheckContext
from schemathesis.core.result import Ok
from schemathesis.engine import Status, events, from_schema
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.schemas import OpenApiSchema

from api import create_app
from node.epcis import named
from node.epcis.capture import CaptureErrorBehaviour, capture, sign_document
from node.epcis.jobs import record_job
from node.epcis.masterdata import build_element, cbv_attribute
from node.epcis.names import sign_on_node
from node.events.identifiers import PrefixKind, parse_identifier
from node.events.submission import submission_document
from node.events.typed_data import Action
from node.ingest.compose import compose_event
from node.store.apikeys import ApiKeys
from node.store.models import AlertSeverity
from node.store.records import Finding, Subscription
from node.testing.harness import TraceNodeHarness
from node.webhooks.messages import new_secret
from tests.api.conftest import TEST_SETTINGS
from tests.node.epcis.conftest import commissioning, document, new_lot
from tests.node.provenance.conftest import Story, run_story

SEED: Final = 20_260_517
MAX_EXAMPLES: Final = 20
#: Every check schemathesis has, but these (see the module docstring).
LEFT_OUT: Final = ("positive_data_acceptance",)
#: Operations that answer invalid items inside a success (see invalid_items_are_refused).
ITEMIZED: Final = frozenset({"POST /rpc", "POST /v1/events"})
ADMIN_PATHS: Final = r"^/v1/(participants|apikeys|alerts/|webhooks)"
PARTICIPANT_PATHS: Final = r"^/v1/(events|epcis/capture|masterdata)$"
PENDING_LOT: Final = "https://id.gs1.org/01/09506000134352/10/PENDING-1"


@schemathesis.check
def invalid_items_are_refused(
    ctx: CheckContext, response: Any, case: schemathesis.Case[Any]
) -> None:
    """``negative_data_rejection`` for operations whose answer itemizes what it refused:
    a JSON-RPC error per invalid call (HTTP 200), a ``rejected`` result per malformed
    submission in a list (HTTP 202). Anything else must be refused as the built-in check
    demands."""
    if case.operation.label not in ITEMIZED:
        return
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or response.status_code >= 400:
        return
    if case.operation.label == "POST /v1/events" and not isinstance(case.body, list):
        negative_data_rejection(ctx, response, case)
        return
    answer = response.json()
    if case.operation.label == "POST /rpc":
        answers = answer if isinstance(answer, list) else [answer]
        refused = any("error" in item for item in answers)
        what = "a JSON-RPC error"
    else:
        refused = any(r["outcome"] == "rejected" for r in answer["results"])
        what = "a rejected result"
    assert refused, f"a schema-violating request got {response.status_code} without {what}"


@dataclass
class Seeded:
    """The node, its app, and what was put in it."""

    harness: TraceNodeHarness
    story: Story
    app: FastAPI
    admin: str
    tokens: dict[str, str]
    #: The keys the schemathesis run authenticates with (the table's are others).
    run_admin: str
    run_farm: str
    pending_event: str
    epcis_lot: str
    anchored: list[str] = field(default_factory=list)
    #: The id of every key made here (the run must not revoke them).
    keys: frozenset[str] = frozenset()

    def auth(self, who: str) -> dict[str, str]:
        token = self.admin if who == "admin" else self.tokens[who]
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("schemathesis") / "data")
    try:
        story = run_story(harness)
        keys = ApiKeys(harness.node.store)
        tokens = {
            name: keys.create(participant_id=harness.participant_id(name), label=name).token
            for name in ("farm", "processor")
        }
        admin = keys.create(admin=True, label="known").token
        run_admin = keys.create(admin=True, label="schemathesis").token
        run_farm = keys.create(participant_id=harness.participant_id("farm"), label="run").token
        epcis_lot = new_lot()
        capture(
            ingest=harness.node.ingest,
            request=sign_document(
                store=harness.node.store,
                domain=harness.node.domain,
                private_key=bytes(harness.keys["farm"].key),
                document=document(commissioning(epcis_lot)),
            ),
        )
        anchored = [
            "0x" + e.event_hash.hex() for e in harness.provenance(story.slices).report.events
        ]
        pending = harness.submit("farm", Action.COMMISSION, PENDING_LOT, quantity=5)
        app = create_app(
            harness.node,
            settings=TEST_SETTINGS,
            registrar=harness.node.admin(harness.password),
        )
        yield Seeded(
            harness=harness,
            story=story,
            app=app,
            admin=admin,
            tokens=tokens,
            run_admin=run_admin,
            run_farm=run_farm,
            pending_event="0x" + pending.hex(),
            epcis_lot=epcis_lot,
            anchored=anchored,
            keys=frozenset(record.key_id for record in keys.list()),
        )
    finally:
        harness.close()


@pytest.fixture(scope="module")
def api_schema(seeded: Seeded) -> OpenApiSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"enabled": True} | {name: {"enabled": False} for name in LEFT_OUT},
            "phases": {"stateful": {"max-steps": 10}},
            "operations": [
                {
                    "include-path-regex": ADMIN_PATHS,
                    "headers": {"Authorization": f"Bearer {seeded.run_admin}"},
                },
                {
                    "include-path-regex": PARTICIPANT_PATHS,
                    "headers": {"Authorization": f"Bearer {seeded.run_farm}"},
                },
                *(
                    {
                        "include-name": label,
                        "checks": {"negative_data_rejection": {"enabled": False}},
                    }
                    for label in sorted(ITEMIZED)
                ),
            ],
        }
    )
    return schemathesis.openapi.from_asgi("/openapi.json", seeded.app, config=config)


@contextmanager
def keeping_keys(seeded: Seeded) -> Iterator[None]:
    """The run lists the keys (GET /v1/apikeys) and feeds their ids to DELETE: there, it
    revokes a key minted for the purpose instead of one it authenticates with."""
    keys = ApiKeys(seeded.harness.node.store)

    def before_call(context: HookContext, case: schemathesis.Case[Any], kwargs: Any) -> None:
        key_id = (case.path_parameters or {}).get("key_id")
        if case.method == "DELETE" and key_id in seeded.keys:
            spare = keys.create(admin=True, label="revoked by the run")
            case.path_parameters = {"key_id": spare.record.key_id}

    schemathesis.hook(before_call)
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)


def _labels(schema: OpenApiSchema) -> set[str]:
    """Every operation's label ("METHOD /path"); an operation schemathesis cannot read
    fails the test."""
    labels = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        labels.add(result.ok().label)
    return labels


def _failures(scenario: events.ScenarioFinished) -> Iterator[str]:
    for checks in scenario.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                yield (
                    f"[{scenario.phase.value}] {failure.operation}: {check.name}: {failure}\n"
                    f"    {check.failure_info.code_sample}"
                )


def test_schemathesis_run(api_schema: OpenApiSchema, seeded: Seeded) -> None:
    operations = _labels(api_schema)
    tested: dict[str, int] = {}
    failures: dict[str, None] = {}
    errors: list[str] = []
    stop: str | None = None
    started = time.monotonic()
    with keeping_keys(seeded):
        stream = list(from_schema(api_schema).execute())
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for case in event.recorder.cases.values():
                label = case.value.operation.label
                tested[label] = tested.get(label, 0) + 1
            failures.update(dict.fromkeys(_failures(event)))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            label = getattr(event, "label", "engine")
            error = event.value if isinstance(event, events.NonFatalError) else event.exception
            errors.append(f"{label}: {error}")
        elif isinstance(event, events.EngineFinished):
            stop = event.stop_reason.value
            failures.update(dict.fromkeys(str(f) for f in event.failures))
    elapsed = time.monotonic() - started
    print(f"schemathesis: {sum(tested.values())} cases, {len(tested)} operations, {elapsed:.1f} s")
    assert not errors, "\n".join(errors)
    assert not failures, f"{len(failures)} failures in {elapsed:.1f} s:\n" + "\n".join(failures)
    assert stop == "completed"
    untested = operations - set(tested)
    assert not untested, f"operations schemathesis never called: {sorted(untested)}"


# ----- known resources: every operation answered with success on the seeded data, and a
# few answers fuzzing does not reach (negotiation, keys, a proof not anchored yet) -----


@dataclass(frozen=True)
class Known:
    operation: str  # "METHOD /path/{template}"
    status: int
    request: Callable[[Seeded], dict[str, Any]] = lambda _: {}
    who: str | None = None


def _lot(identifier: str) -> dict[str, Any]:
    # Percent-encoded, as docs/api.md advises: an HTTP client may fold the '//' of a URL.
    return {"path_parameters": {"id": quote(identifier, safe="")}}


def _fresh_commission(s: Seeded, who: str = "farm") -> dict[str, Any]:
    lot = f"https://id.gs1.org/01/09506000134352/10/K{time.monotonic_ns() % 10**9}"
    signed = compose_event(
        store=s.harness.node.store,
        domain=s.harness.node.domain,
        private_key=bytes(s.harness.keys[who].key),
        action=Action.COMMISSION,
        batch=lot,
        quantity=1,
    )
    return submission_document(signed) | {"identifiers": [lot]}


def _bundle(s: Seeded) -> dict[str, Any]:
    return s.harness.export(s.story.slices).as_json()


def _assertion(s: Seeded) -> dict[str, Any]:
    element = build_element(
        f"urn:epc:id:sgln:0614141.{time.monotonic_ns() % 10**5:05d}.0",
        attributes=[(cbv_attribute("name"), "Plant")],
    )
    node = s.harness.node
    signed = sign_on_node(node.store, node.domain, bytes(s.harness.keys["farm"].key), element)
    return {"body": submission_document(signed)}


def _capture_request(s: Seeded) -> dict[str, Any]:
    lot = new_lot()
    return sign_document(
        store=s.harness.node.store,
        domain=s.harness.node.domain,
        private_key=bytes(s.harness.keys["farm"].key),
        document=document(commissioning(lot)),
    )


def _captured_event(s: Seeded) -> dict[str, Any]:
    """A captured EPCIS event's hash ID, as the path of GET /v1/epcis/events/{event_id}."""
    (result,) = capture(ingest=s.harness.node.ingest, request=_capture_request(s))
    return {"path_parameters": {"event_id": result.hash_id}}


def _capture_job(s: Seeded) -> dict[str, Any]:
    """A capture job of the farm's, as the path of GET /v1/epcis/capture/{captureID}."""
    results = capture(ingest=s.harness.node.ingest, request=_capture_request(s))
    job = record_job(
        s.harness.node.store,
        submitter=s.harness.participant_id("farm"),
        behaviour=CaptureErrorBehaviour.PROCEED,
        results=results,
        created_at=0,
        finished_at=1,
    )
    return {"path_parameters": {"captureID": job.capture_id}}


def _named_query(s: Seeded) -> dict[str, Any]:
    """A fresh named query of the farm's, as the path of /v1/epcis/queries/{queryName}."""
    found = named.create(
        s.harness.node.store,
        owner=named.owner_of(
            participant_id=s.harness.participant_id("farm"), admin=False, key_id=""
        ),
        name=f"q{time.monotonic_ns()}",
        query={"EQ_bizStep": ["commissioning"]},
        now=0,
    )
    return {"path_parameters": {"queryName": found.name}}


def _query_subscription(s: Seeded) -> dict[str, Any]:
    """A subscription of a fresh named query (to a loopback address: nothing is sent)."""
    path = _named_query(s)["path_parameters"]
    store = s.harness.node.store
    with store.read() as conn:
        query = store.epcis_queries.get(
            conn, f"participant:{s.harness.participant_id('farm')}", path["queryName"]
        )
    assert query is not None
    made, _ = named.subscribe(
        store,
        owner=query.owner,
        query=query,
        dest="http://127.0.0.1:9/hook",
        secret=new_secret(),
        allow_loopback=True,
        now=0,
    )
    return {"path_parameters": path | {"subscriptionID": made.subscription_id}}


def _logged(s: Seeded) -> dict[str, Any]:
    """The alert log from its start, with at least the known alert's revision in it."""
    _alert(s)
    return {"query": {"after": 0}}


def _alert(s: Seeded) -> dict[str, Any]:
    store = s.harness.node.store
    with store.write() as conn:
        alert_id, _ = store.alerts.record(
            conn,
            Finding(
                kind="custody-mismatch",
                severity=AlertSeverity.CRITICAL,
                score=88,
                incident=f"schemathesis:{time.monotonic_ns()}",
                detail="a known alert",
                evidence={"batchId": "0x" + "00" * 32},
            ),
            now=int(time.time() * 1000),
        )
    return {"path_parameters": {"id": alert_id}}


def _webhook(s: Seeded) -> int:
    store = s.harness.node.store
    with store.write() as conn:
        endpoint = store.webhooks.add_endpoint(
            conn,
            url="http://127.0.0.1:9/hook",
            subscription=Subscription(("alert.raised",), AlertSeverity.HIGH),
            label="known",
            secret=new_secret(),
            now=int(time.time() * 1000),
        )
    return endpoint.id


def _delivery(s: Seeded) -> dict[str, Any]:
    store, endpoint_id = s.harness.node.store, _webhook(s)
    with store.write() as conn:
        store.webhooks.enqueue(
            conn,
            endpoint_id=endpoint_id,
            message_id=f"msg_known_{time.monotonic_ns()}",
            event_type="alert.raised",
            payload=b"{}",
            now=int(time.time() * 1000),
        )
        (delivery,) = store.webhooks.log(conn, endpoint_id=endpoint_id)
    return {"path_parameters": {"id": delivery.id}}


def _revocable(s: Seeded) -> dict[str, Any]:
    record = ApiKeys(s.harness.node.store).create(admin=True, label="to revoke").record
    return {"path_parameters": {"key_id": record.key_id}}


def _fresh_prefix() -> str:
    """A GS1 company prefix nobody holds (10 digits, under no seeded licence)."""
    return f"41{time.monotonic_ns() % 10**8:08d}"


def _revocable_prefix(s: Seeded) -> dict[str, Any]:
    """A prefix licensed to the shop for the purpose, as the path of DELETE /v1/prefixes."""
    prefix, node = _fresh_prefix(), s.harness.node
    shop = node.registry.key_participant(s.harness.keys["shop"].address)
    node.registry.license(node.admin(s.harness.password), shop, kind=PrefixKind.GS1, prefix=prefix)
    node.sync_participants()
    return {"path_parameters": {"prefix": prefix}}


def _moved_node(s: Seeded) -> dict[str, Any]:
    """A node registered for the purpose (a fresh registrar), as PUT /v1/nodes/{id}/url's."""
    node = s.harness.node
    node_id = node.registry.register_node(
        node.admin(s.harness.password), registrar=Account.create().address, url="https://n.example"
    )
    return {"path_parameters": {"id": node_id}, "body": {"url": "https://moved.example/api"}}


def _gtin(identifier: str) -> str:
    gtin = parse_identifier(identifier).gtin
    assert gtin is not None
    return gtin


def _lot_code(identifier: str) -> str:
    lot = parse_identifier(identifier).lot
    assert lot is not None
    return lot


def _element_string(identifier: str) -> str:
    """The text under the lot's barcode, spaced as labels print it."""
    return f"(01) {_gtin(identifier)} (10) {_lot_code(identifier)}"


def _rpc(method: str, *params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}


KNOWN: Final = [
    Known("GET /healthz", 200),
    Known("GET /readyz", 200),
    Known("GET /metrics", 200),
    Known("GET /v1/info", 200),
    Known("POST /v1/events", 202, lambda s: {"body": _fresh_commission(s)}, "farm"),
    Known(
        "POST /v1/events",
        202,
        lambda s: {"body": [_fresh_commission(s), {"event": {}, "signature": "0x"}]},
        "farm",
    ),
    Known("GET /v1/events/{hash}", 200, lambda s: {"path_parameters": {"hash": s.anchored[0]}}),
    Known("GET /v1/events/{hash}", 200, lambda s: {"path_parameters": {"hash": s.pending_event}}),
    Known(
        "GET /v1/events/{hash}/proof",
        200,
        lambda s: {"path_parameters": {"hash": s.anchored[-1]}},
    ),
    Known(
        "GET /v1/events/{hash}/proof",
        409,
        lambda s: {"path_parameters": {"hash": s.pending_event}},
    ),
    Known(
        "POST /v1/participants",
        201,
        lambda s: {
            "body": {
                "name": "Known Dairy",
                "address": s.harness.new_key().address,
                "roles": ["processor", "retailer"],
                "prefix": "0614199",
            }
        },
        "admin",
    ),
    Known(
        "GET /v1/participants/{address}",
        200,
        lambda s: {"path_parameters": {"address": s.harness.keys["farm"].address}},
    ),
    Known("GET /v1/participants/{address}", 200, lambda s: {"path_parameters": {"address": "2"}}),
    Known(
        "GET /v1/participants/{address}/nonce",
        200,
        lambda s: {"path_parameters": {"address": s.harness.keys["farm"].address}},
    ),
    Known(
        "POST /v1/participants/{address}/licences",
        201,
        lambda s: {
            "path_parameters": {"address": s.harness.keys["shop"].address},
            "body": {"prefix": _fresh_prefix(), "validUntil": "1000000"},
        },
        "admin",
    ),
    Known(
        "GET /v1/participants/{address}/licences",
        200,
        lambda s: {"path_parameters": {"address": s.harness.keys["farm"].address}},
    ),
    Known("GET /v1/prefixes/{prefix}", 200, lambda s: {"path_parameters": {"prefix": "0614141"}}),
    Known("GET /v1/prefixes/{prefix}", 404, lambda s: {"path_parameters": {"prefix": "7777777"}}),
    Known("DELETE /v1/prefixes/{prefix}", 200, _revocable_prefix, "admin"),
    Known("GET /v1/nodes", 200),
    Known(
        "POST /v1/nodes",
        201,
        lambda s: {"body": {"registrar": Account.create().address, "url": "http://n.example"}},
        "admin",
    ),
    Known(
        "POST /v1/nodes",
        422,
        lambda s: {"body": {"registrar": Account.create().address, "url": "ftp://n.example"}},
        "admin",
    ),
    # A node's URL naming an address nodes do not fetch from (docs/network.md).
    Known(
        "POST /v1/nodes",
        422,
        lambda s: {"body": {"registrar": Account.create().address, "url": "http://10.0.0.7"}},
        "admin",
    ),
    Known("PUT /v1/nodes/{id}/url", 200, _moved_node, "admin"),
    # A fresh registrar's policy: no node of the harness is opened by it.
    Known(
        "PUT /v1/open-identifiers",
        200,
        lambda s: {"body": {"allowed": True, "registrar": Account.create().address}},
        "admin",
    ),
    Known(
        "PUT /v1/nodes/{id}/url",
        422,
        lambda s: _moved_node(s) | {"body": {"url": "http://169.254.169.254/latest"}},
        "admin",
    ),
    Known(
        "PUT /v1/nodes/{id}/url",
        404,
        lambda s: {"path_parameters": {"id": 4_000_000_000}, "body": {"url": "https://x.example"}},
        "admin",
    ),
    Known(
        "DELETE /v1/prefixes/{prefix}",
        404,
        lambda s: {"path_parameters": {"prefix": "7777777"}},
        "admin",
    ),
    Known(
        "POST /v1/epcis/lookup",
        200,
        lambda s: {
            "body": {"hashIds": ["ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0"], "parties": []}
        },
    ),
    Known(
        "POST /v1/epcis/performers",
        200,
        lambda s: {
            "body": {
                "document": document(commissioning(new_lot())),
                "events": [0],
                "signers": [s.harness.keys[k].address for k in ("processor", "farm")],
            }
        },
    ),
    Known("GET /v1/apikeys", 200, who="admin"),
    Known("GET /v1/apikeys", 401),  # with WWW-Authenticate
    Known("GET /v1/apikeys", 403, who="farm"),
    Known(
        "POST /v1/apikeys",
        201,
        lambda s: {"body": {"participant": s.harness.keys["shop"].address, "label": "till"}},
        "admin",
    ),
    Known("POST /v1/apikeys", 201, lambda s: {"body": {"admin": True}}, "admin"),
    # Found by the run: "²" is a digit to str.isdigit, and int() refused it (a 500).
    Known("POST /v1/apikeys", 422, lambda s: {"body": {"participant": "²"}}, "admin"),
    Known("POST /v1/apikeys", 422, lambda s: {"body": {"participant": "9" * 30}}, "admin"),
    Known("DELETE /v1/apikeys/{key_id}", 200, _revocable, "admin"),
    Known("GET /v1/anchors", 200),
    Known("GET /v1/anchors", 200, lambda s: {"query": {"limit": 1}}),
    Known("GET /v1/alerts", 200, lambda s: {"query": {"severity": "high"}}),
    Known("GET /v1/alerts/{id}", 200, _alert),
    Known("GET /v1/alert-log", 200, lambda s: _logged(s)),
    Known("GET /v1/alert-log", 422, lambda s: {"query": {"limit": 0}}),
    Known("POST /v1/alerts/{id}/ack", 200, lambda s: _alert(s) | {"body": {"why": "x"}}, "admin"),
    Known("POST /v1/alerts/{id}/resolve", 200, lambda s: _alert(s) | {"body": {}}, "admin"),
    Known("POST /v1/alerts/{id}/dismiss", 200, lambda s: _alert(s) | {"body": {}}, "admin"),
    Known("POST /v1/alerts/{id}/ack", 403, lambda s: _alert(s) | {"body": {}}, "farm"),
    Known(
        "POST /v1/webhooks",
        201,
        lambda s: {"body": {"url": "http://127.0.0.1:9/hook", "events": ["alert.raised"]}},
        "admin",
    ),
    Known(
        "POST /v1/webhooks",
        422,
        lambda s: {"body": {"url": "http://169.254.169.254/", "events": ["alert.raised"]}},
        "admin",
    ),
    Known("GET /v1/webhooks", 200, who="admin"),
    Known("GET /v1/webhooks", 403, who="farm"),
    Known(
        "POST /v1/webhooks/{id}/rotate",
        200,
        lambda s: {"path_parameters": {"id": _webhook(s)}, "body": {"overlapSeconds": 60}},
        "admin",
    ),
    Known(
        "PATCH /v1/webhooks/{id}",
        200,
        lambda s: {
            "path_parameters": {"id": _webhook(s)},
            "body": {"events": ["event.anchored"], "prefixes": ["9506000"]},
        },
        "admin",
    ),
    Known(
        "DELETE /v1/webhooks/{id}", 200, lambda s: {"path_parameters": {"id": _webhook(s)}}, "admin"
    ),
    Known(
        "GET /v1/webhooks/{id}/deliveries",
        200,
        lambda s: {"path_parameters": {"id": _webhook(s)}},
        "admin",
    ),
    Known("POST /v1/webhooks/deliveries/{id}/redeliver", 202, _delivery, "admin"),
    Known(
        "GET /01/{rest}",
        200,
        lambda s: {"path_parameters": {"rest": s.story.slices.split("/01/", 1)[1]}},
    ),
    Known(
        "GET /01/{rest}",
        200,
        lambda s: {
            "path_parameters": {"rest": s.story.milk[0].split("/01/", 1)[1]},
            "headers": {"Accept": "application/linkset+json"},
        },
    ),
    Known(
        "GET /01/{rest}",
        303,
        lambda s: {
            "path_parameters": {"rest": s.story.cheese.split("/01/", 1)[1]},
            "headers": {"Accept": "text/html"},
        },
    ),
    Known(
        "GET /v1/resolve/{identifier}",
        200,
        lambda s: {
            "path_parameters": {"identifier": quote(s.story.slices, safe="")},
            "query": {"linkType": "all"},
        },
    ),
    Known(
        "GET /v1/resolve/{identifier}",
        200,
        lambda s: {"path_parameters": {"identifier": s.epcis_lot}},
    ),
    Known(
        "GET /v1/resolve/{identifier}",
        406,
        lambda s: {
            "path_parameters": {"identifier": s.epcis_lot},
            "headers": {"Accept": "image/png"},
        },
    ),
    Known(  # a product: its lots
        "GET /01/{rest}",
        200,
        lambda s: {"path_parameters": {"rest": _gtin(s.story.milk[0])}},
    ),
    Known(
        "GET /01/{rest}",
        303,
        lambda s: {
            "path_parameters": {"rest": _gtin(s.story.cheese)},
            "headers": {"Accept": "text/html"},
        },
    ),
    Known(
        "GET /v1/resolve/{identifier}",
        200,
        lambda s: {
            "path_parameters": {"identifier": _gtin(s.story.milk[0])},
            "query": {"linkType": "all"},
        },
    ),
    Known(  # ?linkType=: a redirect to that link (GS1-Conformant Resolver)
        "GET /01/{rest}",
        307,
        lambda s: {
            "path_parameters": {"rest": s.story.cheese.split("/01/", 1)[1]},
            "query": {"linkType": "gs1:traceability"},
        },
    ),
    Known(
        "GET /v1/resolve/{identifier}",
        307,
        lambda s: {
            "path_parameters": {"identifier": s.epcis_lot},
            "query": {"linkType": "gs1:pip"},
        },
    ),
    Known(
        "GET /v1/resolve/{identifier}",
        404,
        lambda s: {
            "path_parameters": {"identifier": quote(s.story.slices, safe="")},
            "query": {"linkType": "gs1:nutritionalInfo"},
        },
    ),
    Known("GET /.well-known/gs1resolver", 200),
    Known("GET /v1/search", 200, lambda s: {"query": {"q": _element_string(s.story.slices)}}),
    Known("GET /v1/search", 200, lambda s: {"query": {"q": _lot_code(s.story.milk[1])}}),
    Known("GET /v1/search", 200, lambda s: {"query": {"q": _gtin(s.story.milk[0]), "limit": 1}}),
    Known("GET /v1/search", 422, lambda s: {"query": {"q": "LOT 7"}}),
    Known("POST /rpc", 200, lambda s: {"body": _rpc("eth_chainId")}),
    Known(
        "POST /rpc",
        200,
        lambda s: {
            "body": [
                _rpc("eth_getBlockByNumber", "latest", False),
                _rpc("eth_sendRawTransaction", "0x00"),
                _rpc("eth_getCode", s.harness.node.deployment.batch_registry, "latest"),
            ]
        },
    ),
    Known(
        "POST /v1/epcis/capture",
        202,
        lambda s: {"body": _capture_request(s), "media_type": "application/ld+json"},
        "farm",
    ),
    Known("POST /v1/masterdata", 202, _assertion, "farm"),
    Known(
        "GET /v1/masterdata/{code}",
        200,
        lambda s: {"path_parameters": {"code": quote("urn:epc:id:sgln:0614141.00042.0", safe="")}},
    ),
    Known(
        "GET /v1/masterdata/{code}",
        422,
        lambda s: {"path_parameters": {"code": quote(s.epcis_lot, safe="")}},
    ),
    Known("GET /v1/epcis/events", 200, lambda s: {"query": {"EQ_bizStep": "commissioning"}}),
    Known("GET /v1/epcis/events", 400, lambda s: {"query": {"EQ_ex:x": "1"}}),
    Known("GET /v1/epcis/events/{event_id}", 200, lambda s: _captured_event(s)),
    Known("GET /v1/epcis/eventTypes", 200),
    Known("GET /v1/epcis/capture", 200, who="farm"),
    Known("GET /v1/epcis/capture/{captureID}", 200, _capture_job, "farm"),
    Known(
        "POST /v1/epcis/queries",
        201,
        lambda s: {"body": {"name": f"n{time.monotonic_ns()}", "query": {"EQ_action": "ADD"}}},
        "farm",
    ),
    Known("GET /v1/epcis/queries", 200, who="farm"),
    Known("GET /v1/epcis/queries/{queryName}", 200, _named_query, "farm"),
    Known("DELETE /v1/epcis/queries/{queryName}", 204, _named_query, "farm"),
    Known("GET /v1/epcis/queries/{queryName}/events", 200, _named_query, "farm"),
    Known(
        "POST /v1/epcis/queries/{queryName}/subscriptions",
        201,
        lambda s: _named_query(s) | {"body": {"dest": "http://127.0.0.1:9/hook", "stream": True}},
        "farm",
    ),
    Known("GET /v1/epcis/queries/{queryName}/subscriptions", 200, _named_query, "farm"),
    Known(
        "GET /v1/epcis/queries/{queryName}/subscriptions/{subscriptionID}",
        200,
        _query_subscription,
        "farm",
    ),
    Known(
        "DELETE /v1/epcis/queries/{queryName}/subscriptions/{subscriptionID}",
        204,
        _query_subscription,
        "farm",
    ),
    Known(
        "GET /v1/epcis/eventTypes/{event_type}/events",
        200,
        lambda s: {"path_parameters": {"event_type": "ObjectEvent"}},
    ),
    Known("GET /v1/batches/{id}/provenance", 200, lambda s: _lot(s.story.slices)),
    Known("GET /v1/batches/{id}/provenance", 200, lambda s: _lot(PENDING_LOT)),
    Known("GET /v1/batches/{id}/trace", 200, lambda s: _lot(s.story.milk[0])),
    Known(
        "GET /v1/batches/{id}/trace",
        200,
        lambda s: _lot(s.story.slices) | {"query": {"direction": "upstream"}},
    ),
    Known("GET /v1/batches/{id}/bundle", 200, lambda s: _lot(s.story.cheese)),
    Known("GET /v1/batches/{id}/overview", 200, lambda s: _lot(s.story.slices)),
    Known("GET /v1/batches/{id}/qr.svg", 200, lambda s: _lot(s.story.cheese)),
    Known("GET /v1/batches/{id}/qr.png", 200, lambda s: _lot(s.story.cheese)),
    Known("POST /v1/verify", 200, lambda s: {"body": _bundle(s)}),
    Known("GET /v1/batches/{id}", 200, lambda s: _lot(s.story.slices)),
    Known("GET /v1/batches/{id}", 200, lambda s: _lot(s.story.milk[1])),
]


def test_every_operation_has_a_known_success(api_schema: OpenApiSchema) -> None:
    operations = _labels(api_schema)
    assert operations == {known.operation for known in KNOWN}


@pytest.mark.parametrize(
    "known", KNOWN, ids=[f"{k.operation} {k.status} #{i}" for i, k in enumerate(KNOWN)]
)
def test_known_resources_conform(api_schema: OpenApiSchema, seeded: Seeded, known: Known) -> None:
    method, path = known.operation.split(" ", 1)
    operation = api_schema[path][method]
    request = known.request(seeded)
    headers = request.pop("headers", {}) | (seeded.auth(known.who) if known.who else {})
    case = operation.Case(**request)
    response = case.call_and_validate(headers=headers)
    assert response.status_code == known.status, response.text
