"""Where the node may send a webhook: an http(s) URL whose host resolves only to public
addresses, screened by the node's one definition of that (node/network/addresses.py):
private, loopback, link-local (cloud metadata at 169.254.169.254 among them), multicast
and reserved addresses are refused, so a partner cannot aim the node at its own network;
loopback is allowed only by an explicit setting (the tests' local receivers). The check
runs when an endpoint is added and again before every run of deliveries (a name may be
re-pointed after it was added), and the deliveries go to the addresses it screened: no
second lookup, which a hostile DNS could answer otherwise (DNS rebinding)."""

from __future__ import annotations

import socket

from node.exceptions import WebhookUrlError
from node.network.addresses import AddressPolicy, Resolver, ScreenedUrl, screen_url


def check_url(url: str, *, allow_loopback: bool = False) -> str:
    """``url`` if the node may send to it; :class:`WebhookUrlError` naming why not."""
    screen_webhook_url(url, allow_loopback=allow_loopback)
    return url


def screen_webhook_url(
    url: str, *, allow_loopback: bool = False, resolver: Resolver = socket.getaddrinfo
) -> ScreenedUrl:
    """``url`` screened, with the addresses deliveries go to (:func:`check_url`'s rule);
    ``resolver``: the lookup (tests give their own)."""
    return screen_url(
        url,
        what="a webhook URL",
        policy=AddressPolicy(allow_loopback=allow_loopback, resolver=resolver),
        error=WebhookUrlError,
    )
