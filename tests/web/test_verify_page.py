"""``/verify``: a proof bundle checked in the buyer's own browser (api/static/verify.js,
verify-core.js), in a real headless Chromium against a real ``tracenode serve``.

The page fetches a batch's bundle from the node or takes a file, and checks it against the
node's ``/rpc`` or another JSON-RPC endpoint: every check it shows must be the one
``tracenode verify`` reports for the same bundle (outcome and detail), a tampered bundle
fails the right check, an endpoint that does not answer stops within the timeout with a
clear message, and nothing on the page breaks its Content-Security-Policy.

The other endpoint is a real HTTP server on another port — another origin, so the
browser's CORS and the page's ``connect-src`` both apply — relaying single JSON-RPC calls
to the node's chain and refusing batches, as some providers do.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from selenium.webdriver.support.wait import WebDriverWait
from web3 import Web3

from node.chain.reader import ChainReader, Contracts
from node.proofs.bundle import loads
from node.proofs.verify import report_json, verify_bundle
from tests.web.conftest import Browser, Site
from tests.web.test_docs import RECORD_VIOLATIONS
from tests.web.test_labels import STATIC
from tests.web.test_verify_core import _checks, _flip

#: Every check the page shows, keyed as tests.web.test_verify_core._checks keys a report.
READ_CHECKS = """
return [...document.querySelectorAll("#report li.check")].map((li) => {
  const holder = li.closest("li.event, li.batch");
  let scope = "bundle";
  if (holder && holder.classList.contains("event")) scope = `event #${holder.dataset.index}`;
  else if (holder) scope = `batch ${holder.dataset.batch}`;
  return [`${scope} ${li.dataset.check}`, li.dataset.outcome,
          li.querySelector(".check-detail").textContent];
});
"""


@pytest.fixture(scope="module", autouse=True)
def record_violations(browser: Browser) -> Iterator[None]:
    """Every page this module opens records its CSP violations from the first byte on."""
    added = browser.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS}
    )
    yield
    browser.driver.execute_cdp_cmd(
        "Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]}
    )


@pytest.fixture
def verifier(page: Browser) -> Iterator[Browser]:
    """The browser, checked after each test for CSP violations (and, by ``page``, for
    console errors)."""
    yield page
    assert page.js("return window.__violations") == []


def wait_done(page: Browser, timeout: float = 60) -> str:
    """Wait until the page gave its verdict (or refused the bundle); the verdict."""
    WebDriverWait(page.driver, timeout).until(
        lambda d: d.execute_script(
            "const r = document.getElementById('report');"
            "const v = document.getElementById('verdict');"
            "const s = document.getElementById('status');"
            "return (!r.hidden && v.dataset.outcome !== 'checking')"
            " || (r.hidden && s.classList.contains('error'));"
        )
    )
    outcome: str = page.js(
        "const r = document.getElementById('report');"
        "return r.hidden ? 'refused' : document.getElementById('verdict').dataset.outcome;"
    )
    return outcome


def open_verifier(page: Browser, **query: str) -> str:
    page.driver.get(f"{page.base}/verify?{urlencode(query, quote_via=quote)}")
    return wait_done(page)


def shown(page: Browser) -> dict[str, tuple[str, str]]:
    return {key: (outcome, detail) for key, outcome, detail in page.js(READ_CHECKS)}


def bundle_of(site: Site, identifier: str) -> dict[str, Any]:
    answer = httpx.get(f"{site.url}/v1/batches/{quote(identifier, safe='')}/bundle", timeout=60)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def reference(site: Site, document: dict[str, Any]) -> dict[str, Any]:
    """``tracenode verify --rpc {node}/rpc``'s report on ``document``."""
    bundle = loads(json.dumps(document))
    contracts = Contracts(
        Web3.to_checksum_address(bundle.chain.participant_registry),
        Web3.to_checksum_address(bundle.chain.batch_registry),
        Web3.to_checksum_address(bundle.chain.anchor_registry),
    )
    w3 = Web3(Web3.HTTPProvider(f"{site.url}/rpc", request_kwargs={"timeout": 60}))
    return report_json(verify_bundle(bundle, ChainReader(w3, contracts)))


