"""Looking batches up as people do, at the API: problems as pages for browsers only (JSON
clients keep their problem documents and codes), a product's Digital Link listing its
lots, ``GET /v1/search`` reading what was typed, and problems that say things once."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

import pytest

from api import create_app
from api.html_errors import prefers_html
from api.routes.web import PAGE_CSP
from api.settings import ApiSettings
from node.events.identifiers import parse_identifier
from tests.api.conftest import GTIN, AppClient, Rig

PROBLEM = "urn:tracenode:problem:"
#: Chromium's navigation Accept header, and Firefox's.
CHROMIUM = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
#: What JSON clients send (None: no Accept header at all).
JSON_CLIENTS = [None, "*/*", "application/json", "application/problem+json",
                "text/html, application/json", "application/json;q=0.9, text/html;q=0.9",
                "text/html;q=0.5, application/*"]  # fmt: skip
MALFORMED = [
    ("/01/123/10/X", 422, "invalid-identifier", "a GTIN must be 8, 12, 13 or 14 digits, got '123'"),
    ("/01/09506000134352/10/", 422, "invalid-identifier", "empty lot"),
    (
        "/01/09506000134352/10/A%7EB",
        422,
        "invalid-identifier",
        "lot contains '~' (U+007E), outside GS1's CSET 82 character set",
    ),
    (
        "/v1/resolve/hello",
        422,
        "invalid-identifier",
        "'hello' is in none of the accepted forms: a GS1 Digital Link",
    ),
    ("/v1/resolve/" + "x" * 2100, 422, "validation-error", "path.identifier: String should have"),
    ("/02/nothing", 404, "not-found", "nothing at /02/nothing"),
]


def headers(accept: str | None) -> dict[str, str]:
    return {} if accept is None else {"Accept": accept}


@pytest.mark.parametrize(("accept", "html"), [
    (CHROMIUM, True), (FIREFOX, True), ("text/html", True), ("text/*", True),
    ("text/html;q=0.9, application/json;q=0.5", True), ("application/xhtml+xml", True),
    *((accept, False) for accept in JSON_CLIENTS),
    ("text/html;q=0", False), ("image/png", False), ("text/html;q=oops", False),
])  # fmt: skip
def test_html_is_preferred_only_when_the_accept_header_ranks_it_above_json(
    accept: str | None, html: bool
) -> None:
    assert prefers_html(accept) is html


@pytest.mark.parametrize(("path", "status", "code", "detail"), MALFORMED)
def test_json_clients_get_the_same_problem_documents_as_before(
    rig: Rig, path: str, status: int, code: str, detail: str
) -> None:
    for accept in JSON_CLIENTS:
        answer = rig.client.get(path, headers=headers(accept))

        assert answer.status_code == status, accept
        assert answer.headers["content-type"] == "application/problem+json", accept
        problem = answer.json()
        assert problem["type"] == PROBLEM + code
        assert problem["code"] == code
        assert problem["status"] == status
        assert problem["detail"].startswith(detail)


@pytest.mark.parametrize(("path", "status", "code", "detail"), MALFORMED)
def test_a_browser_gets_the_problem_as_a_page_with_its_status_and_code(
    rig: Rig, path: str, status: int, code: str, detail: str
) -> None:
    for accept in (CHROMIUM, FIREFOX):
        answer = rig.client.get(path, headers={"Accept": accept})

        assert answer.status_code == status
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["content-security-policy"] == PAGE_CSP
        assert answer.headers["vary"] == "Accept"
        assert answer.headers["cache-control"] == "no-store"
        page = answer.text
        assert f'data-code="{code}" data-status="{status}"' in page
        assert f"Error code for support: <code>{code}</code> (HTTP {status})" in page
        assert f'<p class="problem-detail">{escape(detail)}' in page
        assert "<script" not in page
        assert "style=" not in page
        assert '<link rel="stylesheet" href="/static/base.css">' in page
        assert '<link rel="stylesheet" href="/static/style.css">' in page


def test_an_error_page_escapes_what_was_asked(rig: Rig) -> None:
    hostile = "<script>alert(1)</script>\"'&"
    answer = rig.client.get(f"/v1/resolve/{quote(hostile, safe='')}", headers={"Accept": CHROMIUM})

    assert answer.status_code == 422
    assert "<script>" not in answer.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;"' in answer.text
    detail = rig.client.get(f"/v1/resolve/{quote(hostile, safe='')}").json()["detail"]
    assert detail.startswith("'<script>alert(1)</script>")
    assert f'<p class="problem-detail">{escape(detail)}</p>' in answer.text


def test_pages_keep_the_problems_headers_and_the_api_stays_json(rig: Rig) -> None:
    app = create_app(rig.node, settings=ApiSettings(rate_per_second=0.5, rate_burst=1))
    client = AppClient(app, client=("127.0.0.9", 50000))
    try:
        browsing = [client.get("/", headers={"Accept": CHROMIUM}) for _ in range(2)]
    finally:
        client.close()
    head = rig.client.request("HEAD", "/01/123/10/X", headers={"Accept": CHROMIUM})
    posted = rig.client.post("/01/123/10/X", headers={"Accept": CHROMIUM})
    api = rig.client.get("/v1/batches/hello", headers={"Accept": CHROMIUM})
    events = rig.client.get("/v1/events/0x12", headers={"Accept": CHROMIUM})

    assert [r.status_code for r in browsing] == [200, 429]
    limited = browsing[1]
    assert limited.headers["content-type"] == "text/html; charset=utf-8"
    assert int(limited.headers["retry-after"]) >= 1
    assert 'data-code="rate-limited"' in limited.text
    # HEAD is served where GET is (RFC 9110 §9.3.2; it answered 405 once): the GET's page
    # status and headers, no body.
    assert head.status_code == 422
    assert head.headers["content-type"] == "text/html; charset=utf-8"
    assert head.headers["vary"] == "Accept"
    assert head.content == b""
    assert posted.status_code == 405  # a POST is not a navigation to a page
    assert posted.headers["content-type"] == "application/problem+json"
    assert posted.headers["allow"] == "GET, HEAD"
    for answer in (api, events):  # the JSON API answers JSON whoever asks
        assert answer.headers["content-type"] == "application/problem+json"
    assert api.json()["code"] == "invalid-identifier"
    assert events.status_code == 422


def test_not_found_and_refused_identifiers_say_it_once(rig: Rig) -> None:
    missing = rig.client.get("/v1/batches/88.123.45%2FNO-SUCH-LOT").json()
    overview = rig.client.get("/v1/batches/88.123.45%2FNO-SUCH-LOT/overview").json()
    unacceptable = rig.client.get("/v1/resolve/88.123.45/X", headers={"Accept": "image/png"})

    assert (missing["title"], missing["detail"]) == (
        "Batch not found",
        "this node holds no batch 88.123.45/NO-SUCH-LOT",
    )
    assert overview["detail"] == "no event on this node names 88.123.45/NO-SUCH-LOT"
    assert unacceptable.json()["detail"] == (
        "this is served as application/json, application/linkset+json or text/html"
    )
    limit = rig.client.get("/v1/search?q=x&limit=0").json()
    assert (limit["title"], limit["detail"]) == (
        "Validation error",
        "query.limit: Input should be greater than or equal to 1",
    )


def commissioned(rig: Rig, count: int) -> list[str]:
    lots = []
    for _ in range(count):
        lot, document = rig.commission()
        answer = rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
        assert answer.status_code == 202, answer.text
        lots.append(lot)
    return lots


def test_a_product_level_digital_link_lists_the_products_lots(rig: Rig) -> None:
    mine = commissioned(rig, 2)

    as_json = rig.client.get(f"/01/{GTIN}", headers={"Accept": "application/json"})
    anything = rig.client.get(f"/01/{GTIN}")
    by_resolver = rig.client.get(f"/v1/resolve/{GTIN}")
    browser = rig.client.get(f"/01/{GTIN}?17=261231", headers={"Accept": CHROMIUM})
    linkset = rig.client.get(f"/01/{GTIN}?linkType=all")
    bad = rig.client.get("/01/09506000134353")

    assert as_json.status_code == 200
    found = as_json.json()
    assert (found["kind"], found["gtin"], found["lot"]) == ("product", GTIN, None)
    assert found["identifier"] == f"https://id.gs1.org/01/{GTIN}"
    listed = {b["identifier"]: b for b in found["batches"]}
    assert set(mine) <= set(listed)
    assert all(i.startswith(f"https://id.gs1.org/01/{GTIN}/") for i in listed)
    first = listed[mine[0]]
    assert first["batchId"] == parse_identifier(mine[0]).batch_id_hex
    assert first["status"] == "ACTIVE"
    assert first["producer"]["name"] == "farm"
    assert first["page"] == "/?id=" + quote(mine[0], safe="")
    assert found["truncated"] is False
    assert anything.json() == by_resolver.json() == found
    assert 'rel="linkset"' in as_json.headers["link"]
    assert browser.status_code == 303
    assert browser.headers["location"] == "http://testserver/?q=" + quote(
        f"https://id.gs1.org/01/{GTIN}", safe=""
    )
    links = linkset.json()["linkset"][0]
    assert links["anchor"] == f"https://id.gs1.org/01/{GTIN}"
    assert links["https://gs1.org/voc/defaultLink"][0]["href"].endswith(browser.headers["location"])
    assert bad.status_code == 422
    assert bad.json()["detail"] == "bad check digit in GTIN 09506000134353: expected 2, found 3"


def test_search_reads_what_people_type(rig: Rig) -> None:
    lot, _ = commissioned(rig, 2)  # two lots of GTIN at least: a product list to cut
    code = parse_identifier(lot).lot
    assert code is not None

    def search(text: str, **params: str) -> dict[str, Any]:
        answer = rig.client.get("/v1/search", params={"q": text, **params})
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    barcode = search(f"  (01) {GTIN} (10) {code}  ")
    wrapped = search(lot.replace("/10/", "/\n10/"))
    by_lot = search(code)
    product = search(GTIN, limit="1")
    nothing = search("NO-SUCH-LOT")
    unknown = search(f"(01){GTIN}(10)NO-SUCH-LOT")
    refused = rig.client.get("/v1/search", params={"q": "LOT 7"})

    assert barcode["kind"] == wrapped["kind"] == "batch"
    assert barcode["identifier"] == wrapped["identifier"] == lot
    assert barcode["query"] == f"(01) {GTIN} (10) {code}"
    assert [b["identifier"] for b in barcode["batches"]] == [lot]
    assert (by_lot["kind"], by_lot["lot"], by_lot["identifier"]) == ("lot", code, None)
    assert [b["identifier"] for b in by_lot["batches"]] == [lot]
    assert product["kind"] == "product"
    assert (len(product["batches"]), product["limit"], product["truncated"]) == (1, 1, True)
    assert nothing["batches"] == []
    assert nothing["truncated"] is False
    assert unknown["kind"] == "batch"
    assert unknown["batches"] == []
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"].startswith("'LOT 7' is neither an identifier nor a lot code")
