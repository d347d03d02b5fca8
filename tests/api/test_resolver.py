"""GS1-Conformant resolver behaviour (GS1-Conformant Resolver 1.2): the description file
at ``/.well-known/gs1resolver`` and every linkset the node answers validate against GS1's
own JSON schemas (vendored in api/gs1resolver), and ``?linkType=`` redirects to one link
or answers 404, as the standard says."""

from __future__ import annotations

import hashlib
import json
import secrets
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from api import create_app
from api.routes.resolve import BATCH_LINK_TYPES, GS1_VOC
from api.settings import WebSettings
from node.events.identifiers import parse_identifier
from node.events.submission import submission_document
from node.events.typed_data import Action
from tests.api.conftest import GTIN, TEST_SETTINGS, AppClient, Rig
from tests.api.test_search import CHROMIUM

SCHEMAS = Path(__file__).resolve().parents[2] / "api" / "gs1resolver"
PROBLEM = "urn:tracenode:problem:"
BASE = "http://testserver"
LINKSET = "application/linkset+json"


@cache
def validator(name: str) -> Draft7Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=FormatChecker())


def gs1_linkset(document: Any) -> None:
    validator("linkset-schema.json").validate(document)


def commissioned(rig: Rig, identifier: str, who: str = "farm") -> str:
    signed = rig.sign(who, Action.COMMISSION, batch_id=bytes(parse_identifier(identifier).batch_id))
    document = submission_document(signed) | {"identifiers": [identifier]}
    answer = rig.client.post("/v1/events", json=document, headers=rig.auth(who))
    assert answer.status_code == 202, answer.text
    return identifier


@pytest.fixture(scope="module")
def held(rig: Rig) -> dict[str, str]:
    """A lot, an item and a handle this node holds."""
    tag = secrets.token_hex(3).upper()
    return {
        "lot": commissioned(rig, f"https://id.gs1.org/01/{GTIN}/10/R{tag}"),
        "item": commissioned(rig, f"https://id.gs1.org/01/{GTIN}/21/S{tag}"),
        "handle": commissioned(rig, f"88.456/H-{tag}"),
    }


def test_the_vendored_description_file_schema_is_the_one_gs1_serves() -> None:
    data = (SCHEMAS / "description-file-schema.json").read_bytes()

    assert len(data) == 3593
    assert hashlib.sha256(data).hexdigest() == (
        "99d505c7aa2004cde3277651e8db0e019eab61d2746b2631ddab3fec8a13617e"
    )


def test_the_description_file_validates_against_gs1s_schema(rig: Rig) -> None:
    answer = rig.client.get("/.well-known/gs1resolver")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    description = answer.json()
    validator("description-file-schema.json").validate(description)
    assert description["resolverRoot"] == BASE
    assert description["supportedPrimaryKeys"] == ["01"]
    assert {"namespace": GS1_VOC, "prefix": "gs1:"} in description["supportedLinkType"]
    assert description["linkTypeDefaultCanBeLinkset"] is False
    # and the schema does refuse what it should: a key that is no GS1 primary key
    with pytest.raises(ValidationError):
        validator("description-file-schema.json").validate(
            description | {"supportedPrimaryKeys": ["10"]}
        )


def _linksets(rig: Rig, held: dict[str, str]) -> dict[str, Any]:
    lot_path = held["lot"].removeprefix("https://id.gs1.org")
    item_path = held["item"].removeprefix("https://id.gs1.org")
    batch_id = parse_identifier(held["lot"]).batch_id_hex
    requests = {
        "lot (Accept)": (lot_path, {"Accept": LINKSET}),
        "lot (linkType=linkset)": (lot_path + "?linkType=linkset", {}),
        "lot (linkType=all)": (lot_path + "?linkType=all", {}),
        "item": (item_path, {"Accept": LINKSET}),
        "product": (f"/01/{GTIN}?linkType=linkset", {}),
        "handle": (f"/v1/resolve/{held['handle']}", {"Accept": LINKSET}),
        "batch id": (f"/v1/resolve/{batch_id}?linkType=linkset", {}),
    }
    answers = {}
    for name, (url, headers) in requests.items():
        answer = rig.client.get(url, headers=headers)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers["content-type"] == LINKSET, name
        assert 'rel="http://www.w3.org/ns/json-ld#context"' in answer.headers["link"], name
        answers[name] = answer.json()
    return answers


