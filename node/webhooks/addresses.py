"""Where the node may send a webhook: an http(s) URL whose host resolves only to public
addresses. Private, loopback, link-local (cloud metadata at 169.254.169.254 among them),
multicast and reserved addresses are refused, so a partner cannot aim the node at its own
network; loopback is allowed only by an explicit setting (the tests' local receivers).
The check runs when an endpoint is added and again before every attempt (a name may be
re-pointed after it was added)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from node.exceptions import WebhookUrlError

MAX_URL_LENGTH = 2048


def check_url(url: str, *, allow_loopback: bool = False) -> str:
    """``url`` if the node may send to it; :class:`WebhookUrlError` naming why not."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise WebhookUrlError("a webhook URL is at most 2048 characters, without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlError("a webhook URL is http:// or https:// with a host")
    if parts.username or parts.password:
        raise WebhookUrlError("a webhook URL carries no user name or password")
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlError(f"{parts.hostname} does not resolve: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address.is_loopback and allow_loopback:
            continue
        if not address.is_global or address.is_multicast:
            raise WebhookUrlError(
                f"{parts.hostname} resolves to {address}, a private, loopback, link-local "
                "or reserved address: the node does not send there"
            )
    return url
