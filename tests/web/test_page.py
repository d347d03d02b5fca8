"""The buyer page in a real headless Chromium against a real ``tracenode serve``: what a
buyer sees for a verified batch, a recalled lot, a tampered store, signers suspended or
rotated, hostile text, a phone; the commands it shows check the bundle it offers; the
QR code it shows scans to the batch."""

from __future__ import annotations

import re
import shlex
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from node.events.identifiers import GS1_RESOLVER, parse_identifier
from tests.api.server import ROOT
from tests.web.conftest import (
    EXPLORER,
    HOSTILE_BATCH,
    HOSTILE_NAME,
    LATE_BATCH,
    OUTSIDE_DESTINATION,
    OUTSIDE_SOURCE,
    PLANT,
    PLANT_NAME,
    SENSOR_CERTIFICATE,
    Browser,
    Site,
    decode_qr,
)
from tests.web.conftest import event_hash_of as hash_of


def batch_id(identifier: str) -> str:
    return parse_identifier(identifier).batch_id_hex


def lot(identifier: str) -> str:
    return identifier.rsplit("/", 1)[-1]


def page_of(identifier: str) -> str:
    return "/?id=" + quote(identifier, safe="")


def event_item(page: Browser, event_hash: str) -> WebElement:
    return page.one(f'#timeline li.event[data-event="{event_hash}"]')


def wait_title(page: Browser, text: str) -> None:
    WebDriverWait(page.driver, 30).until(
        lambda d: [e.text for e in d.find_elements("css selector", ".batch-title")] == [text]
    )


def test_a_demo_batch_shows_its_timeline_lineage_and_green_badges(
    page: Browser, site: Site
) -> None:
    cheese = site.demo.lots["cheese"]
    milk1, milk2 = site.demo.lots["milk-1"], site.demo.lots["milk-2"]

    page.open(cheese.removeprefix(GS1_RESOLVER))  # the label's path: the node redirects

    assert page.driver.current_url == site.url + page_of(cheese)
    assert page.driver.title == f"Lot {lot(cheese)} — TraceNode"
    assert page.one(".batch-title").text == f"Lot {lot(cheese)}"
    verdict = page.one(".verdict")
    assert verdict.get_attribute("data-outcome") == "pass"
    assert verdict.find_element("css selector", ".badge").text == "✓ All checks passed"
    assert "16 events on 3 batches" in verdict.text
    facts = page.one(".facts").text
    assert "Alpine Dairy Processing" in facts  # producer
    assert "Corner Grocer" in facts  # holds it now
    assert f"Lot {lot(milk1)}" in facts
    assert f"Lot {lot(milk2)}" in facts

    events = page.css("#timeline li.event")
    titles = [e.find_element("css selector", "h3").text for e in events]
    assert titles == [
        "Produced",
        "Produced",
        "Certified",
        "Shipped",
        "Received",
        "Shipped",
        "Received",
        f"Made {lot(cheese)}",
        "Shipped",
        "Received",
        "Sensor reading",
        "Sensor reading",
        "Sensor reading",
        "Shipped",
        "Received",
        "Recalled",
    ]
    assert [e.get_attribute("data-outcome") for e in events] == ["pass"] * 16
    assert {e.find_element("css selector", ".badge").text for e in events} == {"✓ Verified"}
    assert "Green Valley Farm" in events[0].text
    assert "1200 L" in events[0].text
    assert "EU organic 2018/848" in events[2].text
    assert "To\nAlpine Dairy Processing" in events[3].text  # who ships to whom
    assert "240 kg" in events[7].text
    assert "Food Safety Authority" in events[15].text
    assert "antibiotic residue" in events[15].text

    chart_values = [t.text for t in page.css("#sensors svg text.value")]
    assert chart_values == ["3.8", "4.1", "4.4"]
    assert "Temperature (°C)" in page.one("#sensors figcaption").text

    graph = page.one("#lineage svg")
    nodes = {
        n.get_attribute("data-batch"): n for n in graph.find_elements("css selector", ".batch-node")
    }
    assert set(nodes) == {batch_id(cheese), batch_id(milk1), batch_id(milk2)}
    assert "subject" in (nodes[batch_id(cheese)].get_attribute("class") or "")
    assert "status-recalled" in (nodes[batch_id(milk2)].get_attribute("class") or "")
    assert len(graph.find_elements("css selector", ".event-node")) == 1
    assert nodes[batch_id(milk1)].get_dom_attribute("href") == page_of(milk1).lstrip("/")

    banner = page.one(".recall")
    assert banner.get_attribute("data-recall") == "ancestor"
    assert f"Lot {lot(milk2)}" in banner.text
    assert "antibiotic residue" in banner.text
    page.screenshot("cheese", docs=True)
    page.screenshot("cheese-full", full=True)

    first = events[0]
    first.find_element("css selector", "details.proof summary").click()
    tx = first.find_element("css selector", '.hash-row .copy[data-copy^="0x"]')
    rows = {
        r.find_element("css selector", ".hash-label").text: r.find_element(
            "css selector", ".copy"
        ).get_attribute("data-copy")
        for r in first.find_elements("css selector", ".hash-row")
    }
    assert tx.is_displayed()
    explorer = first.find_element("link text", "Transaction in the explorer")
    assert explorer.get_attribute("href") == EXPLORER.replace("{tx}", rows["Transaction"] or "")
    proof_link = first.find_element("link text", "Proof (JSON)").get_attribute("href")
    proof = httpx.get(proof_link or "").json()
    assert proof["root"] == rows["Merkle root"]
    assert proof["txHash"] == rows["Transaction"]
    checks = [c.get_attribute("data-check") for c in first.find_elements("css selector", ".check")]
    assert "merkle-proof" in checks
    assert "accepted-on-chain" in checks
    page.element_screenshot("event-proof", first, docs=True)


