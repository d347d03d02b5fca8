"""The buyer page against a real node: the demo supply chain (twice: one to look at, one
to tamper with), a batch whose events were signed by a participant suspended or rotated
before they were anchored, and a batch of hostile text with an event not anchored yet —
served by a real ``tracenode serve`` process and opened in Debian's headless Chromium
(Selenium + chromedriver).

Without chromium and chromedriver (scripts/services.sh installs them) the browser tests
are skipped on a developer's machine and fail in CI, as the PostgreSQL tests do.
Screenshots go to a directory under pytest's temporary path and are copied to
``test-artifacts/web/`` (CI keeps it); with TRACENODE_DOCS_IMG set (scripts/
web_screenshots.sh) the ones docs/web.md shows are written there too.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from node.demo import DemoReport, run_demo
from node.epcis.capture import capture, sign_document
from node.epcis.masterdata import build_element, cbv_attribute
from node.epcis.names import sign_on_node
from node.events.typed_data import Action, Role
from node.keys.keystore import load_keystore
from node.monitor.service import Monitor
from node.testing.harness import TraceNodeHarness
from tests.api.server import ROOT, Server
from tests.environment import unavailable
from tests.licences import refused_commission
from tests.node.epcis.conftest import (
    commissioning,
    document,
    event,
    named,
    shipping,
    with_master_data,
)

EXPLORER = "https://explorer.example/tx/{tx}"
#: Chromium flags that work on this project's machines (docs/web.md).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--lang=en-US",
)
DESKTOP = (1280, 900)
PHONE = (390, 844)

#: Text that would run, load or mislead if it were ever inserted as HTML or as a URL.
PWN = "window.__pwned=1"
HOSTILE_NAME = f'<img src=x onerror="{PWN}">'
HOSTILE_BATCH = f"88.666.1/<svg/onload={PWN}>\"'&amp;"
HOSTILE_PAYLOAD: dict[str, Any] = {
    "reason": f"<script>{PWN}</script>",
    "certificationInfo": {
        "certificationStandard": f"<img src=x onerror={PWN}>",
        "certificationAgency": "</dd></dl><h1>FAKE VERIFIED</h1>",
        "certificationIdentification": "javascript:alert(1)",
    },
    "bizLocation": {"id": f"javascript:{PWN}"},
    "sensorElementList": [
        {
            "sensorReport": [
                {"type": "<b>Temp</b>", "value": 7, "uom": f"</text><script>{PWN}</script>"}
            ]
        }
    ],
}
SUSPECT_BATCH = "https://id.gs1.org/01/09506000134352/10/SUSPECT-1"
#: A demo-like lot whose events claim times far from the blocks that anchored them, with
#: readings that state their own safe range (one reading outside it).
LATE_BATCH = "https://id.gs1.org/01/09506000134352/10/LATE-1"
HOUR_MS = 3_600_000
#: A milk lot made into cheese and then recalled; the cheese shipped after the recall: the
#: monitor's recall-breach, critical, shown on the cheese's page in plain words.
BREACH_MILK = "https://id.gs1.org/01/09506000134383/10/BREACH-MILK"
BREACH_CHEESE = "https://id.gs1.org/01/09506000134376/10/BREACH-CHEESE"
#: A lot of the demo farm's GTIN that the hostile participant tried to make (tests/licences.py).
SQUAT_BATCH = "https://id.gs1.org/01/09506000134352/10/SQUAT-1"
#: A lot observed with EPCIS 2.0 sensor data in full: metadata times, statistics only,
#: text, boolean and URI values, an exception, and a certificate as its EPCIS URI.
SENSOR_BATCH = "https://id.gs1.org/01/09506000134352/10/SENSOR-1"
SENSOR_CERTIFICATE = "https://cert.example.org/organic/2024-117"
SENSOR_READINGS: dict[str, Any] = {
    "certificationInfo": SENSOR_CERTIFICATE,
    "sensorElementList": [
        {
            "sensorMetadata": {
                "time": "2024-05-06T10:15:00Z",
                "deviceID": "urn:epc:id:giai:4000001.111",
            },
            "sensorReport": [
                {
                    "type": "gs1:Temperature",
                    "minValue": 2.5,
                    "meanValue": 3.75,
                    "maxValue": 5.5,
                    "uom": "CEL",
                },
                {"type": "gs1:Humidity", "value": 61, "uom": "P1", "time": "2024-05-06T10:20:00Z"},
                {"type": "gs1:Certification", "stringValue": "seal intact"},
                {"type": "gs1:Light", "booleanValue": False},
                {"type": "gs1:DataSheet", "uriValue": "https://sensor.example.org/sheet/7"},
                {"type": "gs1:Temperature", "exception": "gs1:ALARM_CONDITION", "uom": "CEL"},
            ],
        }
    ],
}
#: A lot captured from EPCIS whose inspection was declared in error and corrected.
CORRECTED_LOT = "urn:epc:class:lgtin:9506000.013435.CORR-1"
CORRECTED_PAGE = "https://id.gs1.org/01/09506000134352/10/CORR-1"
WRONG_ID = "urn:uuid:3f0c9e1a-0000-4000-8000-00000000c0de"
FIX_ID = "urn:uuid:3f0c9e1a-0000-4000-8000-00000000f1ed"
#: A lot under company prefix 4012345, which nobody in the network holds: received from
#: outside by the carrier, then shipped out of the network again.
OUTSIDE_LOT = "https://id.gs1.org/01/04012345000016/10/IMPORT-7"
OUTSIDE_SOURCE = "urn:epc:id:pgln:4012345.00000"
OUTSIDE_DESTINATION = "urn:epc:id:sgln:4000001.00000.0"
#: A lot under an open identifier (no prefix kind), allowed by the root for this node
#: while the farm commissioned it (docs/events.md, "Open identifiers").
OPEN_LOT = "urn:acme:lot:7"
#: A lot of the demo farm's prefix never commissioned here, first named by the farm's EPCIS
#: shipping of it to the dairy: adopted, first seen mid-chain (docs/epcis.md).
MIDCHAIN_LOT = "urn:epc:class:lgtin:9506000.077777.MID-1"  # its own GTIN
#: A lot made at a plant named in master data: by its brand owner (the demo dairy, holder
#: of 0614142) and, contradicting it, by the farm (docs/epcis.md, "Master data").
NAMED_LOT = "urn:epc:class:lgtin:9506000.013435.NAMED-1"
NAMED_PAGE = "https://id.gs1.org/01/09506000134352/10/NAMED-1"
PLANT = "urn:epc:id:sgln:0614142.00042.0"
PLANT_NAME = "Alpine Dairy, Plant 2"


@dataclass
class Site:
    """The served node and what the tests look at."""

    url: str
    data_dir: Path
    password: str
    demo: DemoReport  # untouched
    spare: DemoReport  # for the tampering test
    suspect: str  # events by a suspended and a rotated signer
    late: dict[str, bytes]  # the late batch's events: "made", "late", "early", "cold", "warm"
    hostile: str  # hostile text everywhere, one event not anchored
    pending_event: bytes
    breach: str  # a cheese shipped after the milk it is made from was recalled
    squat: dict[str, Any]  # the bundle of a lot the chain refused: its creator held no licence
    outside: str  # a lot received from outside the network and shipped out of it again
    sensor: str  # a lot with one observation of sensor data in full
    corrected: str  # a lot with an inspection declared in error and its correction
    open_lot: str  # a lot under an open identifier: no prefix, no brand owner
    named: str  # a lot made at a plant with master data
    midchain: str  # a lot first seen mid-chain: adopted by its brand owner's shipping


def _browser_tools() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        unavailable("no chromium / chromedriver here (scripts/services.sh installs them)")
    return chromium, driver


def zbarimg() -> str:
    """The QR decoder (Debian's zbar-tools); skipped without it, a failure in CI."""
    found = shutil.which("zbarimg")
    if found is None:
        unavailable("no zbarimg here (scripts/services.sh installs zbar-tools)")
    return found


def decode_qr(png: bytes, tmp_path: Path) -> list[str]:
    """Every QR code zbarimg finds in ``png``, as text."""
    image = tmp_path / f"qr-{time.monotonic_ns()}.png"
    image.write_bytes(png)
    result = subprocess.run(
        [zbarimg(), "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode in (0, 4), result.stderr  # 4: nothing found
    return [line for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("web") / "data"
    # The demo registers its own participants (and their identifier prefixes).
    participants = {
        "carrier": (Role.LOGISTICS, ""),
        "inspector": (Role.AUDITOR, ""),
    }
    with TraceNodeHarness.create(data_dir, participants=participants) as harness:
        demo = run_demo(harness.node, harness.password)
        spare = run_demo(harness.node, harness.password)
        # The demo's farm holds the milk GTIN's company prefix: only it may make more lots.
        harness.keys["farm"] = load_keystore(
            data_dir / "keystore" / "participants" / "demo-farm.json", harness.password
        )
        late = _late_batch(harness)  # before the inspector is suspended, the carrier rotated

        harness.submit("farm", Action.COMMISSION, SUSPECT_BATCH, product="milk", quantity=5)
        harness.submit("inspector", Action.OBSERVE, SUSPECT_BATCH, payload={"note": "checked"})
        harness.submit("carrier", Action.OBSERVE, SUSPECT_BATCH, payload={"note": "cold"})
        harness.suspend("inspector")
        harness.rotate("carrier")
        harness.commit()

        harness.submit("farm", Action.COMMISSION, SENSOR_BATCH, product="milk", quantity=5)
        harness.submit("carrier", Action.OBSERVE, SENSOR_BATCH, payload=SENSOR_READINGS)
        _corrected_lot(harness)
        _named_lot(harness)
        _midchain_lot(harness)
        # A lot from outside the network, and out of it again (docs/contracts.md).
        came_from = {"sourceList": [{"type": "owning_party", "source": OUTSIDE_SOURCE}]}  # EPCIS
        harness.submit("carrier", Action.RECEIVE, OUTSIDE_LOT, payload=came_from)
        harness.submit(
            "carrier", Action.SHIP, OUTSIDE_LOT, payload={"destination": OUTSIDE_DESTINATION}
        )
        # An open identifier, while the root allows them for this node (then no longer).
        admin = harness.node.admin(harness.password)
        harness.node.registry.set_open_identifiers(admin, registrar=admin.address, allowed=True)
        harness.submit("farm", Action.COMMISSION, OPEN_LOT, product="milk", quantity=5)
        harness.commit()
        harness.node.registry.set_open_identifiers(admin, registrar=admin.address, allowed=False)
        _recall_breach(harness)  # commits: before the hostile batch's pending event

        harness.add_participant(HOSTILE_NAME, Role.PRODUCER, "88.666.1")
        harness.submit(
            HOSTILE_NAME,
            Action.COMMISSION,
            HOSTILE_BATCH,
            product="x",
            quantity=1,
            payload=HOSTILE_PAYLOAD,
        )
        harness.commit()
        # The hostile participant tries a lot under the demo farm's prefix: refused.
        squat = refused_commission(harness, HOSTILE_NAME, SQUAT_BATCH, "9506000").as_json()
        pending = harness.submit(
            HOSTILE_NAME, Action.OBSERVE, HOSTILE_BATCH, payload=HOSTILE_PAYLOAD
        )
        password = harness.password
    # No commit worker: the hostile batch's last event stays "not yet anchored".
    # The differential test verifies two dozen bundles through /rpc in a row, each asking
    # every root's state too: more than a buyer's burst of calls.
    server = Server(
        data_dir,
        password,
        "--no-commit",
        env={"TRACENODE_WEB_EXPLORER_TX_URL": EXPLORER, "TRACENODE_API_RPC_RATE_BURST": "5000"},
    )
    try:
        server.wait_ready()
        yield Site(
            url=server.url,
            data_dir=data_dir,
            password=password,
            demo=demo,
            spare=spare,
            suspect=SUSPECT_BATCH,
            late=late,
            hostile=HOSTILE_BATCH,
            pending_event=pending,
            breach=BREACH_CHEESE,
            squat=squat,
            outside=OUTSIDE_LOT,
            sensor=SENSOR_BATCH,
            corrected=CORRECTED_PAGE,
            open_lot=OPEN_LOT,
            named=NAMED_PAGE,
            midchain=MIDCHAIN_LOT,
        )
    finally:
        code = server.stop()
        assert code == 0, server.output()


def _midchain_lot(harness: TraceNodeHarness) -> None:
    """MIDCHAIN_LOT, first named by the farm's shipping of it to the dairy (holder of
    0614142): the farm, its brand owner, adopts it with that event."""
    node = harness.node
    farm = bytes(harness.keys["farm"].key)
    doc = document(shipping(MIDCHAIN_LOT))
    request = sign_document(store=node.store, domain=node.domain, private_key=farm, document=doc)
    (result,) = capture(ingest=node.ingest, request=request)
    assert result.outcome == "captured", result


def _named_lot(harness: TraceNodeHarness) -> None:
    """NAMED_LOT, made at PLANT: the farm's capture names the plant in its header, and the
    plant's brand owner (the demo dairy) asserts its own name for it."""
    made = commissioning(NAMED_LOT)
    made["readPoint"] = {"id": PLANT}
    doc = with_master_data(document(made), named(PLANT, name="Farm Depot"))
    node = harness.node
    farm = bytes(harness.keys["farm"].key)
    request = sign_document(store=node.store, domain=node.domain, private_key=farm, document=doc)
    capture(ingest=node.ingest, request=request)
    dairy = load_keystore(
        node.data_dir / "keystore" / "participants" / "demo-dairy.json", harness.password
    )
    element = build_element(
        PLANT,
        attributes=[
            (cbv_attribute("name"), PLANT_NAME),
            (cbv_attribute("streetAddressOne"), "Bergstrasse 4"),
            (cbv_attribute("city"), "Thun"),
            (cbv_attribute("countryCode"), "CH"),
        ],
    )
    node.ingest.submit(sign_on_node(node.store, node.domain, bytes(dairy.key), element))


def _corrected_lot(harness: TraceNodeHarness) -> None:
    """CORRECTED_LOT from EPCIS: made, inspected, the inspection declared in error
    (incorrect_data) and corrected by another (docs/epcis.md, "Corrections")."""
    inspected = event(
        action="OBSERVE",
        bizStep="inspecting",
        quantityList=[{"epcClass": CORRECTED_LOT}],
        eventID=WRONG_ID,
    )
    declared = inspected | {
        "errorDeclaration": {
            "declarationTime": "2024-05-07T08:00:00Z",
            "reason": "incorrect_data",
            "correctiveEventIDs": [FIX_ID],
        }
    }
    fixed = inspected | {"eventID": FIX_ID, "eventTime": "2024-05-07T07:59:00Z"}
    node = harness.node
    for doc in (document(commissioning(CORRECTED_LOT), inspected), document(declared, fixed)):
        request = sign_document(
            store=node.store,
            domain=node.domain,
            private_key=bytes(harness.keys["farm"].key),
            document=doc,
        )
        capture(ingest=node.ingest, request=request)


def _recall_breach(harness: TraceNodeHarness) -> None:
    """BREACH_CHEESE, made from BREACH_MILK, shipped after the milk's recall; one monitor
    cycle raises the recall breach (and the alerts of the other batches here)."""
    harness.submit("farm", Action.COMMISSION, BREACH_MILK, product="milk", quantity=400)
    harness.submit(
        "farm",
        Action.TRANSFORM,
        inputs=[BREACH_MILK],
        outputs=[BREACH_CHEESE],
        product="cheese",
        quantity=40,
    )
    harness.submit("farm", Action.RECALL, BREACH_MILK, payload={"reason": "listeria"})
    harness.submit("farm", Action.SHIP, BREACH_CHEESE, to="carrier")
    harness.commit()
    Monitor.of(harness.node).cycle()


def _late_batch(harness: TraceNodeHarness) -> dict[str, bytes]:
    """LATE_BATCH: made now; an inspection claiming a time three days before it was
        anchored; a reading claiming a time 45 minutes after it (ingest refuses more than an
    hour ahead of the node's clock); two readings that state a
        safe range of 2-6 degrees C (one of them, 7.5, outside it). All anchored."""
    now = int(time.time() * 1000)

    def reading(value: float) -> dict[str, Any]:
        report = {"type": "gs1:Temperature", "value": value, "uom": "CEL"}
        return {"sensorElementList": [{"sensorReport": [report | {"tn:safeRange": SAFE}]}]}

    events = {
        "made": harness.submit(
            "farm", Action.COMMISSION, LATE_BATCH, product="milk", quantity=50, event_time=now
        ),
        "late": harness.submit(
            "inspector",
            Action.OBSERVE,
            LATE_BATCH,
            payload={"certificationInfo": {"certificationStandard": "hygiene audit"}},
            event_time=now - 72 * HOUR_MS,
        ),
        "early": harness.submit(
            "carrier",
            Action.OBSERVE,
            LATE_BATCH,
            payload=reading(4.0),
            event_time=now + 45 * 60_000,
        ),
        "cold": harness.submit(
            "carrier", Action.OBSERVE, LATE_BATCH, payload=reading(3.5), event_time=now - 60_000
        ),
        "warm": harness.submit(
            "carrier", Action.OBSERVE, LATE_BATCH, payload=reading(7.5), event_time=now
        ),
    }
    harness.commit()
    return events


SAFE: dict[str, Any] = {"min": 2, "max": 6}


class Browser:
    """One headless Chromium for the session, with the helpers the tests share."""

    def __init__(self, driver: WebDriver, base: str, shots: Path) -> None:
        self.driver = driver
        self.base = base
        self.shots = shots

    def open(self, path: str) -> None:
        """Open ``path`` on the node and wait until the page has rendered a batch or said
        why it cannot."""
        self.driver.get(self.base + path)
        self.wait_rendered()

    def wait_rendered(self) -> None:
        WebDriverWait(self.driver, 30).until(
            lambda d: d.execute_script(
                "const r = document.getElementById('result');"
                "const s = document.getElementById('status');"
                "const i = document.getElementById('intro');"
                "return (r && !r.hidden) || (s && s.classList.contains('error'))"
                " || (i && !i.hidden);"
            )
        )

    def css(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements("css selector", selector)

    def one(self, selector: str) -> WebElement:
        found = self.css(selector)
        assert len(found) == 1, f"{selector}: {len(found)} elements"
        return found[0]

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def console_errors(self) -> list[dict[str, Any]]:
        """Console errors since the last call (CSP and Trusted Types violations are)."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [e for e in entries if e["level"] == "SEVERE"]

    def phone(self, on: bool, *, width: int = PHONE[0]) -> None:
        if on:
            height = PHONE[1]
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
            )
        else:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def screenshot(self, name: str, *, full: bool = False, docs: bool = False) -> Path:
        """Save the viewport (or the whole page) as ``name``.png."""
        if full:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {
                        "x": 0,
                        "y": 0,
                        "width": size["width"],
                        "height": min(size["height"], 12000),
                        "scale": 1,
                    },
                },
            )
            png = base64.b64decode(shot["data"])
        else:
            png = self.driver.get_screenshot_as_png()
        return self.save(name, png, docs=docs)

    def element_screenshot(self, name: str, element: WebElement, *, docs: bool = False) -> Path:
        self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        return self.save(name, element.screenshot_as_png, docs=docs)

    def save(self, name: str, png: bytes, *, docs: bool = False) -> Path:
        path = self.shots / f"{name}.png"
        path.write_bytes(png)
        artifacts = ROOT / "test-artifacts" / "web"
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, artifacts / path.name)
        docs_dir = os.environ.get("TRACENODE_DOCS_IMG")
        if docs and docs_dir:
            target = Path(docs_dir)
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / f"web-{path.name}")
        return path


@pytest.fixture(scope="session")
def browser(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with open_browser(site.url, tmp_path_factory) as opened:
        yield opened


@contextmanager
def open_browser(base: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """A headless Chromium opening pages of the node at ``base``, quit on the way out."""
    chromium, chromedriver = _browser_tools()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield Browser(driver, base, tmp_path_factory.mktemp("screenshots"))
    finally:
        driver.quit()


@pytest.fixture
def page(browser: Browser) -> Iterator[Browser]:
    """The browser at desktop size, its console checked for errors after each test."""
    browser.phone(False)
    browser.console_errors()  # drop what earlier tests left
    yield browser
    assert browser.console_errors() == []


def event_hash_of(report: DemoReport, label: str, nth: int = 0) -> str:
    return "0x" + [e.event_hash for e in report.events if e.label == label][nth].hex()
