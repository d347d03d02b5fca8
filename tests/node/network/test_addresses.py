"""Screening the URLs the node sends requests to (node/network/addresses.py): another
node's URL comes from the chain, where anyone who operates a node writes it. Whatever
it names — a private network, loopback, the cloud's metadata service, a name that
resolves there or that never resolves — nothing is fetched unless the address is one
the node may reach, the lookup is bounded, and the request goes to the address that was
screened (DNS rebinding)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.exceptions import NodeUrlError, RemoteNodeError, UrlRefusedError, WebhookUrlError
from node.network.addresses import AddressPolicy, refused, screen_url
from node.network.resolution import fetch_bundle
from node.webhooks.addresses import check_url
from tests.hostile_node import HostileNode, hostile_node

DEV = AddressPolicy(allow_private=True)


def answers(*addresses: str) -> Any:
    """A resolver that answers ``addresses`` for any name, counting its lookups."""
    calls: list[str] = []

    def resolver(host: str, port: int, *_: object) -> Sequence[tuple[Any, ...]]:
        calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    resolver.calls = calls  # type: ignore[attr-defined]
    return resolver


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileNode]:
    with hostile_node() as node:
        yield node


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.2:8080/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://240.0.0.1/",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(url: str) -> None:
    with pytest.raises(NodeUrlError) as caught:
        screen_url(url, error=NodeUrlError)
    assert caught.value.reason == "refused-address"
    assert "the node does not send there" in str(caught.value)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.0.0.7", True),
        ("172.20.1.2", True),
        ("192.168.1.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("fd00::1", True),
        ("169.254.169.254", False),  # cloud metadata: link-local, whatever the setting
        ("fe80::1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
        ("93.184.216.34", True),
    ],
)
def test_the_development_setting_allows_private_and_loopback_only(
    address: str, allowed: bool
) -> None:
    import ipaddress

    assert refused(ipaddress.ip_address(address), DEV) is not allowed


def test_a_hostile_name_resolving_to_any_private_address_is_refused() -> None:
    for addresses in (("93.184.216.34", "10.0.0.7"), ("169.254.169.254",), ("::1",)):
        resolver = answers(*addresses)
        with pytest.raises(NodeUrlError) as caught:
            screen_url(
                "https://node-b.example/",
                policy=AddressPolicy(resolver=resolver),
                error=NodeUrlError,
            )
        assert caught.value.reason == "refused-address"
        assert f"node-b.example resolves to {addresses[-1]}" in str(caught.value)

    public = screen_url(
        "https://node-b.example/", policy=AddressPolicy(resolver=answers("93.184.216.34"))
    )
    assert [str(a) for a in public.addresses] == ["93.184.216.34"]


def test_a_real_name_of_loopback_is_screened_by_its_real_addresses() -> None:
    with pytest.raises(UrlRefusedError, match="localhost resolves to"):
        screen_url("http://localhost:9/")

    screened = screen_url("http://localhost:9/", policy=DEV)

    assert screened.addresses
    assert all(a.is_loopback for a in screened.addresses)
    assert screened.host_header == "localhost:9"


def test_a_lookup_that_hangs_is_given_up_on_within_its_bound() -> None:
    release = threading.Event()

    def never(*_: object) -> Sequence[tuple[Any, ...]]:
        release.wait(30)  # a resolver that never answers (released at the end)
        raise socket.gaierror("released")

    try:
        began = time.monotonic()
        with pytest.raises(NodeUrlError) as caught:
            screen_url(
                "https://stuck.example/",
                policy=AddressPolicy(resolver=never, resolve_timeout=0.3),
                error=NodeUrlError,
            )
        assert time.monotonic() - began < 1.5
        assert caught.value.reason == "dns-timeout"
        assert "did not resolve within 0.3 s" in str(caught.value)

        began = time.monotonic()
        with pytest.raises(RemoteNodeError) as fetched:
            fetch_bundle(
                "https://stuck.example/v1/x",
                addresses=AddressPolicy(resolver=never, resolve_timeout=0.3),
            )
        assert time.monotonic() - began < 1.5
        assert fetched.value.reason == "timeout"
    finally:
        release.set()


def test_a_name_that_does_not_resolve_is_unreachable() -> None:
    def nowhere(*_: object) -> Sequence[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle("https://gone.example/x", addresses=AddressPolicy(resolver=nowhere))

    assert caught.value.reason == "unreachable"
    assert "gone.example does not resolve" in str(caught.value)


def test_a_refused_node_url_is_never_fetched(hostile: HostileNode) -> None:
    hostile.mode = "garbage"
    before = hostile.requests
    port = hostile.url.rsplit(":", 1)[1]

    for url in (hostile.url, f"http://localhost:{port}"):
        with pytest.raises(RemoteNodeError) as caught:
            fetch_bundle(f"{url}/v1/batches/0x{'00' * 32}/bundle")
        assert caught.value.reason == "refused-address"

    assert hostile.requests == before


def test_the_request_goes_to_the_screened_address_with_the_name_as_host(
    hostile: HostileNode,
) -> None:
    """A name no real resolver knows, answered once by the screening's resolver: the
    fetch reaches the node at the address screened, naming the host in its Host header;
    a second lookup (which a rebinding DNS would answer with 10.0.0.7) never happens."""
    hostile.mode = "garbage"
    port = hostile.url.rsplit(":", 1)[1]
    resolver = answers("127.0.0.1")
    before = hostile.requests

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle(
            f"http://node-b.invalid:{port}/v1/x",
            addresses=AddressPolicy(allow_private=True, resolver=resolver),
        )

    assert caught.value.reason == "not-json"  # it was reached, and answered garbage
    assert hostile.requests == before + 1
    assert hostile.host == f"node-b.invalid:{port}"
    assert resolver.calls == ["node-b.invalid"]


def test_the_next_screened_address_is_tried_when_one_refuses(hostile: HostileNode) -> None:
    hostile.mode = "garbage"
    port = hostile.url.rsplit(":", 1)[1]
    before = hostile.requests

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle(
            f"http://node-b.invalid:{port}/v1/x",
            addresses=AddressPolicy(allow_private=True, resolver=answers("127.0.0.3", "127.0.0.1")),
        )

    assert caught.value.reason == "not-json"
    assert hostile.requests == before + 1


def test_webhooks_are_screened_by_the_same_definition() -> None:
    with pytest.raises(WebhookUrlError, match="a webhook URL is http"):
        check_url("ftp://example.com/")
    with pytest.raises(WebhookUrlError) as caught:
        check_url("http://10.0.0.7/hook", allow_loopback=True)
    assert caught.value.reason == "refused-address"
    assert check_url("http://127.0.0.1:9/hook", allow_loopback=True)


def test_over_tls_the_name_is_the_server_name_sent_and_checked(tmp_path: Path) -> None:
    """Connecting to the address screened, the TLS handshake still names the host (SNI)
    and the certificate is checked against it: a self-signed one is refused."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node-b.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("node-b.test")]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda _socket, server_name, _context: names.append(server_name)
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.timeout = 5
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        with pytest.raises(RemoteNodeError) as caught:
            fetch_bundle(
                f"https://node-b.test:{server.server_address[1]}/v1/x",
                addresses=AddressPolicy(allow_private=True, resolver=answers("127.0.0.1")),
            )
    finally:
        thread.join(timeout=5)
        server.server_close()

    assert names == ["node-b.test"]
    assert caught.value.reason == "unreachable"  # the self-signed certificate, refused


@pytest.mark.parametrize(
    "url",
    ["http://example.com/a\x00b", "http://example.com/\x7f", "http://example.com/a\u2028b"],
)
def test_a_url_with_control_characters_is_refused_before_any_lookup(url: str) -> None:
    # A NUL once reached PostgreSQL (a 500 whose log held the webhook's secret).
    with pytest.raises(UrlRefusedError, match="control characters"):
        screen_url(url)