def test_a_demo_batch_is_verified_in_the_browser_check_by_check(
    verifier: Browser, site: Site
) -> None:
    cheese = site.demo.lots["cheese"]
    expected = reference(site, bundle_of(site, cheese))

    assert open_verifier(verifier, id=cheese) == "pass"

    checks = shown(verifier)
    assert checks == _checks(expected)
    assert {outcome for outcome, _ in checks.values()} <= {"pass", "skipped"}
    assert sum(outcome == "pass" for outcome, _ in checks.values()) > 100
    events = verifier.css("#events li.event")
    assert [e.get_attribute("data-event") for e in events] == [
        e["eventHash"] for e in expected["events"]
    ]
    assert {e.get_attribute("data-outcome") for e in events} == {"pass"}
    verdict = verifier.one("#verdict")
    assert verdict.find_element("css selector", ".badge").text == "✓ Verified in your browser"
    assert f"against chain {expected['chainId']}, block" in verdict.text
    assert verifier.one("#rpc-url").get_attribute("value") == f"{site.url}/rpc"
    WebDriverWait(verifier.driver, 10).until(
        lambda _: verifier.one("#published").get_attribute("data-same") == "true"
    )
    signer = events[0].find_element("css selector", ".event-signer").text
    assert signer.startswith("Signed by Green Valley Farm (0x")
    verifier.screenshot("verify-browser", docs=True)


def choose_file(page: Browser, document: dict[str, Any], tmp_path: Path, **query: str) -> str:
    """Choose ``document`` as a file on the verifier page (opened with ``query``); the
    verdict."""
    path = tmp_path / "CHEESE.bundle.json"
    path.write_text(json.dumps(document))
    page.driver.get(f"{page.base}/verify" + (f"?{urlencode(query)}" if query else ""))
    WebDriverWait(page.driver, 30).until(
        lambda d: d.execute_script("return document.getElementById('status').textContent === ''")
    )
    page.one("#bundle-file").send_keys(str(path))
    return wait_done(page)


def check_file(
    verifier: Browser, site: Site, document: dict[str, Any], tmp_path: Path
) -> dict[str, tuple[str, str]]:
    """Choose ``document`` as a file on the verifier page: it fails, showing every check as
    ``tracenode verify`` reports it; the checks shown."""
    expected = reference(site, document)
    assert choose_file(verifier, document, tmp_path) == "fail"
    checks = shown(verifier)
    assert checks == _checks(expected)
    return checks


#: A change to one event, the check that must catch it, and the words it says.
TAMPERING = {
    "a signature byte (in s)": ("signer", "is not a registered key"),
    "a signature byte (in v)": ("signature", "signature v must be 27 or 28"),
    "a Merkle proof hash": ("merkle-proof", "the proof does not lead from the event to root"),
    "a nonce": ("event-hash", "a field was altered"),
}


def _tamper(document: dict[str, Any], change: str) -> int:
    """Change ``document`` in place; the index of the event changed."""
    events = document["events"]
    index = next(i for i, e in enumerate(events) if "anchor" in e and e["anchor"]["proof"])
    item = events[index]
    if change == "a signature byte (in s)":
        item["signature"] = _flip(item["signature"], 40)
    elif change == "a signature byte (in v)":
        item["signature"] = item["signature"][:-2] + "1d"
    elif change == "a Merkle proof hash":
        item["anchor"]["proof"][0] = _flip(item["anchor"]["proof"][0], 7)
    else:
        item["event"]["nonce"] = str(int(item["event"]["nonce"]) + 1)
    return index


