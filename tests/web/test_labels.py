"""Label URLs and QR codes (one rule for the gateway and ``tracenode qr``), the page's
files and headers, and a batch's overview — over HTTP against the served node, in-process
for settings, and through the CLI. QR codes are decoded back with zbarimg."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from api.cli import app as cli
from api.main import create_app
from api.routes.web import PAGE_CSP
from api.settings import WebSettings
from node.events.identifiers import (
    CSET82,
    IdentifierKind,
    PrefixKind,
    gtin_check_digit,
    parse_identifier,
)
from node.events.typed_data import Action
from node.exceptions import ConfigurationError
from node.labels import QrFormat, label_url, normalise_base_url, render_qr
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import AppClient
from tests.web.conftest import HOSTILE_BATCH, Site, decode_qr

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
BASE = "https://trace.example.com"


def overview_path(identifier: str) -> str:
    return f"/v1/batches/{quote(identifier, safe='')}/overview"


# ----- the URL rule -----


@pytest.mark.parametrize(
    ("text", "url"),
    [
        (
            "https://example.org/01/9506000134352/10/LOT%2F7",
            f"{BASE}/01/09506000134352/10/LOT%2F7",
        ),
        ("urn:epc:class:lgtin:9506000.013435.LOT-7", f"{BASE}/01/09506000134352/10/LOT-7"),
        ("urn:epc:id:sgtin:0614141.812345.6789", f"{BASE}/01/80614141123458/21/6789"),
        ("88.123.45/Lot?#1%", f"{BASE}/v1/resolve/88.123.45/Lot%3F%231%25"),
        ("0x" + "AB" * 32, f"{BASE}/v1/resolve/0x" + "ab" * 32),
    ],
)
def test_a_label_carries_the_batch_url_on_the_node(text: str, url: str) -> None:
    assert label_url(parse_identifier(text), BASE + "/") == url


@given(
    st.text(alphabet=sorted(CSET82), min_size=1, max_size=20),
    st.from_regex(r"[0-9]{13}", fullmatch=True),
)
def test_every_digital_link_label_names_the_same_batch(lot: str, digits: str) -> None:
    identifier = parse_identifier(
        f"https://id.gs1.org/01/{digits}{gtin_check_digit(digits)}/10/{quote(lot, safe='')}"
    )

    url = label_url(identifier, "http://127.0.0.1:8000")

    assert url.startswith("http://127.0.0.1:8000/01/")
    assert parse_identifier(url).batch_id == identifier.batch_id


@given(st.from_regex(r"[!-~]{1,60}", fullmatch=True))
def test_every_handle_label_resolves_to_the_same_handle(suffix: str) -> None:
    identifier = parse_identifier(f"88.123.45/{suffix}")
    assert identifier.kind is IdentifierKind.HANDLE

    url = label_url(identifier, BASE)

    path = url.removeprefix(f"{BASE}/v1/resolve/")
    assert not set(path) & set("?# ")  # nothing a URL would cut or misread
    assert unquote(path) == identifier.canonical


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://x",
        "javascript:alert(1)",
        "http://user@host",
        "http://host/?q=1",
        "http://host/#f",
        "http://ho st",
        "//host",
        "http://" + "a" * 300,
        "",
    ],
)
def test_a_base_url_that_is_not_one_is_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        normalise_base_url(bad)


def test_base_urls_are_normalised() -> None:
    assert normalise_base_url(" HTTPS://Node.example:8443/trace/ ") == (
        "https://Node.example:8443/trace"
    )
    assert normalise_base_url("http://[::1]:8000") == "http://[::1]:8000"


def test_qr_codes_decode_to_their_data(tmp_path: Path) -> None:
    url = f"{BASE}/01/09506000134352/10/LOT-7"

    png = render_qr(url, QrFormat.PNG)
    svg = render_qr(url, QrFormat.SVG).decode()

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_qr(png, tmp_path) == [url]
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ')
    assert "<script" not in svg
    assert "width=" not in svg.split(">", 1)[0]
    with pytest.raises(ConfigurationError, match="do not fit in a QR code"):
        render_qr("x" * 5000, QrFormat.SVG)


# ----- the page's files and headers -----


def test_the_page_is_served_under_a_strict_content_security_policy(site: Site) -> None:
    answer = httpx.get(f"{site.url}/")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-security-policy"] == PAGE_CSP
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ):
        assert directive in PAGE_CSP
    assert "unsafe" not in PAGE_CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-frame-options"] == "DENY"
    again = httpx.get(f"{site.url}/", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    script = httpx.get(f"{site.url}/static/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.text == (STATIC / "app.js").read_text()


def test_the_page_has_no_inline_code_and_never_parses_strings_as_html() -> None:
    html = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script type="module" src="/static/app.js">']
    assert re.search(r"<script[^>]*>(?!</script>)", html) is None  # no inline body
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert re.search(r"\sstyle\s*=", html) is None
    code = (STATIC / "app.js").read_text()
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
        assert sink not in code, sink


@pytest.mark.parametrize(
    "path",
    [
        "/static/nothing.js",
        "/static/..%2Fmain.py",
        "/static/.hidden.js",
        "/static/index.html",
        "/static/" + "a" * 100 + ".js",
    ],
)
def test_only_the_page_files_are_served(site: Site, path: str) -> None:
    answer = httpx.get(site.url + path)

    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"] == "application/problem+json"


# ----- QR codes and the overview over HTTP -----


def test_the_qr_endpoints_carry_the_label_url_of_this_node(site: Site, tmp_path: Path) -> None:
    cheese = site.demo.lots["cheese"]
    expected = site.url + cheese.removeprefix("https://id.gs1.org")
    by_id = f"{site.url}/v1/batches/{parse_identifier(cheese).batch_id_hex}"

    png = httpx.get(f"{by_id}/qr.png")
    svg = httpx.get(f"{by_id}/qr.svg")
    proxied = httpx.get(f"{by_id}/qr.png", headers={"Host": "trace.example.com"})

    assert png.headers["content-type"] == "image/png"
    assert decode_qr(png.content, tmp_path) == [expected]
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["content-security-policy"].startswith("default-src 'none'")
    assert svg.text.startswith("<svg")
    assert decode_qr(proxied.content, tmp_path) == [
        "http://trace.example.com" + cheese.removeprefix("https://id.gs1.org")
    ]
    hostile = httpx.get(f"{site.url}/v1/batches/{quote(HOSTILE_BATCH, safe='')}/qr.png")
    assert decode_qr(hostile.content, tmp_path) == [
        f"{site.url}/v1/resolve/{quote(HOSTILE_BATCH, safe='/')}"
    ]


@pytest.mark.parametrize(
    ("identifier", "status", "code"),
    [
        ("88.123.45/NOT-HERE", 404, "batch-not-found"),
        ("https://id.gs1.org/01/09506000134353/10/LOT", 422, "invalid-identifier"),
        ("<script>", 422, "invalid-identifier"),
    ],
)
@pytest.mark.parametrize("suffix", ["qr.svg", "qr.png", "overview"])
def test_qr_and_overview_refuse_what_they_cannot_name(
    site: Site, identifier: str, status: int, code: str, suffix: str
) -> None:
    answer = httpx.get(f"{site.url}/v1/batches/{quote(identifier, safe='')}/{suffix}")

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code


def test_the_overview_is_one_consistent_view_of_a_batch(site: Site) -> None:
    cheese = site.demo.lots["cheese"]
    milk1, milk2 = site.demo.lots["milk-1"], site.demo.lots["milk-2"]

    document = httpx.get(site.url + overview_path(milk2)).json()

    report, bundle = document["provenance"], document["bundle"]
    assert document["identifier"] == milk2
    assert document["batch"]["status"] == "RECALLED"
    assert report["outcome"] == "pass"
    assert len(report["events"]) == len(bundle["events"]) == 5
    assert [e["eventHash"] for e in report["events"]] == [e["eventHash"] for e in bundle["events"]]
    assert [b["identifier"] for b in document["trace"]["batches"]] == [milk2, cheese]
    # the transformation names milk-1 too, which is in neither the bundle nor the trace
    assert document["names"][parse_identifier(milk1).batch_id_hex] == milk1
    links = document["links"]
    assert links["label"] == site.url + milk2.removeprefix("https://id.gs1.org")
    assert links["rpc"] == f"{site.url}/rpc"
    assert links["explorerTx"] == "https://explorer.example/tx/{tx}"
    download = httpx.get(site.url + links["bundle"])
    assert download.headers["content-disposition"] == (
        f'attachment; filename="{links["bundleFile"]}"'
    )
    assert download.json() == bundle


# ----- settings, in-process -----


def test_the_public_url_and_explorer_settings_shape_labels_and_links(
    tracenode: TraceNodeHarness, tmp_path: Path
) -> None:
    lot = "88.124/SETTINGS-1"  # a handle of the farm's own (88.123.45 is the shop's)
    tracenode.node.registry.license(
        tracenode.node.admin(tracenode.password),
        tracenode.participant_id("farm"),
        kind=PrefixKind.HANDLE,
        prefix="88.124",
    )
    tracenode.node.sync_participants()  # the node refuses lots under licences it has not read
    tracenode.submit("farm", Action.COMMISSION, lot, product="x", quantity=1)
    tracenode.commit()
    app = create_app(
        tracenode.node,
        web=WebSettings(
            public_url="https://trace.example.com/node/",
            explorer_tx_url="https://explorer.example/tx/{tx}?chain=1",
        ),
    )
    client = AppClient(app)
    try:
        document = client.get(overview_path(lot)).json()
        png = client.get(f"/v1/batches/{quote(lot, safe='')}/qr.png").content
    finally:
        client.close()

    assert (
        document["links"]["label"] == "https://trace.example.com/node/v1/resolve/88.124/SETTINGS-1"
    )
    assert document["links"]["rpc"] == "https://trace.example.com/node/rpc"
    assert document["links"]["explorerTx"] == "https://explorer.example/tx/{tx}?chain=1"
    assert decode_qr(png, tmp_path) == [document["links"]["label"]]


BAD_SETTINGS = [
    ("TRACENODE_WEB_EXPLORER_TX_URL", "javascript:alert('{tx}')"),
    ("TRACENODE_WEB_EXPLORER_TX_URL", "https://explorer.example/tx/"),
    ("TRACENODE_WEB_EXPLORER_TX_URL", 'https://x.example/{tx}"><script>'),
    ("TRACENODE_WEB_EXPLORER_TX_URL", "https://x.example/{tx}/{tx}"),
    ("TRACENODE_WEB_PUBLIC_URL", "https://trace.example.com/?a=b"),
    ("TRACENODE_WEB_PUBLIC_URL", "trace.example.com"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_a_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        WebSettings()


def test_a_misconfigured_node_names_the_setting_and_still_serves_the_page(
    tracenode: TraceNodeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, value = BAD_SETTINGS[0]
    monkeypatch.setenv(name, value)
    client = AppClient(create_app(tracenode.node))
    try:
        answer = client.get(overview_path("88.123.45/ANY"))
        page = client.get("/")
    finally:
        client.close()

    assert answer.status_code == 503
    assert answer.json()["code"] == "not-ready"
    assert name in answer.json()["detail"]
    assert page.status_code == 200  # the page itself needs no setting


# ----- tracenode qr -----


def test_tracenode_qr_writes_the_label_as_png_or_svg(site: Site, tmp_path: Path) -> None:
    cheese = site.demo.lots["cheese"]
    runner = CliRunner()
    png = tmp_path / "cheese.png"

    made = runner.invoke(
        cli, ["qr", cheese, "--base-url", "https://trace.example.com", "-o", str(png)]
    )
    by_id = runner.invoke(
        cli,
        ["qr", parse_identifier(cheese).batch_id_hex, "--data-dir", str(site.data_dir)],
        env={"TRACENODE_WEB_PUBLIC_URL": "http://node.example:8000"},
    )

    label = "https://trace.example.com" + cheese.removeprefix("https://id.gs1.org")
    assert made.exit_code == 0, made.output
    assert decode_qr(png.read_bytes(), tmp_path) == [label]
    assert by_id.exit_code == 0, by_id.output
    assert by_id.stdout.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert by_id.stderr.strip() == "http://node.example:8000" + cheese.removeprefix(
        "https://id.gs1.org"
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["0x" + "00" * 32], "batch-not-found"),
        (["88.123.45/X", "--base-url", "javascript:x"], "configuration-error"),
        (["not an identifier"], "invalid-identifier"),
        (["88.123.45/X", "-o", "/nonexistent-dir/x.svg"], "configuration-error"),
    ],
)
def test_tracenode_qr_refuses_with_a_clear_error(site: Site, args: list[str], code: str) -> None:
    result = CliRunner().invoke(cli, ["qr", *args, "--data-dir", str(site.data_dir)])

    assert result.exit_code == 1
    assert f"[{code}]" in result.stderr
    assert result.stdout == ""
