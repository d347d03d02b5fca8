"""Where the node may send a request of its own — a webhook (node/webhooks) or a fetch
from another node of the network (node/network/resolution.py): an http(s) URL whose host
resolves, within a bound of its own, only to addresses the node may reach.

Refused whatever the settings: link-local (cloud metadata at 169.254.169.254 among them),
multicast, unspecified and reserved addresses. Refused unless the policy allows them:
loopback (``allow_loopback``: the tests' local receivers) and private networks
(``allow_private``: 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, and loopback with
them: a development network of nodes).

:func:`screen_url` returns the addresses it screened; :func:`pinned_request` makes a
request go to the first of them, with the URL's name as the Host header and TLS server
name, so that no second lookup (which a hostile DNS could answer differently: DNS
rebinding) chooses where it goes.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from node.exceptions import UrlRefusedError

MAX_URL_LENGTH: Final = 2048
#: Seconds a host name's lookup may take before the URL is given up on.
RESOLVE_TIMEOUT: Final = 2.0
#: Lookups that may be pending at once: a lookup that hangs keeps its thread until the
#: system resolver gives up, so the number of such threads is bounded too.
MAX_PENDING_LOOKUPS: Final = 16

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``socket.getaddrinfo``'s shape: (host, port, family, type) -> [(.., .., .., .., sockaddr)].
Resolver = Callable[..., Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]]

#: Private networks (RFC 1918, shared address space RFC 6598, unique local RFC 4193).
_PRIVATE: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_PENDING = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """What a URL may resolve to, and how long its lookup may take."""

    allow_loopback: bool = False
    allow_private: bool = False  # private networks, loopback with them
    resolve_timeout: float = RESOLVE_TIMEOUT
    #: The lookup (``socket.getaddrinfo``); tests give one that never answers.
    resolver: Resolver = field(default=socket.getaddrinfo, repr=False, compare=False)


DEFAULT_POLICY: Final = AddressPolicy()


@dataclass(frozen=True, slots=True)
class ScreenedUrl:
    """A URL the node may send to: its parts and the addresses its host resolved to."""

    url: str
    scheme: str
    host: str  # as the URL names it (a name, or an address literal)
    port: int
    addresses: tuple[IpAddress, ...]

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def is_name(self) -> bool:
        return not _is_literal(self.host)

    def pinned_url(self, address: IpAddress) -> str:
        """The URL with its host replaced by ``address`` (one of :attr:`addresses`)."""
        parts = urlsplit(self.url)
        literal = f"[{address}]" if address.version == 6 else str(address)
        return urlunsplit(parts._replace(netloc=f"{literal}:{self.port}"))


def screen_url(
    url: str,
    *,
    what: str = "a URL",
    policy: AddressPolicy = DEFAULT_POLICY,
    error: type[UrlRefusedError] = UrlRefusedError,
) -> ScreenedUrl:
    """``url``'s parts and addresses if the node may send to it; ``error`` (a
    :class:`UrlRefusedError`) naming why not. ``what`` names the URL in messages."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        raise error(
            f"{what} is at most {MAX_URL_LENGTH} characters, without spaces or control characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise error(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise error(f"{what} is http:// or https:// with a host")
    if parts.username or parts.password:
        raise error(f"{what} carries no user name or password")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port, policy=policy, error=error)
    for address in addresses:
        if refused(address, policy):
            raise error(
                f"{host} resolves to {address}, a private, loopback, link-local or reserved "
                "address: the node does not send there",
                "refused-address",
            )
    return ScreenedUrl(url, parts.scheme, host, port, addresses)


def refused(address: IpAddress, policy: AddressPolicy = DEFAULT_POLICY) -> bool:
    """Whether the node may not send to ``address`` under ``policy``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if address.is_multicast or address.is_unspecified or address.is_link_local:
        return True
    if address.is_loopback:
        return not (policy.allow_loopback or policy.allow_private)
    if policy.allow_private and any(address in network for network in _PRIVATE):
        return False
    return not address.is_global


def resolve(
    host: str,
    port: int,
    *,
    policy: AddressPolicy = DEFAULT_POLICY,
    error: type[UrlRefusedError] = UrlRefusedError,
) -> tuple[IpAddress, ...]:
    """The addresses of ``host`` (itself, when it is an address literal), looked up in a
    thread of its own within ``policy.resolve_timeout`` seconds."""
    if _is_literal(host):
        return (ipaddress.ip_address(host.split("%", 1)[0]),)
    timeout = policy.resolve_timeout
    deadline = time.monotonic() + timeout
    late = error(f"{host} did not resolve within {timeout:g} s", "dns-timeout")
    if not _PENDING.acquire(timeout=timeout):
        raise late
    answer: list[Sequence[tuple[Any, ...]] | BaseException] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            answer.append(policy.resolver(host, port, 0, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the waiting thread
            answer.append(exc)
        finally:
            _PENDING.release()
            done.set()

    # A daemon thread: one stuck in the system resolver never holds the process open.
    threading.Thread(target=look_up, name="tracenode-dns", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise late
    found = answer[0]
    if isinstance(found, BaseException):
        if isinstance(found, (OSError, UnicodeError)):
            raise error(f"{host} does not resolve: {found}", "unresolved") from None
        raise found
    addresses = tuple(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found)
    )
    if not addresses:
        raise error(f"{host} does not resolve", "unresolved")
    return addresses


def pinned_request(
    screened: ScreenedUrl, address: IpAddress
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL, headers and httpx request extensions that send a request for ``screened``
    to ``address``: the host's name stays the Host header and, over TLS, the server name
    sent and the one the certificate is checked against."""
    extensions: dict[str, Any] = {}
    if screened.scheme == "https" and screened.is_name:
        extensions["sni_hostname"] = screened.host
    return screened.pinned_url(address), {"Host": screened.host_header}, extensions


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