@pytest.mark.parametrize("change", list(TAMPERING))
def test_a_tampered_bundle_file_fails_the_check_that_catches_it(
    verifier: Browser, site: Site, tmp_path: Path, change: str
) -> None:
    document = copy.deepcopy(bundle_of(site, site.demo.lots["cheese"]))
    index = _tamper(document, change)
    check, words = TAMPERING[change]

    checks = check_file(verifier, site, document, tmp_path)

    failed = {key for key, (outcome, _) in checks.items() if outcome == "fail"}
    assert failed == {f"event #{index} {check}"}
    assert words in checks[f"event #{index} {check}"][1]
    event = verifier.one(f'#events li.event[data-index="{index}"]')
    assert event.get_attribute("data-outcome") == "fail"
    assert (
        event.find_element("css selector", f'li.check[data-check="{check}"]').get_attribute(
            "data-outcome"
        )
        == "fail"
    )
    verdict = verifier.one("#verdict")
    assert verdict.find_element("css selector", ".badge").text == "✗ Verification failed"
    assert words in verdict.text
    assert "file CHEESE.bundle.json" in verifier.one("#bundle-facts").text
    if check == "merkle-proof":
        verifier.screenshot("verify-browser-tampered", docs=True)


def test_a_bundle_that_leaves_an_observation_out_is_incomplete_in_the_browser(
    verifier: Browser, site: Site, tmp_path: Path
) -> None:
    """Only the anchored state shows an observation left out (it moves no head): the page
    fails the batch's ``complete`` check, as ``tracenode verify`` does, and says so."""
    document = copy.deepcopy(bundle_of(site, site.demo.lots["cheese"]))
    events = document["events"]
    observed = next(i for i, e in enumerate(events) if e["event"]["action"] == 2)
    batch = events.pop(observed)["event"]["batchId"]

    checks = check_file(verifier, site, document, tmp_path)

    failed = {key for key, (outcome, _) in checks.items() if outcome == "fail"}
    assert failed == {f"batch {batch} complete"}
    assert "incomplete: the state anchored at block" in checks[f"batch {batch} complete"][1]
    item = verifier.one(f'#batches li.batch[data-batch="{batch}"] li.check[data-check="complete"]')
    assert item.get_attribute("data-outcome") == "fail"
    assert "incomplete" in verifier.one("#verdict").text


@pytest.fixture
def silent() -> Iterator[str]:
    """An address that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


def _network_errors(page: Browser, url: str) -> None:
    """The console's errors are the failed requests to ``url`` (Chromium logs those)."""
    origin = url.rstrip("/")
    for entry in page.console_errors():
        assert origin in entry["message"], entry


def test_an_rpc_that_does_not_answer_stops_at_the_timeout_with_a_clear_message(
    verifier: Browser, site: Site, silent: str
) -> None:
    started = time.monotonic()
    outcome = open_verifier(verifier, id=site.demo.lots["cheese"], rpc=silent, timeout="2")
    elapsed = time.monotonic() - started

    assert outcome == "error"
    assert 2 <= elapsed < 20
    message = verifier.one("#verdict").text
    assert "Could not finish the check" in message
    assert f"{silent} did not answer within 2 s" in message
    assert f"{silent} did not answer within 2 s" in verifier.one("#status").text
    checks = shown(verifier)
    # What needs no chain was checked; nothing that needs the chain is claimed.
    assert checks["event #0 signature"][0] == "pass"
    assert {checks[k][0] for k in checks if k.endswith(" signer")} == {"unchecked"}
    assert {checks[k][0] for k in checks if k.endswith(" custody")} == {"unchecked"}
    assert {checks[k][0] for k in checks if k.endswith(" licence")} == {"unchecked"}
    assert "fail" not in {outcome for outcome, _ in checks.values()}
    _network_errors(verifier, silent)


