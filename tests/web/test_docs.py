"""``/docs`` works offline and under its Content-Security-Policy: Swagger UI comes from
the node itself (npm's swagger-ui-dist, api/routes/docs.py), started by a file of the
node's, not an inline script.

The browser here can reach nothing but loopback: every other host name resolves to
nothing and every other request goes to a proxy that does not exist. It records every
request it makes and every CSP violation, from the first byte of the page on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.web.conftest import CHROMIUM_FLAGS, DESKTOP, Site, _browser_tools

#: Not loopback: nowhere. (Chromium never sends loopback through a proxy.)
OFFLINE_FLAGS = (
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
#: Collects CSP violations before any script of the page runs (CDP-injected scripts are
#: not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective}: ${e.blockedURI} (${where})`);
});
"""


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    chromium, chromedriver = _browser_tools()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, *OFFLINE_FLAGS):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-offline')}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS}
        )
        yield driver
    finally:
        driver.quit()


def _requests(driver: WebDriver) -> list[str]:
    """Every URL the browser asked for since the last call."""
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(str(message["params"]["request"]["url"]))
    return urls


def test_the_offline_browser_reaches_nothing_but_the_node(offline: WebDriver, site: Site) -> None:
    """The premise of the next test: a page that loaded Swagger UI from a CDN would fail."""
    with pytest.raises(WebDriverException, match=r"net::ERR_"):
        offline.get("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js")
    offline.get(site.url + "/static/docs.js")
    assert "SwaggerUIBundle" in offline.page_source


def test_docs_render_every_operation_offline_with_no_csp_violation(
    offline: WebDriver, site: Site
) -> None:
    document = httpx.get(site.url + "/openapi.json").json()
    operations = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert ("post", "/v1/verify") in operations
    offline.get_log("browser")  # type: ignore[no-untyped-call]
    _requests(offline)

    offline.get(site.url + "/docs")
    WebDriverWait(offline, 30).until(
        lambda d: len(d.find_elements("css selector", ".opblock")) >= len(operations)
    )

    shown = {
        (
            block.get_attribute("class").split("opblock-")[1].split()[0],  # type: ignore[union-attr]
            block.find_element("css selector", ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in offline.find_elements("css selector", ".opblock")
    }
    assert shown == operations
    assert offline.find_element("css selector", ".info .title").text.startswith("TraceNode")

    assert offline.execute_script("return window.__violations") == []
    errors = [
        e
        for e in offline.get_log("browser")  # type: ignore[no-untyped-call]
        if e["level"] == "SEVERE"
    ]
    assert errors == []
    outside = [
        url
        for url in _requests(offline)
        if not url.startswith((site.url + "/", "data:"))  # icons: data URLs in the CSS
    ]
    assert outside == [], "the page asked for something not on the node"


def test_docs_are_served_under_a_policy_without_inline_scripts(site: Site) -> None:
    page = httpx.get(site.url + "/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(
        [*directive.split(" ", 1), ""][:2]
        for directive in page.headers["content-security-policy"].split("; ")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # every script has a src
    for asset in ("/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/static/docs.js"):
        answer = httpx.get(site.url + asset)
        assert answer.status_code == 200, asset
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(site.url + "/docs/oauth2-redirect").status_code == 422  # not a file of ours
    assert httpx.get(site.url + "/redoc").status_code == 404