def test_the_recalled_lot_is_unmistakable_and_shows_where_it_went(
    page: Browser, site: Site
) -> None:
    milk2, cheese = site.demo.lots["milk-2"], site.demo.lots["cheese"]
    page.open("/")
    assert page.one("#intro").is_displayed()
    page.screenshot("start", docs=True)

    box = page.one("#id-input")
    box.send_keys(milk2 + Keys.ENTER)
    wait_title(page, f"Lot {lot(milk2)}")

    assert page.driver.current_url == site.url + page_of(milk2)
    banner = page.one(".recall")
    assert banner.get_attribute("data-recall") == "self"
    assert banner.text.startswith("⚠ RECALLED")
    assert "Food Safety Authority" in banner.text
    assert "antibiotic residue" in banner.text
    assert "1 batch was made from it" in banner.text
    assert page.one(".summary .chip").text == "Recalled"
    assert f"Made into\nLot {lot(cheese)}" in page.one(".facts").text
    assert page.js("return arguments[0].getBoundingClientRect().top", banner) < 300
    downstream = page.one("#downstream")
    assert downstream.find_element("css selector", "h2").text == "Where it went — for the recall"
    (item,) = downstream.find_elements("css selector", "li.downstream-item")
    assert item.get_attribute("data-batch") == batch_id(cheese)
    assert "held by Corner Grocer" in item.text
    assert "received by ColdChain Logistics → Corner Grocer" in item.text
    graph = page.one("#lineage svg")
    own = graph.find_element("css selector", f'[data-batch="{batch_id(milk2)}"]')
    assert "status-recalled" in (own.get_attribute("class") or "")
    assert len(page.css("#timeline li.action-recall")) == 1
    page.screenshot("recalled", docs=True)

    item.find_element("css selector", "a").click()  # follow the recall downstream
    wait_title(page, f"Lot {lot(cheese)}")
    assert page.one(".recall").get_attribute("data-recall") == "ancestor"
    page.driver.back()
    wait_title(page, f"Lot {lot(milk2)}")