def test_an_rpc_that_refuses_connections_is_named_as_unreachable(
    verifier: Browser, site: Site
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/rpc"
    assert open_verifier(verifier, id=site.demo.lots["cheese"], rpc=closed) == "error"
    assert f"could not reach {closed}" in verifier.one("#verdict").text
    _network_errors(verifier, closed)


class _Relay(BaseHTTPRequestHandler):
    """Another origin's JSON-RPC endpoint: single calls relayed to the node's chain, CORS
    answered as public providers do, batches refused as some providers do."""

    timeout = 30
    target = ""
    seen: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Allow-Headers", "content-type, accept")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if body.lstrip().startswith(b"["):
            self.seen.append("batch")
            status = 400
            answer = json.dumps(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "no batches"}}
            ).encode()
        else:
            self.seen.append(json.loads(body)["method"])
            relayed = httpx.post(
                self.target, content=body, headers={"Content-Type": "application/json"}, timeout=30
            )
            status, answer = relayed.status_code, relayed.content
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def relay(site: Site) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Relay", (_Relay,), {"target": f"{site.url}/rpc", "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_any_json_rpc_endpoint_of_the_chain_will_do_batches_or_not(
    verifier: Browser, site: Site, relay: tuple[str, list[str]]
) -> None:
    url, seen = relay
    milk = site.demo.lots["milk-1"]
    expected = reference(site, bundle_of(site, milk))
    verifier.driver.get(f"{site.url}/verify")
    verifier.one("#bundle-id").send_keys(milk)
    rpc = verifier.one("#rpc-url")
    rpc.clear()
    rpc.send_keys(url)

    verifier.one("#check").click()

    assert wait_done(verifier) == "pass"
    assert shown(verifier) == _checks(expected)
    assert f"Checked against{url}" in verifier.one("#bundle-facts").text.replace("\n", "")
    assert seen[0] == "batch"  # refused: one call per request from then on
    assert "batch" not in seen[1:]
    assert {"eth_chainId", "eth_getCode", "eth_call", "eth_getTransactionReceipt"} <= set(seen)
    assert verifier.driver.current_url == (
        f"{site.url}/verify?{urlencode({'id': milk, 'rpc': url}, quote_via=quote)}"
    )
    _network_errors(verifier, url)  # the refused batch


