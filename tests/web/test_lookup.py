"""Finding a batch the way people do, in a real headless Chromium against a real
``tracenode serve``: a malformed Digital Link explained as a page (not a problem
document), a product's link listing its lots, and the lookup box reading the text under
a barcode, a URL pasted with spaces, and a bare lot code."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from api.routes.web import PAGE_CSP
from node.demo import CHEESE_GTIN, MILK_GTIN
from node.events.identifiers import GS1_RESOLVER, parse_identifier
from tests.web.conftest import (
    CORRECTED_PAGE,
    LATE_BATCH,
    NAMED_PAGE,
    SENSOR_BATCH,
    SUSPECT_BATCH,
    Browser,
    Site,
)

#: What Chromium sends when it opens an address (its navigation Accept header).
NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
}


def batch_id(identifier: str) -> str:
    return parse_identifier(identifier).batch_id_hex


def lot(identifier: str) -> str:
    return identifier.rsplit("/", 1)[-1]


def page_of(identifier: str) -> str:
    return "/?id=" + quote(identifier, safe="")


def wait_for(page: Browser, selector: str) -> WebElement:
    WebDriverWait(page.driver, 30).until(lambda d: d.find_elements("css selector", selector))
    return page.one(selector)


def wait_title(page: Browser, text: str) -> None:
    WebDriverWait(page.driver, 30).until(
        lambda d: [e.text for e in d.find_elements("css selector", ".batch-title")] == [text]
    )


def look_up(page: Browser, text: str) -> None:
    box = page.one("#id-input")
    box.clear()
    box.send_keys(text + Keys.ENTER)


def failed_loads(page: Browser) -> list[str]:
    """The console's errors since the last call, each of which must be the browser
    reporting the status of an address it loaded (Chromium logs every 4xx answer), as
    "{path} {status}"; anything else — a CSP or Trusted Types violation, a script error —
    fails the test. Chromium's own request for /favicon.ico (a page without an icon: the
    JSON API's) is left out."""
    reported = []
    for error in page.console_errors():
        message: str = error["message"]
        assert " - Failed to load resource: the server responded with a status of " in message, (
            error
        )
        url, status = message.split(
            " - Failed to load resource: the server responded with a status of "
        )
        path = "/" + url.split("/", 3)[3]
        if path != "/favicon.ico":
            reported.append(f"{path} {status}")
    return reported


MALFORMED = [
    ("/01/123/10/X", "a GTIN must be 8, 12, 13 or 14 digits, got '123'"),
    ("/01/09506000134353/10/LOT-7", "bad check digit in GTIN 09506000134353: expected 2, found 3"),
    ("/01/09506000134352/10/", "empty lot"),
    ("/01/09506000134352/10/LOT%C3%A9", "lot contains 'é' (U+00E9), outside GS1's CSET 82"),
]


def test_a_malformed_digital_link_is_explained_as_a_page_under_the_pages_csp(
    page: Browser, site: Site
) -> None:
    for path, detail in MALFORMED:
        page.driver.get(site.url + path)
        problem = wait_for(page, "#problem")

        assert page.js("return document.contentType") == "text/html"
        assert not page.js("return document.body.innerText").lstrip().startswith("{")
        assert page.driver.title == "This code names no batch — TraceNode"
        assert problem.find_element("css selector", "h1").text == "This code names no batch"
        assert problem.get_attribute("data-code") == "invalid-identifier"
        assert problem.find_element("css selector", ".problem-detail").text.startswith(detail)
        assert problem.find_element("css selector", ".problem-code").text == (
            "Error code for support: invalid-identifier (HTTP 422)"
        )
        assert page.one("#id-input").get_attribute("value") == site.url + path
        assert page.js("return document.scripts.length") == 0
        # style.css applied (style-src 'self'): the header's brand green, the card's border
        brand = page.one("header.top").value_of_css_property("background-color")
        assert brand == "rgba(20, 83, 45, 1)"
        assert page.one("#problem a[href='/']").text == "Start again"
        answer = httpx.get(site.url + path, headers=NAVIGATION)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["content-security-policy"] == PAGE_CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert failed_loads(page) == [f"{path} 422 (Unprocessable Entity)"]
    page.screenshot("problem-page", docs=True)

    # The way back: the lookup box holds what was opened, to correct it.
    cheese = site.demo.lots["cheese"]
    look_up(page, site.url + cheese.removeprefix(GS1_RESOLVER))
    wait_title(page, f"Lot {lot(cheese)}")
    assert page.driver.current_url == site.url + page_of(cheese)


def test_hostile_text_in_an_error_page_is_shown_as_text(page: Browser, site: Site) -> None:
    hostile = "<img src=x onerror=window.__pwned=1>"
    page.driver.get(f"{site.url}/v1/resolve/{quote(hostile, safe='')}")
    problem = wait_for(page, "#problem")

    assert problem.find_element("css selector", ".problem-detail").text.startswith(
        f"'{hostile}' is in none of the accepted forms"
    )
    assert page.one("#id-input").get_attribute("value") == hostile
    assert page.js("return [...document.images].map(i => i.getAttribute('src'))") == [
        "/static/icon.svg"
    ]
    assert page.js("return window.__pwned") is None
    assert page.js("return document.scripts.length") == 0
    assert failed_loads(page) == [
        f"/v1/resolve/{quote(hostile, safe='')} 422 (Unprocessable Entity)"
    ]