def test_the_commands_on_the_page_check_the_bundle_it_offers(
    page: Browser, site: Site, tmp_path: Path
) -> None:
    """The commands run exactly as printed, in a folder laid out as a clone of the
    repository after scripts/setup.sh (.venv, node_modules), with the downloaded bundle."""
    cheese = site.demo.lots["cheese"]
    page.open(page_of(cheese))
    commands = [b.get_attribute("data-copy") or "" for b in page.css("#verify .command .copy")]
    verify, cast = (shlex.split(c) for c in commands)
    download = page.one("#bundle-download")
    clone = tmp_path / "tracenode"
    clone.mkdir()
    (clone / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (clone / "node_modules").symlink_to(ROOT / "node_modules")

    assert verify[:2] == [".venv/bin/tracenode", "verify"]
    assert verify[3:] == ["--rpc", f"{site.url}/rpc"]
    assert "bash scripts/setup.sh" in page.one("#commands-hint").text
    assert download.get_attribute("download") == verify[2] == f"{lot(cheese)}.bundle.json"
    answer = httpx.get(download.get_attribute("href") or "")
    assert answer.status_code == 200
    assert f'filename="{verify[2]}"' in answer.headers["content-disposition"]
    (clone / verify[2]).write_bytes(answer.content)
    checked = subprocess.run(verify, cwd=clone, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "VERIFIED" in checked.stdout
    assert cast[:2] == ["node_modules/.bin/cast", "call"]
    assert cast[-2:] == ["--rpc-url", f"{site.url}/rpc"]
    on_chain = subprocess.run(
        cast, cwd=clone, capture_output=True, text=True, timeout=60, check=False
    )
    assert on_chain.returncode == 0, on_chain.stderr
    assert on_chain.stdout.strip() == "true"
    page.element_screenshot("verify", page.one("#verify"), docs=True)


def test_a_tampered_store_shows_each_failing_event_with_its_reason(
    page: Browser, site: Site
) -> None:
    spare = site.spare
    reading = hash_of(spare, "reefer temperature", 2)
    received = hash_of(spare, "picked up")
    shipped = hash_of(spare, "to the shop")
    with sqlite3.connect(site.data_dir / "tracenode.sqlite3", timeout=30) as db:
        (payload,) = db.execute(
            "SELECT payload FROM events WHERE event_hash = ?", (bytes.fromhex(reading[2:]),)
        ).fetchone()
        assert b"4.4" in payload
        db.execute(
            "UPDATE events SET payload = ? WHERE event_hash = ?",
            (payload.replace(b"4.4", b"9.7"), bytes.fromhex(reading[2:])),
        )
        (proof,) = db.execute(
            "SELECT proof FROM events WHERE event_hash = ?", (bytes.fromhex(received[2:]),)
        ).fetchone()
        db.execute(
            "UPDATE events SET proof = ? WHERE event_hash = ?",
            (bytes([proof[0] ^ 1]) + proof[1:], bytes.fromhex(received[2:])),
        )
        (signature,) = db.execute(
            "SELECT signature FROM events WHERE event_hash = ?", (bytes.fromhex(shipped[2:]),)
        ).fetchone()
        db.execute(
            "UPDATE events SET signature = ? WHERE event_hash = ?",
            (signature[:64] + bytes([29]), bytes.fromhex(shipped[2:])),
        )

    page.open(page_of(spare.lots["cheese"]))

    verdict = page.one(".verdict")
    assert verdict.get_attribute("data-outcome") == "fail"
    assert verdict.find_element("css selector", ".badge").text == "✗ Verification failed"
    expected = {
        reading: ("✗ Altered details", "the payload does not hash to payloadHash"),
        received: ("✗ Proof mismatch", "the proof does not lead from the event to root"),
        shipped: ("✗ Bad signature", "bad signature"),
    }
    for event_hash, (badge, reason) in expected.items():
        item = event_item(page, event_hash)
        assert item.get_attribute("data-outcome") == "fail"
        assert item.find_element("css selector", ".badge").text == badge
        assert reason in item.find_element("css selector", ".event-failures").text
        assert any(reason in line.text for line in verdict.find_elements("css selector", "li"))
    untouched = event_item(page, hash_of(spare, "milking"))
    assert untouched.find_element("css selector", ".badge").text == "✓ Verified"
    failed_point = page.one("#sensors circle.point.failed")
    assert failed_point.find_element("css selector", "title").get_attribute("textContent")
    assert "9.7" in [t.text for t in page.css("#sensors svg text.value")]
    page.element_screenshot("tampered", event_item(page, reading), docs=True)
    page.screenshot("tampered-full", full=True)


def test_events_by_a_suspended_or_rotated_signer_fail_with_who_and_when(
    page: Browser, site: Site
) -> None:
    page.open(page_of(site.suspect))

    made, suspended, rotated = page.css("#timeline li.event")
    assert made.find_element("css selector", ".badge").text == "✓ Verified"
    for item, reason in ((suspended, "was suspended at block"), (rotated, "rotated out at block")):
        assert item.find_element("css selector", ".badge").text == "✗ Signer not authorised"
        assert reason in item.find_element("css selector", ".event-failures").text
    assert page.one(".verdict").get_attribute("data-outcome") == "fail"


def test_a_phone_sees_the_recall_first_and_nothing_scrolls_sideways(
    page: Browser, site: Site
) -> None:
    page.phone(True)
    for name, identifier in (
        ("phone-recalled", site.demo.lots["milk-2"]),
        ("phone-cheese", site.demo.lots["cheese"]),
    ):
        page.open(page_of(identifier))

        width = page.js("return window.innerWidth")
        assert width == 390
        assert page.js("return document.documentElement.scrollWidth") <= width
        overflowing = page.js(
            "return [...document.querySelectorAll('main *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5"
            " && !e.closest('.graph-scroll') && e.getClientRects().length)"
            ".map(e => e.tagName + '.' + e.className)"
        )
        assert overflowing == []
        assert "vertical" in (page.one("#lineage svg").get_attribute("class") or "")
        banner = page.one(".recall")
        assert page.js("return arguments[0].getBoundingClientRect().bottom", banner) <= 844
        page.screenshot(name, docs=name == "phone-recalled")
        page.screenshot(f"{name}-full", full=True)


def test_hostile_text_is_shown_as_text_and_never_runs(page: Browser, site: Site) -> None:
    page.open(page_of(HOSTILE_BATCH))

    assert page.one(".batch-title").text == HOSTILE_BATCH.split("/", 1)[1]
    assert page.js("return window.__pwned") is None
    assert page.js("return document.scripts.length") == 1
    images = page.js("return [...document.images].map(i => i.getAttribute('src'))")
    assert all(src.startswith(("/static/", "/v1/batches/0x")) for src in images), images
    hrefs = page.js(
        "return [...document.querySelectorAll('[href]')].map(a => a.getAttribute('href'))"
    )
    assert not [h for h in hrefs if not h.startswith(("/", "?", "#", "https://explorer.example/"))]
    headings = [h.text for h in page.css("h1, h2, h3") if h.is_displayed()]
    assert "FAKE VERIFIED" not in headings
    text = page.one("#result").text
    assert HOSTILE_NAME in text
    assert "<script>window.__pwned=1</script>" in text
    assert "</dd></dl><h1>FAKE VERIFIED</h1>" in text
    assert "javascript:window.__pwned=1" in text  # a place, shown, never a link
    verdict = page.one(".verdict")
    assert verdict.get_attribute("data-outcome") == "pending"
    pending = event_item(page, "0x" + site.pending_event.hex())
    assert pending.find_element("css selector", ".badge").text == "… Not yet anchored"
    # The node's predicted wait for its proof (docs/api.md, Backpressure).
    waiting = pending.find_element("css selector", ".anchored-at.pending").text
    assert re.fullmatch(r"anchoring, about \d+ (second|minute|hour|day)s?", waiting), waiting
    page.screenshot("hostile", full=True)

    refused = page.js(
        "try { document.createElement('div').innerHTML = '<b>x</b>'; return 'assigned'; }"
        " catch (e) { return e.name; }"
    )
    assert refused == "TypeError"  # Trusted Types: no string becomes HTML on this page
    errors = page.console_errors()
    assert errors
    assert all("TrustedHTML" in e["message"] for e in errors), errors


def test_unknown_and_invalid_identifiers_are_explained(page: Browser, site: Site) -> None:
    page.open(page_of("88.123.45/NO-SUCH-LOT"))
    status = page.one("#status")
    assert status.text == (
        "This node has no record of 88.123.45/NO-SUCH-LOT. It may be recorded on another node, "
        "or not recorded yet."
    )
    assert page.one("#result").is_displayed() is False

    page.open(page_of("hello"))
    assert page.one("#status").text.startswith("Not a batch identifier: 'hello' is in none of")
    errors = page.console_errors()
    assert len(errors) == 2
    assert "404" in errors[0]["message"]
    assert "422" in errors[1]["message"]


def test_the_qr_code_on_the_page_scans_to_the_batch(
    page: Browser, site: Site, tmp_path: Path
) -> None:
    cheese = site.demo.lots["cheese"]
    page.open(page_of(cheese))
    image = page.one(".qr img")
    WebDriverWait(page.driver, 10).until(lambda d: image.get_property("naturalWidth"))

    label = page.one(".label-url").text
    decoded = decode_qr(page.element_screenshot("qr", image).read_bytes(), tmp_path)

    assert label == site.url + cheese.removeprefix(GS1_RESOLVER)
    assert decoded == [label]
    page.driver.get(decoded[0])
    wait_title(page, f"Lot {lot(cheese)}")


# ----- safety first, what was checked, when it was anchored -----


def is_green(css_color: str) -> bool:
    """Whether a computed colour (rgb(...) / rgba(...)) reads as green."""
    parts = [float(v) for v in css_color[css_color.index("(") + 1 : -1].split(",")]
    red, green, blue = parts[:3]
    alpha = parts[3] if len(parts) > 3 else 1.0
    return alpha > 0 and green > red + 30 and green > blue + 30


def test_a_product_made_from_a_recalled_lot_leads_with_what_to_do(
    page: Browser, site: Site
) -> None:
    cheese, milk2 = site.demo.lots["cheese"], site.demo.lots["milk-2"]
    page.open(page_of(cheese))

    first = page.js("return document.getElementById('result').firstElementChild")
    banner = page.one("#safety")
    assert first == banner
    assert banner.get_attribute("data-safety") == "made-from-recalled"
    assert banner.find_element("css selector", "h2").text == (
        "⚠ Made from a recalled batch — do not sell or consume it"
    )
    advice = banner.find_element("css selector", ".advice")
    assert advice.is_displayed()
    assert advice.text.startswith("What to do: do not sell, serve or eat it until its producer,")
    assert "Alpine Dairy Processing" in advice.text
    assert page.js("return arguments[0].getBoundingClientRect().bottom", advice) <= 900
    assert f"Lot {lot(milk2)}" in banner.text
    assert "Recalled by Food Safety Authority" in banner.text
    assert "antibiotic residue" in banner.text
    assert "Its own status on the chain is still “Active”" in banner.text

    # Nothing above the safety statement but the search bar; nothing green says "verified"
    # before it; what was checked comes after the batch, smaller than the safety heading.
    above = page.js(
        "const top = arguments[0].getBoundingClientRect().top;"
        "return [...document.querySelectorAll('main *')]"
        ".filter(e => e.getClientRects().length && e.getBoundingClientRect().bottom <= top"
        " && e.textContent.trim()).map(e => e.textContent)",
        banner,
    )
    assert above == []
    verdict = page.one(".verdict")
    badge = verdict.find_element("css selector", ".badge")
    assert badge.text == "✓ All checks passed"
    summary_bottom = page.js(
        "return arguments[0].getBoundingClientRect().bottom", page.one("#summary")
    )
    assert page.js("return arguments[0].getBoundingClientRect().top", verdict) > summary_bottom
    size = "return parseFloat(getComputedStyle(arguments[0]).fontSize)"
    assert page.js(size, badge) < page.js(size, banner.find_element("css selector", "h2")) / 1.5
    assert [h.text for h in page.css("h1, h2") if "verif" in h.text.lower()] == []
    status = page.css(".summary .fact")[0].text.split("\n")
    assert status == ["Status on the chain", "Active Made from a recalled batch"]
    chip = page.one(".summary .chip.status-active")
    assert not is_green(chip.value_of_css_property("background-color"))
    document = httpx.get(f"{site.url}/v1/batches/{batch_id(cheese)}").json()
    assert document["recall"]["state"] == "made-from-recalled"

    page.open(page_of(milk2))
    own = page.one("#safety")
    assert own.get_attribute("data-safety") == "recalled"
    assert own.find_element("css selector", ".advice").text.startswith(
        "What to do: do not sell, serve or eat it."
    )

    page.open(page_of(LATE_BATCH))
    clear = page.one("#safety")
    assert clear.get_attribute("data-safety") == "none"
    assert clear.text == (
        "No recall recorded\n"
        "This node records no recall of this batch or of anything it was made from."
    )


def test_what_was_checked_names_the_contracts_and_the_brand_owner(
    page: Browser, site: Site
) -> None:
    cheese = site.demo.lots["cheese"]
    page.open(page_of(cheese))
    report = httpx.get(f"{site.url}/v1/batches/{batch_id(cheese)}/provenance").json()

    checked = page.one("#checked")
    groups = {
        g.get_attribute("data-group"): g
        for g in checked.find_elements("css selector", ".check-group")
    }
    assert set(groups) == {"signed", "anchored", "custody", "brand", "complete"}
    assert all("pass" in (g.get_attribute("class") or "") for g in groups.values())
    contracts = report["contracts"]
    for group, name in (
        ("signed", "participantRegistry"),
        ("anchored", "anchorRegistry"),
        ("custody", "batchRegistry"),
        ("brand", "participantRegistry"),
        ("complete", "anchorRegistry"),
    ):
        address = groups[group].find_element("css selector", ".address")
        assert address.get_attribute("title") == contracts[name]
    blocks = sorted({e["blockNumber"] for e in report["events"]})
    assert f"holds on chain {report['chainId']}" in groups["anchored"].text
    span = f"block {blocks[0]}" if len(blocks) == 1 else f"blocks {blocks[0]}\u2013{blocks[-1]}"
    assert f"({span}, mined " in groups["anchored"].text
    complete = next(c for c in report["batches"][0]["checks"] if c["check"] == "complete")
    assert complete["outcome"] == "pass"
    assert complete["detail"].startswith("complete: ")
    assert f"this proof holds exactly those events ({complete['detail']})." in (
        groups["complete"].text
    )

    licence = report["batches"][0]["licence"]  # the subject's, from the verifier
    assert (licence["kind"], licence["prefix"], licence["validUntil"]) == ("gs1", "0614142", None)
    assert licence["holder"]["name"] == "Alpine Dairy Processing"
    brand = groups["brand"].text.removeprefix("\u2713\n")  # the mark, then the statement
    assert brand.startswith(
        "Brand ownership: Alpine Dairy Processing created this batch under GTIN "
        "00614142000011 holding the licence of its GS1 company prefix 0614142 "
        "(ParticipantRegistry "
    )
    assert brand.endswith(f": since block {licence['validFrom']}).")
    assert not checked.find_elements("css selector", '[data-not-checked="brand"]')
    assert "does not yet check" not in checked.text

    page.open(page_of(HOSTILE_BATCH))  # a handle names its prefix; the name is text
    handle = page.one('#checked [data-group="brand"]')
    assert "pass" in (handle.get_attribute("class") or "")
    assert (
        f"Brand ownership: {HOSTILE_NAME} created this batch under Handle 88.666.1 holding "
        "the licence of its handle prefix 88.666.1 (ParticipantRegistry "
    ) in handle.text


def test_a_lot_from_outside_says_where_its_history_here_starts_and_ends(
    page: Browser, site: Site
) -> None:
    page.open(page_of(site.outside))
    verdict = page.one(".verdict")
    assert verdict.get_attribute("data-outcome") == "pass"

    titles = [e.find_element("css selector", "h3").text for e in page.css("#timeline li.event")]
    assert titles == ["Received from outside TraceNode", "Shipped out of TraceNode"]
    timeline = page.one("#timeline").text
    assert OUTSIDE_SOURCE in timeline
    assert OUTSIDE_DESTINATION in timeline
    facts = page.one(".facts").text
    assert "Shipped out of TraceNode" in facts  # its status on the chain
    assert "Not known here: it came from outside TraceNode" in facts  # no producer here

    checked = page.one("#checked")
    outside = checked.find_element("css selector", '[data-not-checked="outside"]').text
    assert outside.startswith("History outside TraceNode: ")
    assert "is not recorded here and not checked" in outside
    left = checked.find_element("css selector", '[data-not-checked="exported"]').text
    assert left.startswith("Left TraceNode: ")
    brand = checked.find_element("css selector", '[data-not-checked="brand"]').text
    assert "no prefix of GTIN 04012345000016 is licensed in this network" in brand


def test_a_lot_first_seen_mid_chain_says_so_never_as_a_production(
    page: Browser, site: Site
) -> None:
    page.open(page_of(site.midchain))
    assert page.one(".verdict").get_attribute("data-outcome") == "pass"

    titles = [e.find_element("css selector", "h3").text for e in page.css("#timeline li.event")]
    assert titles[0] == (
        "First seen mid-chain: history before this event was not captured by this network"
    )
    assert "Produced" not in titles
    facts = page.one(".facts").text
    assert "Not known here: first seen mid-chain" in facts
    outside = page.one('#checked [data-not-checked="outside"]').text
    assert "was first seen mid-chain" in outside
    assert "History before this event was not captured by this network" in outside


def test_sensor_data_in_full_is_shown_each_reading_at_its_own_time(
    page: Browser, site: Site
) -> None:
    page.open(page_of(site.sensor))

    titles = [e.find_element("css selector", "h3").text for e in page.css("#timeline li.event")]
    assert titles == ["Produced", "Sensor reading"]
    observed = page.css("#timeline li.event")[1].text
    at = page.js(
        "return [Date.parse('2024-05-06T10:15:00Z'), Date.parse('2024-05-06T10:20:00Z')]"
        ".map((t) => new Intl.DateTimeFormat(undefined, "
        "{dateStyle: 'medium', timeStyle: 'short'}).format(new Date(t)));"
    )
    # statistics only: the mean, with min and max, at the element's metadata time
    assert f"Temperature\n3.75 °C (min 2.5, mean 3.75, max 5.5) at {at[0]}" in observed
    assert f"Humidity\n61 % at {at[1]}" in observed  # its report's own time
    assert f"Certification\nseal intact at {at[0]}" in observed
    assert f"Light\nno at {at[0]}" in observed
    assert "DataSheet\nhttps://sensor.example.org/sheet/7" in observed
    assert "Temperature: exception\nALARM_CONDITION" in observed
    assert f"Certificate\n{SENSOR_CERTIFICATE}" in observed
    # the numbers chart, each at its reading's time: one temperature, one humidity
    series = {f.get_attribute("data-series") for f in page.css("figure.chart-figure")}
    assert series == {"Temperature", "Humidity"}


def test_an_event_declared_in_error_is_struck_through_with_its_reason_and_correction(
    page: Browser, site: Site
) -> None:
    page.open(page_of(site.corrected))

    (wrong,) = page.css("#timeline li.event.corrected")
    assert wrong.find_element("css selector", "h3 del").text
    note = wrong.find_element("css selector", ".correction").text
    assert note.startswith("Declared in error on ")
    assert ": incorrect data." in note
    fix = wrong.find_element("css selector", ".correction a[href^='#event-']:last-of-type")
    href = fix.get_attribute("href") or ""
    target = page.one("#" + href.split("#", 1)[1])
    assert "corrected" not in (target.get_attribute("class") or "")  # the correction stands
    events = page.css("#timeline li.event")
    assert len(events) == 4  # made, the inspection (kept), its declaration, the correction


def test_a_place_shows_its_brand_owners_name_with_who_says_it_and_the_code_kept(
    page: Browser, site: Site
) -> None:
    page.open(page_of(site.named))

    (named,) = page.css("#timeline .named")
    assert named.get_attribute("data-code") == PLANT
    assert named.find_element("css selector", ".named-name").text == PLANT_NAME
    assert "Bergstrasse 4, Thun, CH" in named.find_element("css selector", ".named-address").text
    says = named.find_element("css selector", ".named-says").text
    assert says == "(says Alpine Dairy Processing, holder of 0614142)"
    assert "Farm Depot" not in page.one("#timeline").text  # the farm's contradiction
    code = named.find_element("css selector", "a.named-code")
    assert code.text == PLANT
    answer = httpx.get(code.get_attribute("href") or "", timeout=10)
    assert answer.status_code == 200, answer.text
    said = {a["saidBy"]["participant"]: a["name"] for a in answer.json()["assertions"]}
    assert said == {"Alpine Dairy Processing": PLANT_NAME, "Green Valley Farm": "Farm Depot"}
    page.element_screenshot("master-data", page.one("#timeline li.event"))


def rpc_block(site: Site, number: int) -> dict[str, str]:
    answer = httpx.post(
        f"{site.url}/rpc",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getBlockByNumber",
            "params": [hex(number), False],
        },
    )
    block: dict[str, str] = answer.json()["result"]
    return block


def test_every_event_shows_when_its_block_was_mined_and_far_off_claims_are_flagged(
    page: Browser, site: Site
) -> None:
    page.open(page_of(LATE_BATCH))

    for name, event_hash in site.late.items():
        item = event_item(page, "0x" + event_hash.hex())
        anchored = item.find_element("css selector", ".anchored-at")
        block = int(anchored.text.rsplit("(block ", 1)[1].rstrip(")"))
        mined = int(rpc_block(site, block)["timestamp"], 16)  # from the chain, not the page's JSON
        shown = anchored.find_element("css selector", "time").get_attribute("datetime")
        assert shown == datetime.fromtimestamp(mined, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        flags = item.find_elements("css selector", ".time-gap")
        if name == "late":
            (flag,) = flags
            assert flag.get_attribute("data-gap") == "anchored-long-after"
            assert flag.text.startswith("⚠ Anchored 3 days after the time it claims.")
            assert "nothing confirms the earlier time" in flag.text
            assert flag.is_displayed()
        elif name == "early":
            (flag,) = flags
            assert flag.get_attribute("data-gap") == "claimed-after-anchoring"
            assert flag.text.startswith("⚠ Claims a time 4")  # 45 minutes, less the wait
            assert "minutes after it was anchored." in flag.text
            assert "The signer's clock, or the time it states, is wrong." in flag.text
        else:
            assert flags == []
    times = page.one('#checked [data-not-checked="times"]').text
    assert "2 events claim times far from it (flagged below)" in times
    page.element_screenshot("time-gap", event_item(page, "0x" + site.late["late"].hex()), docs=True)

    page.open(page_of(site.demo.lots["cheese"]))  # claimed a few hours before: no flag
    assert page.css(".time-gap") == []
    assert len(page.css("#timeline .anchored-at time")) == 16


def test_on_a_phone_every_text_is_at_least_12_pixels_and_the_chart_is_honest(
    page: Browser, site: Site
) -> None:
    page.phone(True, width=375)
    small_text = (
        "const small = [];"
        "const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);"
        "while (walk.nextNode()) {"
        "  const node = walk.currentNode; const el = node.parentElement;"
        "  if (!node.textContent.trim() || !el || !el.getClientRects().length) continue;"
        "  if (el.closest('title, .visually-hidden, .skip-link')) continue;"
        "  let size = parseFloat(getComputedStyle(el).fontSize);"
        "  if (el instanceof SVGElement) size *= el.getScreenCTM().a;"
        "  if (size < 12) small.push(`${el.tagName}.${el.getAttribute('class')}: ${size} px`"
        "    + ` ${node.textContent.trim().slice(0, 30)}`);"
        "}"
        "return small;"
    )
    chart_sizes = (
        "return [...document.querySelectorAll('#sensors svg text')]"
        ".map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"
    )
    for identifier, band in ((site.demo.lots["cheese"], "chilled"), (LATE_BATCH, "stated")):
        page.open(page_of(identifier))
        page.js("document.querySelectorAll('details').forEach(d => d.open = true)")

        assert page.js("return window.innerWidth") == 375
        assert page.js("return document.documentElement.scrollWidth") <= 375
        assert page.js(small_text) == []
        sizes = page.js(chart_sizes)
        assert len(sizes) >= 8
        assert min(sizes) >= 12
        note = page.one("#sensors .band-note")
        assert note.get_attribute("data-band") == band
        assert len(page.css("#sensors rect.safe-band")) == 1
        ticks = [float(t.text) for t in page.css("#sensors .tick text")]
        assert max(ticks) - min(ticks) >= 10  # °C: a small drift is not drawn as a cliff
    assert note.text == (
        "Shaded: the safe range, 2\u20136 °C, as the readings state it (signed by carrier). "
        "1 reading is outside it."
    )
    assert len(page.css("#sensors circle.point.outside")) == 1
    page.screenshot("phone-late", full=True)

    page.open(page_of(site.demo.lots["cheese"]))
    assert page.one("#sensors .band-note").text.startswith(
        "Shaded: 0\u20135 °C, the usual safe range for chilled food."
    )
    page.screenshot("phone-cheese", docs=True)
    page.screenshot("phone-cheese-full", full=True)
    page.open(page_of(HOSTILE_BATCH))  # a unit nobody knows: no range is made up
    assert page.css("#sensors .band-note") == []
    assert page.css("#sensors rect.safe-band") == []


def test_locations_read_as_gln_with_the_full_code_kept_and_never_split(
    page: Browser, site: Site
) -> None:
    page.phone(True, width=375)
    page.open(page_of(site.demo.lots["cheese"]))

    places = page.css("#timeline .place")
    assert len(places) == 16
    carrier = [p for p in places if "extension" in p.text]
    farm = places[0]
    name = farm.find_element("css selector", ".place-name")
    assert name.text == "GLN 0614141000012"
    assert name.get_attribute("title") == "urn:epc:id:sgln:0614141.00001.0"
    button = farm.find_element("css selector", "button.copy")
    assert button.get_attribute("data-copy") == "urn:epc:id:sgln:0614141.00001.0"
    assert carrier
    assert carrier[0].find_element("css selector", ".place-name").text == (
        "GLN 0614142000097, extension 7"
    )
    split = page.js(
        "return [...document.querySelectorAll('.place-name')].filter(e => {"
        "  const text = e.firstChild; const at = text.textContent.search(/[0-9]{13}/);"
        "  const range = document.createRange(); range.setStart(text, at);"
        "  range.setEnd(text, at + 13); return range.getClientRects().length !== 1;"
        "}).length"
    )
    assert split == 0


def test_every_copy_button_says_what_it_copies(page: Browser, site: Site) -> None:
    page.open(page_of(site.demo.lots["cheese"]))
    page.js("document.querySelectorAll('details').forEach(d => d.open = true)")

    buttons = page.css("button.copy")
    names = [b.accessible_name for b in buttons]
    assert len(buttons) > 60
    assert len(set(names)) == len(names), [n for n in names if names.count(n) > 1]
    assert all(n.startswith("Copy ") and len(n) > len("Copy the x") for n in names)
    assert all(b.text == "Copy" for b in buttons)  # the visible label is in the name
    assert "Copy the batch id" in names
    assert "Copy the event hash of event 3, Certified" in names
    assert "Copy the Merkle root of event 16, Recalled" in names
    assert "Copy the tracenode verify command" in names
    assert "Copy the AnchorRegistry contract address" in names


def test_skip_links_move_focus_to_the_batch_and_the_bundle(page: Browser, site: Site) -> None:
    cheese = site.demo.lots["cheese"]
    focused = "return document.activeElement"

    page.open(page_of(cheese))
    ActionChains(page.driver).send_keys(Keys.TAB).perform()
    skip = page.js(focused)
    assert skip.text == "Skip to the batch"
    assert page.js("return arguments[0].getBoundingClientRect().top", skip) >= 0  # shown
    ActionChains(page.driver).send_keys(Keys.ENTER).perform()
    assert page.js(focused).get_attribute("id") == "main"
    ActionChains(page.driver).send_keys(Keys.TAB).perform()
    first = page.js(focused)
    assert page.js("return arguments[0].closest('#safety') !== null", first)
    assert first.text == f"Lot {lot(site.demo.lots['milk-2'])}"

    page.open(page_of(cheese))
    ActionChains(page.driver).send_keys(Keys.TAB, Keys.TAB).perform()
    assert page.js(focused).text == "Skip to the proof bundle"
    ActionChains(page.driver).send_keys(Keys.ENTER).perform()
    target = page.js(focused)
    assert target.get_attribute("id") == "verify"
    top = page.js("return arguments[0].getBoundingClientRect().top", target)
    # Scrolled to it (a fraction of a pixel above 0 is the browser's sub-pixel scroll).
    assert -1 < top < page.js("return window.innerHeight") / 2
    ActionChains(page.driver).send_keys(Keys.TAB).perform()
    assert page.js(focused).get_attribute("id") == "verify-in-browser"
    ActionChains(page.driver).send_keys(Keys.TAB).perform()
    assert page.js(focused).get_attribute("id") == "bundle-download"
    assert page.driver.current_url == site.url + page_of(cheese)  # the page stays put


def test_a_lot_under_an_open_identifier_is_labelled_node_local(page: Browser, site: Site) -> None:
    """No brand owner is named for urn:acme:lot:7: the page says it is a node-local
    identifier, allowed by the policy of its creator's node."""
    page.open(page_of(site.open_lot))

    checked = page.one("#checked")
    brand = checked.find_element("css selector", '[data-not-checked="brand"]').text
    assert f"{site.open_lot} is a node-local identifier: no prefix, no brand owner." in brand
    assert "allowed by the open-identifier policy of " in brand
    assert "node" in brand.split("policy of ", 1)[1]
    assert not checked.find_elements("css selector", '[data-group="brand"]')