def test_the_buyer_page_opens_the_verifier_for_its_batch(verifier: Browser, site: Site) -> None:
    cheese = site.demo.lots["cheese"]
    verifier.open("/?id=" + quote(cheese, safe=""))
    link = verifier.one("#verify-in-browser")
    assert link.text == "Check it yourself in your browser"

    verifier.js("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()

    assert wait_done(verifier) == "pass"
    assert verifier.one("#bundle-id").get_attribute("value") == cheese
    assert verifier.driver.current_url.startswith(f"{site.url}/verify?id=")


def test_an_event_not_yet_anchored_is_pending_and_hostile_text_stays_text(
    verifier: Browser, site: Site
) -> None:
    expected = reference(site, bundle_of(site, site.hostile))
    assert expected["outcome"] == "pending"

    assert open_verifier(verifier, id=site.hostile) == "pending"

    assert shown(verifier) == _checks(expected)
    pending = verifier.one(f'#events li.event[data-event="0x{site.pending_event.hex()}"]')
    assert pending.get_attribute("data-outcome") == "pending"
    assert verifier.one("#verdict .badge").text == "… Not yet anchored"
    assert "<svg/onload=" in verifier.one("#bundle-facts .subject").text
    assert verifier.js("return window.__pwned") is None
    assert verifier.css("#report svg, #report img, #report script") == []


def test_a_phone_sees_the_verdict_and_nothing_scrolls_sideways(
    verifier: Browser, site: Site
) -> None:
    verifier.phone(True)

    assert open_verifier(verifier, id=site.demo.lots["cheese"]) == "pass"

    width = verifier.js("return window.innerWidth")
    assert width == 390
    assert verifier.js("return document.documentElement.scrollWidth") <= width
    overflowing = verifier.js(
        "return [...document.querySelectorAll('main *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5"
        " && e.getClientRects().length)"
        ".map(e => e.tagName + '.' + e.className)"
    )
    assert overflowing == []
    top = verifier.js("return document.getElementById('verdict').getBoundingClientRect().top")
    assert 0 <= top < 844  # the verdict is on screen, not below the form
    verifier.screenshot("verify-browser-phone", docs=True)


def test_the_page_is_served_under_its_policy_with_the_node_s_own_files(site: Site) -> None:
    page = httpx.get(f"{site.url}/verify")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(
        [*directive.split(" ", 1), ""][:2]
        for directive in page.headers["content-security-policy"].split("; ")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self' https: http:"
    assert policy["require-trusted-types-for"] == "'script'"
    assert policy["trusted-types"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text
    buyer = httpx.get(f"{site.url}/")
    assert "connect-src 'self';" in buyer.headers["content-security-policy"]
    for path in (
        "/static/verify.js",
        "/static/verify-core.js",
        "/static/base.css",
        "/static/verify.css",
        "/static/vendor/noble-hashes/sha3.js",
        "/static/vendor/noble-curves/secp256k1.js",
        "/static/vendor/noble-curves/abstract/weierstrass.js",
    ):
        answer = httpx.get(site.url + path)
        assert answer.status_code == 200, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        if path.endswith(".js"):
            assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
            assert "@noble/" not in "".join(
                line for line in answer.text.splitlines() if line.startswith(("import", "export"))
            ), path
    for missing in (
        "/static/vendor/noble-hashes/%2e%2e/%2e%2e/app.js",
        "/static/vendor/noble-hashes/LICENSE",
        "/static/vendor/noble-hashes/sha512.js",
        "/static/vendor/other/x.js",
        "/static/package.json",
    ):
        assert httpx.get(site.url + missing).status_code == 404, missing


def test_the_page_has_no_inline_code_and_no_script_parses_strings_as_html() -> None:
    html = (STATIC / "verify.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == [
        '<script type="module" src="/static/verify.js">'
    ]
    assert re.search(r"<script[^>]*>(?!</script>)", html) is None  # no inline body
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert re.search(r"\sstyle\s*=", html) is None
    modules = [STATIC / "verify.js", STATIC / "verify-core.js", *(STATIC / "vendor").rglob("*.js")]
    assert len(modules) > 10  # noble's modules are there (scripts/setup.sh copies them)
    for module in modules:
        code = module.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            'setAttribute("on',
            "javascript:",
        ):
            assert sink not in code, (module, sink)


def test_a_bundle_of_another_batch_than_the_one_asked_for_fails(
    verifier: Browser, site: Site
) -> None:
    # A node (here a proxy in front of one) answering the bundle of milk-1 when asked for
    # milk-2: the page once verified it and said "✓ Verified in your browser".
    asked, other = site.demo.lots["milk-2"], site.demo.lots["milk-1"]

    class Swapping(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.replace(quote(asked, safe=""), quote(other, safe=""))
            self._answer(httpx.get(site.url + path, headers=self._kept(), timeout=30))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(httpx.post(site.url + self.path, content=body, headers=self._kept()))

        def _kept(self) -> dict[str, str]:
            return {
                k: v for k, v in self.headers.items() if k.lower() in ("accept", "content-type")
            }

        def _answer(self, answer: httpx.Response) -> None:
            self.send_response(answer.status_code)
            for name in ("content-type", "content-security-policy"):
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Swapping)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        verifier.driver.get(
            f"http://127.0.0.1:{proxy.server_address[1]}/verify?id={quote(asked, safe='')}"
        )
        outcome = wait_done(verifier)
        title = verifier.one("#verdict .verdict-title").text
        detail = verifier.one("#verdict").text
    finally:
        proxy.shutdown()
        proxy.server_close()

    assert outcome == "fail"
    assert title == "✗ Not the batch you asked for"
    assert other in detail
