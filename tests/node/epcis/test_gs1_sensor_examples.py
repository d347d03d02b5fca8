"""GS1's sensor-data examples (fixtures/gs1_sensor/, README there: JSON examples 1-17 and
1b, and the XML cases), each captured on a fresh node — a new chain and an empty store,
the network holding the brand owners the example names — with its exact per-event
outcomes; then every sensor event read back whole, as the query interface answers it
(``run_query``, what ``GET /v1/epcis/events`` runs) and in the verified provenance bundle
of each batch it names (what ``GET /v1/batches/{id}/provenance`` verifies): values of every
type, ``sensorMetadata.time``, statistics, exceptions, extensions at every level."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from jsonschema import Draft7Validator
from sqlalchemy import select

from node.epcis.adoption import DECLARED, FIRST_SEEN
from node.epcis.capture import EpcisResult, capture, sign_capture
from node.epcis.document import parse_document, schema_view
from node.epcis.hashid import event_hash_id
from node.epcis.query import parse_query
from node.epcis.results import run_query
from node.epcis.vocabulary import schema_text
from node.epcis.xmldoc import GS1_CONTEXT
from node.events.typed_data import Role
from node.exceptions import EpcisDocumentError
from node.ingest.service import IngestService
from node.provenance.service import ProvenanceService
from node.store.store import Store
from node.store.tables import EVENTS
from tests.conftest import Chain, make_chain
from tests.node.epcis.conftest import FIXTURES, Rig

SENSOR = FIXTURES / "gs1_sensor"

#: Brand owners beyond the harness's farm (0614141), in every example's network (each
#: example names whose keys sign it; a brand owner in the network keeps others from
#: adopting its lots: example 6).
OWNERS: dict[str, tuple[Role, str]] = {
    "acme": (Role.PRODUCER | Role.PROCESSOR, "4012345"),  # the examples' items, locations
    "grower": (Role.PRODUCER, "4023333"),  # the lots of examples 4, 6 and 12
    "packer": (Role.PRODUCER, "9506000"),  # examples 13 and 17
}
#: What a query adds to an event it answers (docs/epcis.md, "Queries").
ADDED = {"@context", "recordTime", "eventID"}


@dataclass(frozen=True)
class Example:
    """A composed document, the participants whose keys sign it (the first submits), and
    each event's outcome."""

    file: str
    network: tuple[str, ...]
    outcomes: tuple[str, ...]
    #: What each event's outcome says of lots first seen mid-chain (a part of its note).
    notes: tuple[str | None, ...] = ()


