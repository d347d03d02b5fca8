"""Looking batches up as people do, at the API: a product's Digital Link listing its
lots, ``GET /v1/search`` reading what was typed, and problems that say things once."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from node.events.identifiers import parse_identifier
from tests.api.conftest import GTIN, Rig

CHROMIUM = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


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
    assert browser.headers["location"] == "/?q=" + quote(f"https://id.gs1.org/01/{GTIN}", safe="")
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
