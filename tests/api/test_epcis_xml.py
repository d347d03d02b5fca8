"""``POST /v1/epcis/capture`` with an EPCIS XML document as the request's ``document``."""

from __future__ import annotations

from node.epcis.capture import sign_document
from tests.api.conftest import Rig
from tests.node.epcis.conftest import commissioning_xml, new_lot, xml_document
from tests.node.epcis.test_xml import EXTERNAL_ENTITY


def test_an_xml_document_is_captured_over_http(rig: Rig) -> None:
    xml = commissioning_xml(new_lot())
    request = sign_document(
        store=rig.node.store,
        domain=rig.node.domain,
        private_key=bytes(rig.accounts["farm"].key),
        document=xml,
    )

    accepted = rig.client.post("/v1/epcis/capture", json=request, headers=rig.auth("farm"))
    again = rig.client.post("/v1/epcis/capture", json=request, headers=rig.auth("farm"))

    assert request["document"] == xml
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["captured"] == 1
    assert again.status_code == 202
    assert again.json()["duplicate"] == 1


def test_bad_xml_is_a_problem_naming_the_line(rig: Rig) -> None:
    invalid = xml_document(
        "<ObjectEvent><eventTime>2024-05-06T08:00:00Z</eventTime>"
        "<eventTimeZoneOffset>+02:00</eventTimeZoneOffset><action>MOVE</action></ObjectEvent>"
    )
    for document, line in ((invalid, 4), (EXTERNAL_ENTITY, None), ("<a><b></a>", 1)):
        response = rig.client.post(
            "/v1/epcis/capture",
            json={"document": document, "traceEvents": []},
            headers=rig.auth("farm"),
        )

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "epcis-invalid-document"
        assert problem["pointer"] == "/document"
        assert problem["line"] == line
