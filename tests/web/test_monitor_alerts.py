"""The buyer's page shows a lot's open critical and high alerts in plain words (each rule's
own sentence), in a real headless Chromium under the page's strict CSP, and the overview
gives the page nothing else of them: no evidence, participant, key or other batch."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from selenium.webdriver.support.wait import WebDriverWait

from tests.web.conftest import Browser, Site


def page_of(identifier: str) -> str:
    return "/?id=" + quote(identifier, safe="")


def test_a_recall_breach_is_on_the_lots_page_in_plain_words(page: Browser, site: Site) -> None:
    page.console_errors()  # only this page's errors count

    page.open(page_of(site.breach))
    WebDriverWait(page.driver, 30).until(lambda d: d.find_elements("css selector", "#alerts"))

    section = page.one("#alerts")
    (item,) = section.find_elements("css selector", "li.monitor-alert")
    assert item.get_attribute("data-rule") == "recall-breach"
    assert item.get_attribute("data-severity") == "critical"
    assert item.find_element("css selector", ".chip").text == "Critical"
    assert item.find_element("css selector", ".alert-says").text == (
        "This lot is made from a recalled lot, and was shipped after that recall."
    )
    assert "not yet looked into" in item.text
    assert not re.search(r"0x[0-9a-fA-F]{8}", section.text)  # no address, hash or batch id
    # It comes right after the safety verdict, before anything that says "verified".
    order = page.js(
        "return [...document.getElementById('result').children].map((n) => n.id || n.className);"
    )
    assert order.index("alerts") == order.index("safety") + 1
    assert page.console_errors() == []  # no CSP or Trusted Types violation
    page.screenshot("monitor-alert")


def test_the_overview_gives_the_page_only_the_plain_words(site: Site) -> None:
    answer = httpx.get(f"{site.url}/v1/batches/{quote(site.breach, safe='')}/overview", timeout=30)
    quiet = httpx.get(
        f"{site.url}/v1/batches/{quote(site.demo.lots['cheese'], safe='')}/overview", timeout=30
    )

    assert answer.status_code == 200, answer.text
    (alert,) = answer.json()["alerts"]
    assert set(alert) == {"rule", "severity", "status", "since", "says"}
    assert (alert["rule"], alert["severity"], alert["status"]) == (
        "recall-breach",
        "critical",
        "open",
    )
    assert quiet.json()["alerts"] == []  # its low ones (times) are not for the page


def test_a_lot_without_alerts_shows_no_warning(page: Browser, site: Site) -> None:
    page.open(page_of(site.demo.lots["cheese"]))

    assert page.css("#alerts") == []