C, A = "captured", "anchored-only"
#: What a note says: the lots an event adopted (first seen mid-chain), or why it is
#: anchored-only although it names lots (node.epcis.adoption).
BRAND_OWNER_IN_NETWORK = "its brand owner is in the network and creates its lots itself"
EXAMPLES = [
    # GS1's events observe objects commissioned elsewhere: the first event naming a lot
    # the network never held adopts it (its signer, the lot's brand owner or a brand
    # outside the network), with a note; an event naming no object is a record.
    Example("sensor_example_1.jsonld", ("acme",), (C,), (FIRST_SEEN,)),
    Example("sensor_example_1b.jsonld", ("acme",), (A,)),  # no object: a record of itself
    Example("sensor_example_2.jsonld", ("acme",), (C,), (FIRST_SEEN,)),
    Example("sensor_example_3.jsonld", ("acme",), (A,)),  # a location's conditions
    Example("sensor_example_4.jsonld", ("grower",), (C,), (FIRST_SEEN,)),
    Example("sensor_example_5.jsonld", ("acme",), (C,), (FIRST_SEEN,)),
    # An item of 4012345 and a lot of 4023333, signed by acme: the lot's brand owner is in
    # the network, so acme may not adopt it: anchored-only, with why.
    Example("sensor_example_6.jsonld", ("acme", "grower"), (A,), (BRAND_OWNER_IN_NETWORK,)),
    Example("sensor_example_7.jsonld", ("acme",), (C,), (FIRST_SEEN,)),
    Example("sensor_example_8.jsonld", ("acme",), (C,), (FIRST_SEEN,)),
    Example("sensor_example_9.jsonld", ("acme",), (C,), (FIRST_SEEN,)),
    Example("sensor_example_10.jsonld", ("acme",), (C,), (FIRST_SEEN,)),
    Example("sensor_example_11.jsonld", ("farm",), (C,), (FIRST_SEEN,)),
    # A transformation declared in error: a declaration brings no lot in.
    Example("sensor_example_12.jsonld", ("acme", "grower"), (A,), (DECLARED,)),
    Example("sensor_example_13.jsonld", ("packer",), (A,)),  # a product class, no instance
    Example("sensor_example_14.jsonld", ("acme",), (A,)),  # a returnable asset (GRAI)
    Example("sensor_example_15.jsonld", ("acme",), (A,)),
    Example("sensor_example_16.jsonld", ("acme",), (A,)),
    Example("sensor_example_17.jsonld", ("packer",), (C,), (FIRST_SEEN,)),
    # Cases 2 and 10 adopt their items; cases 5 and 7 observe case 2's item after.
    Example("sensor_examples.xml", ("acme",), (C, C, C, C), (FIRST_SEEN, None, None, FIRST_SEEN)),
]
#: GS1's JSON-simple-context/WithSensorData/ copies composed (the others are not yet):
#: each the example's event under GS1's simple context, with the twin's outcomes.
SIMPLE_CONTEXT = (
    "sensor_example_1b.jsonld",
    "sensor_example_2.jsonld",
    "sensor_example_3.jsonld",
    "sensor_example_4.jsonld",
    "sensor_example_5.jsonld",
    "sensor_example_6.jsonld",
    "sensor_example_7.jsonld",
    "sensor_example_8.jsonld",
    "sensor_example_9.jsonld",
    "sensor_example_10.jsonld",
    "sensor_example_11.jsonld",
    "sensor_example_13.jsonld",
    "sensor_example_16.jsonld",
)
#: Copies whose hash IDs are not their twin's: another sensor type, another event.
#: Example 11's copy names `DoseEquivalentRate` where the composition (after GS1's JSON
#: and XML) has `gs1:EffectiveDoseRate`; example 13's names `Temperature` where the
#: composition keeps the draft's `gs1:MT-Temperature`; example 10's names `Speed` and the
#: CBV components `x`, `y`, `z` where the composition has `gs1:MT-Speed`, `example:x` ….
SIMPLE_CONTEXT_OTHER_EVENTS = {
    "sensor_example_4.jsonld",  # other rawData URLs (one per device and time)
    "sensor_example_8.jsonld",  # `AmountOfSubstancePerUnitVolume` for `gs1:Molar_concentration`
    "sensor_example_10.jsonld",
    "sensor_example_11.jsonld",
    "sensor_example_13.jsonld",
    "sensor_example_17.jsonld",
}
#: Copies whose outcomes are not their twin's: example 17's copy weighs the product class
#: (`https://id.gs1.org/01/09506000134352`, no serial) where the composition weighs item
#: `…/21/12345`: a GTIN without serial names no batch, so the event is a record (as 13).
SIMPLE_CONTEXT_OWN = {
    "sensor_example_17.jsonld": Example(
        "simple_context_sensor_example_17.jsonld", ("packer",), (A,)
    ),
}
#: Copies refused whole, with the pointer: examples 1's, 14's and 15's copies type their sensor
#: elements (`SensorElement`, `epcis:SensorElement`), which GS1's final JSON Schema
#: refuses (as in example 15).
SIMPLE_CONTEXT_REFUSED = {
    "simple_context_sensor_example_1.jsonld": "/document/epcisBody/eventList/0/sensorElementList/",
    "simple_context_sensor_example_14.jsonld": "/document/epcisBody/eventList/0/sensorElementList/",
    "simple_context_sensor_example_15.jsonld": "/document/epcisBody/eventList/0/sensorElementList/",
    # Example 12's copy has neither `schemaVersion` nor `creationDate` (and a typed element).
    "simple_context_sensor_example_12.jsonld": "/document/schemaVersion",
}
#: GS1's `.json` drafts (`SensorDataExample1.json`, `1b`, `2` … `8`, `11`), composed as GS1
#: wrote them: an inline draft context, `isA` for `type`, `sensorMetaData`, a blank-node
#: `id`, `format`, `schemaVersion` the number 2.0, `readPoint` a string. GS1's final JSON
#: Schema refuses each (`type` required, `schemaVersion` a string, …): refused whole, at
#: `/type`, the first thing read, nothing written.
DRAFTS = ("1", "1b", "2", "3", "4", "5", "6", "7", "8", "11")
DRAFTS_REFUSED = {f"sensor_example_{n}_json.jsonld": "/document/type" for n in DRAFTS}
#: Drafts whose events, once in the final form (:func:`finalised`: the README's
#: draft-to-final changes), are not their composition's: 4 writes three readings as
#: `minValue` where GS1's final example (and XML case 4) has `value`: another event.
DRAFTS_OTHER_EVENTS = {"4"}
#: Drafts still refused in the final form, with the pointer: 1, 5 and 7 type their sensor
#: elements (`isA: SensorElement`), which GS1's final schema refuses (as example 15's), and
#: write values as strings (`"26.0"`; 7 in the draft's `valueType` / `value` model, not
#: the final `stringValue`, `booleanValue` …); 8 writes its quantity as the string `"52"`
#: (and its statistics as strings, `averageValue` for `meanValue`, typed elements).
DRAFTS_FINAL_REFUSED = {
    "1": "/epcisBody/eventList/0/sensorElementList/",  # `isA: epcis:SensorElement`
    "5": "/epcisBody/eventList/0/sensorElementList/0",
    "7": "/epcisBody/eventList/0/sensorElementList/0",
    "8": "/epcisBody/eventList/0/childQuantityList/0/quantity",
}
_BY_FILE = {e.file: e for e in EXAMPLES}
EXAMPLES += [replace(_BY_FILE[twin], file=f"simple_context_{twin}") for twin in SIMPLE_CONTEXT]
EXAMPLES += list(SIMPLE_CONTEXT_OWN.values())