def test_an_unknown_address_is_a_page_for_a_browser_and_json_for_the_api(
    page: Browser, site: Site
) -> None:
    page.driver.get(site.url + "/02/nothing-here")
    problem = wait_for(page, "#problem")
    assert problem.find_element("css selector", "h1").text == "There is no page at this address"
    assert problem.get_attribute("data-status") == "404"
    assert failed_loads(page) == ["/02/nothing-here 404 (Not Found)"]

    page.driver.get(site.url + "/v1/batches/hello")  # the JSON API stays JSON, even here
    assert page.css("#problem") == []
    assert page.js("return JSON.parse(document.body.innerText).code") == "invalid-identifier"
    assert failed_loads(page) == ["/v1/batches/hello 422 (Unprocessable Entity)"]


def listed(page: Browser) -> dict[str, WebElement]:
    return {
        item.get_attribute("data-batch") or "": item
        for item in page.one("#matches").find_elements("css selector", "li.match")
    }


def test_a_product_level_digital_link_lists_the_products_lots(page: Browser, site: Site) -> None:
    page.driver.get(f"{site.url}/01/{MILK_GTIN}")  # a label's link without its lot
    matches = wait_for(page, "#matches")

    milk = [
        site.demo.lots["milk-1"],
        site.demo.lots["milk-2"],
        site.spare.lots["milk-1"],
        site.spare.lots["milk-2"],
        SUSPECT_BATCH,
        LATE_BATCH,
        SENSOR_BATCH,
        CORRECTED_PAGE,
        NAMED_PAGE,
    ]
    assert page.driver.current_url == f"{site.url}/?q=" + quote(
        f"{GS1_RESOLVER}/01/{MILK_GTIN}", safe=""
    )
    assert matches.find_element("css selector", "h1").text == f"Lots and items of GTIN {MILK_GTIN}"
    assert matches.find_element("css selector", ".match-count").text == "9 batches on this node:"
    items = listed(page)
    assert set(items) == {batch_id(m) for m in milk}
    recalled = items[batch_id(site.demo.lots["milk-2"])]
    assert recalled.find_element("css selector", ".chip").text == "Recalled"
    assert "Produced by Green Valley Farm." in recalled.text
    names = [a.text for a in matches.find_elements("css selector", "li.match > a")]
    assert names == sorted(names)  # in order of their identifiers
    page.screenshot("product-lots", docs=True)

    recalled.find_element("css selector", "a").click()
    wait_title(page, f"Lot {lot(site.demo.lots['milk-2'])}")
    assert page.driver.current_url == site.url + page_of(site.demo.lots["milk-2"])

    page.driver.get(f"{site.url}/01/{CHEESE_GTIN}")
    wait_for(page, "#matches")
    assert set(listed(page)) == {
        batch_id(site.demo.lots["cheese"]),
        batch_id(site.spare.lots["cheese"]),
    }


def test_the_lookup_box_reads_the_text_under_a_barcode_and_a_pasted_url(
    page: Browser, site: Site
) -> None:
    cheese = site.demo.lots["cheese"]
    page.open("/")

    look_up(page, f"(01) {CHEESE_GTIN} (10) {lot(cheese)}")  # as printed, with its spaces
    wait_title(page, f"Lot {lot(cheese)}")
    assert page.driver.current_url == site.url + page_of(cheese)

    milk = site.demo.lots["milk-1"]
    look_up(page, f"(01){MILK_GTIN}(10){lot(milk)}")
    wait_title(page, f"Lot {lot(milk)}")

    late = LATE_BATCH.replace("/10/", "/ 10/")  # a URL wrapped where it was copied from
    look_up(page, f"   {late}   ")
    wait_title(page, f"Lot {lot(LATE_BATCH)}")
    assert page.driver.current_url == site.url + page_of(LATE_BATCH)
    page.driver.back()  # back to the cheese: the box's lookups are in the history
    wait_title(page, f"Lot {lot(milk)}")


def test_the_lookup_box_finds_batches_by_a_bare_lot_code(page: Browser, site: Site) -> None:
    cheese = site.demo.lots["cheese"]
    page.open("/")

    look_up(page, lot(cheese))
    matches = wait_for(page, "#matches")

    assert page.driver.current_url == f"{site.url}/?q={lot(cheese)}"
    assert matches.get_attribute("data-kind") == "lot"
    assert matches.find_element("css selector", "h1").text == f"Batches with lot {lot(cheese)}"
    assert matches.find_element("css selector", ".match-count").text == "1 batch on this node:"
    (item,) = listed(page).values()
    assert item.get_attribute("data-batch") == batch_id(cheese)
    assert f"GTIN {CHEESE_GTIN}" in item.text
    page.screenshot("lot-search", docs=True)
    item.find_element("css selector", "a").click()
    wait_title(page, f"Lot {lot(cheese)}")

    look_up(page, "NO-SUCH-LOT")
    WebDriverWait(page.driver, 30).until(
        lambda d: (
            [e.text for e in d.find_elements("css selector", "#matches h1")]
            == ["Batches with lot NO-SUCH-LOT"]
        )
    )
    matches = page.one("#matches")
    assert matches.find_element("css selector", ".match-count").text == (
        "This node holds no batch with this lot code."
    )
    assert page.css("li.match") == []

    look_up(page, "LOT 7")  # a lot code never holds a space
    WebDriverWait(page.driver, 30).until(
        lambda d: "error" in (page.one("#status").get_attribute("class") or "")
    )
    assert page.one("#status").text.startswith(
        "'LOT 7' is neither an identifier nor a lot code (1 to 20 of GS1's characters, no spaces)"
    )
    assert failed_loads(page) == ["/v1/search?q=LOT%207 422 (Unprocessable Entity)"]
