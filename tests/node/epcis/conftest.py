"""Shared pieces for the EPCIS tests: fixture documents and a node on the embedded chain."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.chain.commits import CommitClient
from node.commit.worker import CommitWorker
from node.epcis.capture import EpcisResult, capture, sign_document
from node.ingest.service import IngestService
from node.store.store import Store
from tests.conftest import Chain

FIXTURES = Path(__file__).parent / "fixtures"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
FARM_LOCATION = "urn:epc:id:sgln:0614141.00001.0"
DAIRY_LOCATION = "urn:epc:id:sgln:0614142.00001.0"


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


def lgtin(lot: str, item: str = "012345", prefix: str = "0614141") -> str:
    return f"urn:epc:class:lgtin:{prefix}.{item}.{lot}"


def document(*events: dict[str, Any], context: Any = CONTEXT) -> dict[str, Any]:
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-06T08:00:00Z",
        "epcisBody": {"eventList": [copy.deepcopy(e) for e in events]},
    }


def event(
    kind: str = "ObjectEvent", when: str = "2024-05-06T06:30:00+02:00", **fields: Any
) -> dict[str, Any]:
    return {"type": kind, "eventTime": when, "eventTimeZoneOffset": "+02:00", **fields}


def commissioning(*lots: str, quantity: float = 100) -> dict[str, Any]:
    return event(
        action="ADD",
        bizStep="commissioning",
        disposition="active",
        quantityList=[{"epcClass": lot, "quantity": quantity, "uom": "LTR"} for lot in lots],
        readPoint={"id": FARM_LOCATION},
    )


def shipping(*lots: str, to: str = "urn:epc:id:pgln:0614142.00000") -> dict[str, Any]:
    return event(
        when="2024-05-06T09:00:00.25+02:00",
        action="OBSERVE",
        bizStep="shipping",
        disposition="in_transit",
        quantityList=[{"epcClass": lot, "quantity": 100, "uom": "LTR"} for lot in lots],
        readPoint={"id": FARM_LOCATION},
        destinationList=[{"type": "possessing_party", "destination": to}],
    )


def receiving(*lots: str) -> dict[str, Any]:
    return event(
        when="2024-05-06T11:00:00+02:00",
        action="OBSERVE",
        bizStep="receiving",
        disposition="in_progress",
        quantityList=[{"epcClass": lot} for lot in lots],
        readPoint={"id": DAIRY_LOCATION},
    )


def new_lot(prefix: str = "0614141", item: str = "012345") -> str:
    return lgtin("L" + secrets.token_hex(4).upper(), item, prefix)


#: The first fields of an XML event (EPCIS 2.0 and 1.2 alike).
XML_HEAD = (
    "<eventTime>2024-05-06T08:00:00Z</eventTime><eventTimeZoneOffset>+02:00</eventTimeZoneOffset>"
)


def xml_document(
    events: str, *, extra: str = "", namespace: str = "urn:epcglobal:epcis:xsd:2"
) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<epcis:EPCISDocument xmlns:epcis="{namespace}" {extra} schemaVersion="2.0" '
        'creationDate="2024-05-06T08:00:00Z">\n'
        f"<EPCISBody><EventList>\n{events}\n</EventList></EPCISBody></epcis:EPCISDocument>"
    )


def commissioning_xml(lot_class: str, *, version: str = "2") -> str:
    wrapped = (
        f"<extension><quantityList><quantityElement><epcClass>{lot_class}</epcClass>"
        "<quantity>1200</quantity><uom>LTR</uom></quantityElement></quantityList></extension>"
        if version == "1"
        else f"<quantityList><quantityElement><epcClass>{lot_class}</epcClass>"
        "<quantity>1200</quantity><uom>LTR</uom></quantityElement></quantityList>"
    )
    return xml_document(
        f"<ObjectEvent>{XML_HEAD}<epcList/><action>ADD</action>"
        "<bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>"
        "<readPoint><id>urn:epc:id:sgln:0614141.00001.0</id></readPoint>"
        f"{wrapped}</ObjectEvent>",
        namespace=f"urn:epcglobal:epcis:xsd:{version}",
    )


@dataclass
class Rig:
    chain: Chain
    store: Store
    ingest: IngestService
    node: LocalAccount

    def sign(self, who: str, doc: dict[str, Any] | str) -> dict[str, Any]:
        return sign_document(
            store=self.store,
            domain=self.chain.domain,
            private_key=bytes(self.chain.keys[who].key),
            document=doc,
        )

    def capture(self, who: str, doc: dict[str, Any] | str) -> list[EpcisResult]:
        return capture(ingest=self.ingest, request=self.sign(who, doc))

    def commit(self) -> None:
        client = CommitClient(self.chain.w3, self.chain.deployment)
        CommitWorker(store=self.store, client=client, node=self.node).commit_once()


@pytest.fixture
def rig(chain: Chain, tmp_path: Path) -> Iterator[Rig]:
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    node = chain.commit_key(store)
    yield Rig(chain, store, IngestService(store=store, domain=chain.domain), node)
    store.close()


def with_master_data(
    doc: dict[str, Any],
    *elements: dict[str, Any],
    vocabulary: str = "urn:epcglobal:epcis:vtype:BusinessLocation",
) -> dict[str, Any]:
    """``doc`` with ``elements`` (``{"id", "attributes"?}``) as its header's master data."""
    vocabularies = [{"type": vocabulary, "vocabularyElementList": list(elements)}]
    return doc | {"epcisHeader": {"epcisMasterData": {"vocabularyList": vocabularies}}}


def named(code: str, **attributes: str) -> dict[str, Any]:
    """A master-data element: CBV attributes by their local name (``name``, ``city``)."""
    return {
        "id": code,
        "attributes": [
            {"id": f"urn:epcglobal:cbv:mda#{key}", "attribute": value}
            for key, value in attributes.items()
        ],
    }