@dataclass(frozen=True)
class Template:
    """A node made once: the chain with every example's brand owner registered and the
    node's commit key granted, and its store with them mirrored."""

    chain: Chain
    node: LocalAccount
    store: Path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    chain = make_chain()
    path = tmp_path_factory.mktemp("sensor-store") / "template.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    try:
        for name, (roles, prefix) in OWNERS.items():
            chain.register(name, roles, prefix)
        node = chain.commit_key(store)
    finally:
        store.close()
    return Template(chain, node, path)


@pytest.fixture
def fresh(template: Template, tmp_path: Path) -> Iterator[Rig]:
    """A fresh node: the template's chain (each test's transactions reverted after it) and
    a copy of its store: no event, no batch; far cheaper than deploying again."""
    chain = template.chain
    tester = chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    shutil.copy(template.store, tmp_path / "store.sqlite3")
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        yield Rig(chain, store, IngestService(store=store, domain=chain.domain), template.node)
    finally:
        store.close()
        tester.revert_to_snapshot(snapshot)


def summary(result: EpcisResult) -> str:
    if result.refusal is None:
        return str(result.outcome)
    cause = getattr(result.refusal, "cause", None)
    return f"{result.outcome}:{getattr(cause, 'code', None) or result.refusal.code}"


def test_the_fixtures_are_all_listed() -> None:
    listed = {e.file for e in EXAMPLES} | set(SIMPLE_CONTEXT_REFUSED) | set(DRAFTS_REFUSED)
    assert listed == {p.name for p in SENSOR.iterdir() if p.suffix in (".jsonld", ".xml")}
    readme = (SENSOR / "README.md").read_text()
    assert all(name in readme for name in listed)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.file for e in EXAMPLES])
def test_each_sensor_example_on_a_fresh_node_reads_back_whole(fresh: Rig, example: Example) -> None:
    text = (SENSOR / example.file).read_text()
    document: Any = text if example.file.endswith(".xml") else json.loads(text)
    keys = [bytes(fresh.chain.keys[name].key) for name in example.network]
    signed = sign_capture(
        store=fresh.store,
        domain=fresh.chain.domain,
        private_key=keys[0],
        document=document,
        others=keys[1:],
    )
    results = capture(ingest=fresh.ingest, request=signed.request)
    fresh.commit()
    assert tuple(summary(r) for r in results) == example.outcomes
    for result, note in zip(results, example.notes or (None,) * len(results), strict=True):
        assert (result.note is None) if note is None else (note in (result.note or ""))
    events = [e.data for e in parse_document(document).events]  # XML: its JSON form
    provenance = ProvenanceService(fresh.store, fresh.chain.w3, fresh.chain.deployment)
    sensors = 0
    for result, event in zip(results, events, strict=True):
        # The query interface answers the event as captured: every member, unchanged but
        # for CBV 1.x URNs (the XML's), written as 2.0's words.
        query = parse_query([("EQ_eventID", result.hash_id)], max_per_page=5)
        (answered,) = run_query(fresh.store, query).events
        assert {k: answered[k] for k in event} == schema_view(event)
        assert set(answered) - set(event) <= ADDED
        sensors += "sensorElementList" in event
        # The verified provenance of each batch it names holds it whole.
        with fresh.store.read() as conn:
            rows = [fresh.store.events.get(conn, h) for h in result.trace_events]
        for row in rows:
            assert row is not None
            if row.event.batch_id == b"\x00" * 32 or result.outcome == A:
                continue  # an anchored-only record: no batch, no provenance
            found = provenance.provenance(row.event.batch_id)
            assert found.report.outcome.value == "pass", found.report.failures()
            payloads = [json.loads(e.payload) for e in found.bundle.events if e.payload is not None]
            assert event in [{k: p[k] for k in p if k != "@context"} for p in payloads]
    assert sensors == sum(
        "sensorElementList" in e for e in events
    )  # every sensor event was read back