def test_every_linkset_validates_against_gs1s_linkset_schema(
    rig: Rig, held: dict[str, str]
) -> None:
    linksets = _linksets(rig, held)

    for name, document in linksets.items():
        try:
            gs1_linkset(document)
        except ValidationError as error:
            pytest.fail(f"{name}: {error.message} at {list(error.absolute_path)}")
    lot = linksets["lot (Accept)"]["linkset"][0]
    assert lot == linksets["lot (linkType=linkset)"]["linkset"][0]
    assert lot == linksets["lot (linkType=all)"]["linkset"][0]
    assert lot["anchor"] == held["lot"]
    batch_id = parse_identifier(held["lot"]).batch_id_hex
    assert [lot[t.rel][0]["href"] for t in BATCH_LINK_TYPES] == [
        f"{BASE}/?id={quote(held['lot'], safe='')}",  # gs1:defaultLink: the buyer page
        f"{BASE}/?id={quote(held['lot'], safe='')}",  # gs1:pip: the same
        f"{BASE}/v1/batches/{batch_id}/provenance",  # gs1:traceability
        f"{BASE}/v1/batches/{batch_id}",  # gs1:recallStatus
        f"{BASE}/v1/batches/{batch_id}",  # describedby
        f"{BASE}/v1/batches/{batch_id}/trace?direction=downstream",  # related
        f"{BASE}/v1/batches/{batch_id}/bundle",  # alternate: the proof bundle
    ]
    assert lot[GS1_VOC + "pip"][0]["type"] == "text/html"
    assert lot[GS1_VOC + "recallStatus"][0]["title"].startswith("none: no recall")
    handle = linksets["handle"]["linkset"][0]
    assert handle["anchor"] == f"{BASE}/v1/resolve/{quote(held['handle'], safe='')}"
    assert handle[GS1_VOC + "traceability"][0]["href"].endswith("/provenance")
    assert linksets["batch id"]["linkset"][0]["anchor"] == f"{BASE}/v1/resolve/{batch_id}"
    product = linksets["product"]["linkset"][0]
    assert product["anchor"] == f"https://id.gs1.org/01/{GTIN}"
    assert set(product) == {"anchor", GS1_VOC + "defaultLink", GS1_VOC + "pip", "describedby"}