@pytest.mark.parametrize("twin", SIMPLE_CONTEXT + tuple(SIMPLE_CONTEXT_OWN))
def test_a_simple_context_copy_gives_its_twins_hash_ids(twin: str) -> None:
    """The simple context is GS1's (not fetched: its terms read as GS1's context's), so a
    copy of the same event has its twin's hash ID."""

    def ids(name: str) -> list[str]:
        document = json.loads((SENSOR / name).read_text())
        return [event_hash_id(e.data, e.context) for e in parse_document(document).events]

    same = ids(f"simple_context_{twin}") == ids(twin)
    assert same is (twin not in SIMPLE_CONTEXT_OTHER_EVENTS)


REFUSED = SIMPLE_CONTEXT_REFUSED | DRAFTS_REFUSED


@pytest.mark.parametrize("file", sorted(REFUSED))
def test_a_refused_copy_or_draft_writes_nothing(fresh: Rig, file: str) -> None:
    document = json.loads((SENSOR / file).read_text())
    with pytest.raises(EpcisDocumentError) as caught:
        sign_capture(
            store=fresh.store,
            domain=fresh.chain.domain,
            private_key=bytes(fresh.chain.keys["acme"].key),
            document=document,
        )
    assert (caught.value.pointer or "").startswith(REFUSED[file])
    with pytest.raises(EpcisDocumentError) as refused:  # the node's side alike
        capture(ingest=fresh.ingest, request={"document": document, "traceEvents": []})
    assert refused.value.pointer == caught.value.pointer
    with fresh.store.read() as conn:
        assert conn.execute(select(EVENTS.c.id)).first() is None


_RENAMED = {"isA": "type", "sensorMetaData": "sensorMetadata", "deviceMetaData": "deviceMetadata"}


def _final(value: Any) -> Any:
    if isinstance(value, list):
        return [_final(v) for v in value]
    if isinstance(value, str):
        value = value.replace("/giai/", "/8004/")  # AI 8004, as GS1's XML
        return "gs1:AbsoluteHumidity" if value == "gs1:Humidity" else value
    if not isinstance(value, dict):
        return value
    final: dict[str, Any] = {}
    for key, member in value.items():
        if key == "format" or (key == "id" and str(member).startswith("_:")):
            continue  # dcterms:format, blank-node ids: no member of the final binding
        if key == "readPoint" and isinstance(member, str):
            final[key] = {"id": member}
        else:
            final[_RENAMED.get(key, str(key))] = _final(member)
    return final


def finalised(draft: dict[str, Any]) -> dict[str, Any]:
    """A draft in the final form: the README's draft-to-final changes, nothing else (its
    `example:` prefix kept, GS1's 2.0.0 context for its inline draft context)."""
    body = _final({k: v for k, v in draft.items() if k != "@context"})
    context = [GS1_CONTEXT, {"example": draft["@context"]["example"]}]
    return {"@context": context, **body, "schemaVersion": "2.0"}


@pytest.mark.parametrize("draft", DRAFTS)
def test_a_draft_is_refused_by_gs1s_final_schema_and_its_final_form_is_the_composition(
    draft: str,
) -> None:
    """Each draft is invalid under GS1's final JSON Schema itself (not only our reading of
    `type`); once in the final form, its event is the composition's (same hash ID), but for
    4 (another event) and 5 (still refused)."""
    document = json.loads((SENSOR / f"sensor_example_{draft}_json.jsonld").read_text())
    schema = json.loads(schema_text("EPCIS-JSON-Schema.json"))
    errors = {e.message for e in Draft7Validator(schema).iter_errors(document)}
    assert {"'type' is a required property", "2.0 is not of type 'string'"} <= errors
    final = finalised(document)
    if draft in DRAFTS_FINAL_REFUSED:
        with pytest.raises(EpcisDocumentError) as refused:
            parse_document(final)
        assert (refused.value.pointer or "").startswith(DRAFTS_FINAL_REFUSED[draft])
        return
    (event,) = parse_document(final).events
    composed = json.loads((SENSOR / f"sensor_example_{draft}.jsonld").read_text())
    (twin,) = parse_document(composed).events
    same = event_hash_id(event.data, event.context) == event_hash_id(twin.data, twin.context)
    assert same is (draft not in DRAFTS_OTHER_EVENTS)