@pytest.mark.parametrize(
    "broken",
    [
        {"gs1:pip": [{"href": f"{BASE}/", "title": "a CURIE is no relation type here"}]},
        {"describedby": [{"href": f"{BASE}/"}]},  # no title
        {"describedby": [{"href": "/relative", "title": "relative"}]},
        {"describedby": {"href": f"{BASE}/", "title": "not in an array"}},
    ],
)
def test_the_linkset_schema_refuses_what_gs1_refuses(broken: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        gs1_linkset({"linkset": [{"anchor": "https://id.gs1.org/01/09506000134352"} | broken]})


@pytest.mark.parametrize(
    "link_type",
    ["gs1:traceability", GS1_VOC + "traceability", "https://ref.gs1.org/voc/traceability"],
)
def test_a_link_type_redirects_to_its_link_with_the_query_string(
    rig: Rig, held: dict[str, str], link_type: str
) -> None:
    path = held["lot"].removeprefix("https://id.gs1.org")
    batch_id = parse_identifier(held["lot"]).batch_id_hex

    answer = rig.client.get(path, params={"linkType": link_type, "11": "240101"})

    assert answer.status_code == 307
    location = answer.headers["location"]
    target, _, query = location.partition("?")
    assert target == f"{BASE}/v1/batches/{batch_id}/provenance"
    assert query == answer.request.url.query.decode()  # passed on whole
    followed = rig.client.get(location)
    assert followed.status_code == 200, followed.text
    assert followed.json()["subject"] == batch_id  # the provenance report of the lot


def test_every_link_type_of_the_linkset_redirects_to_its_link(
    rig: Rig, held: dict[str, str]
) -> None:
    for name in ("lot", "item", "handle"):
        url = f"/v1/resolve/{quote(held[name], safe='')}"
        links = rig.client.get(url, headers={"Accept": LINKSET}).json()["linkset"][0]
        for rel, (target,) in ((r, t) for r, t in links.items() if r != "anchor"):
            curie = "gs1:" + rel.removeprefix(GS1_VOC) if rel.startswith(GS1_VOC) else rel
            answer = rig.client.get(url, params={"linkType": curie})
            assert answer.status_code == 307, (name, curie, answer.text)
            assert answer.headers["location"].startswith(target["href"]), (name, curie)


def test_browsers_follow_a_link_type_and_the_default_link(rig: Rig, held: dict[str, str]) -> None:
    path = f"/v1/resolve/{held['handle']}"

    pip = rig.client.get(path, params={"linkType": "gs1:pip"}, headers={"Accept": CHROMIUM})
    default = rig.client.get(path, headers={"Accept": CHROMIUM})

    assert pip.status_code == 307
    assert pip.headers["location"].startswith(f"{BASE}/?id={quote(held['handle'], safe='')}&")
    assert default.status_code == 303
    # The default link, absolute under the node's address (docs/api.md: "303 to the default
    # link"; a root-relative /?id= dropped a public URL's path).
    assert default.headers["location"] == f"{BASE}/?id={quote(held['handle'], safe='')}"


def test_a_link_type_the_identifier_lacks_is_a_404_problem_or_page(
    rig: Rig, held: dict[str, str]
) -> None:
    path = held["lot"].removeprefix("https://id.gs1.org")

    unknown = rig.client.get(path, params={"linkType": "gs1:nutritionalInfo"})
    product = rig.client.get(f"/01/{GTIN}", params={"linkType": "gs1:traceability"})
    anchor = rig.client.get(path, params={"linkType": "anchor"})
    page = rig.client.get(
        path, params={"linkType": "gs1:nutritionalInfo"}, headers={"Accept": CHROMIUM}
    )
    not_held = rig.client.get(
        f"/01/{GTIN}/10/NOT-HELD-{secrets.token_hex(3)}", params={"linkType": "gs1:pip"}
    )

    for answer in (unknown, product, anchor):
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == PROBLEM + "link-type-not-found"
    assert unknown.json()["detail"] == (
        f"{held['lot']} has no link of type gs1:nutritionalInfo on this node; it has: "
        "gs1:defaultLink, gs1:pip, gs1:traceability, gs1:recallStatus, describedby, "
        "related, alternate"
    )
    assert "it has: gs1:defaultLink, gs1:pip, describedby" in product.json()["detail"]
    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'data-code="link-type-not-found"' in page.text
    assert not_held.status_code == 404
    assert not_held.json()["type"] == PROBLEM + "batch-not-found"


def test_every_link_is_under_the_public_address(rig: Rig, held: dict[str, str]) -> None:
    """TRACENODE_WEB_PUBLIC_URL (a path allowed) is the node's address in every link the
    resolver answers, as in the description file and the QR codes (api.routes.web.base_url):
    the request's own address (and a root-relative 303) dropped a proxy's path."""
    public = "https://trace.example.com/node"
    app = create_app(rig.node, settings=TEST_SETTINGS, web=WebSettings(public_url=public))
    client = AppClient(app)
    lot_path = held["lot"].removeprefix("https://id.gs1.org")
    handle = f"/v1/resolve/{quote(held['handle'], safe='')}"
    try:
        traceability = client.get(lot_path, params={"linkType": "gs1:traceability"})
        linksets = [client.get(p, headers={"Accept": LINKSET}) for p in (lot_path, handle)]
        as_json = client.get(lot_path)
        browser = client.get(lot_path, headers={"Accept": CHROMIUM})
        product = client.get(f"/01/{GTIN}", headers={"Accept": CHROMIUM})
        description = client.get("/.well-known/gs1resolver").json()
    finally:
        client.close()

    batch_id = parse_identifier(held["lot"]).batch_id_hex
    assert traceability.status_code == 307
    assert traceability.headers["location"] == (
        f"{public}/v1/batches/{batch_id}/provenance?linkType=gs1%3Atraceability"
    )
    for linkset in linksets:
        links = linkset.json()["linkset"][0]
        hrefs = [t["href"] for rel, targets in links.items() if rel != "anchor" for t in targets]
        assert len(hrefs) >= 5
        assert all(h.startswith(public + "/") for h in hrefs), hrefs
        assert linkset.headers["link"].startswith(f"<{public}/v1/resolve/")
    assert linksets[1].json()["linkset"][0]["anchor"] == f"{public}{handle}"
    assert as_json.headers["link"].startswith(f"<{public}/v1/resolve/")
    assert browser.status_code == 303
    assert browser.headers["location"] == f"{public}/?id={quote(held['lot'], safe='')}"
    assert product.status_code == 303
    assert product.headers["location"] == (
        f"{public}/?q={quote(f'https://id.gs1.org/01/{GTIN}', safe='')}"
    )
    assert description["resolverRoot"] == public


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        ("application/json;q=0, */*", LINKSET),  # JSON refused: */* is less specific
        ("application/json;q=0.5, */*;q=0.9", LINKSET),
        ("text/html;q=0, */*", "application/json"),
        ("text/*;q=0.5, text/html;q=0", 406),  # the page refused, whatever text/* says
        ("application/*;q=0.1, application/json;q=0, text/html;q=0", LINKSET),
        ("*/*;q=0", 406),
        ("application/json;q=nan, text/html", 303),
        # unchanged: the most wanted, then the client's order, then JSON
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("text/*", 303),
        ("application/linkset+json, application/json", LINKSET),
        ("application/json, application/linkset+json", "application/json"),
        ("text/html, application/json", 303),
        (CHROMIUM, 303),
        ("image/png", 406),
    ],
)
def test_each_offered_type_takes_the_quality_of_its_most_specific_range(
    rig: Rig, held: dict[str, str], accept: str, answer: str | int
) -> None:
    """RFC 9110 §12.5.1, as the error pages negotiate (api.html_errors.preference): a
    range's q=0 refuses its type even when a wider range accepts everything."""
    got = rig.client.get(held["lot"].removeprefix("https://id.gs1.org"), headers={"Accept": accept})

    if isinstance(answer, int):
        assert got.status_code == answer, got.text
    else:
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == answer
