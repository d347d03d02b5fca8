"""Fetching another node's proof bundle (node/network/resolution.py): whatever the other
node does — garbage, an HTTP error, a redirect, too much, too slowly, nothing at all — the
fetch ends within its bounds with a RemoteNodeError naming what went wrong."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import pytest

from node.exceptions import RemoteNodeError
from node.network.addresses import AddressPolicy
from node.network.resolution import fetch_bundle
from node.testing.serving import free_port
from tests.hostile_node import HostileNode, Mode, gzip_bomb, hostile_node

#: The hostile node listens on loopback: allowed here as a development network is.
LOCAL = AddressPolicy(allow_private=True)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileNode]:
    with hostile_node() as node:
        yield node


@pytest.mark.parametrize(
    ("mode", "body", "reason", "says"),
    [
        ("garbage", b"", "not-json", "not JSON"),
        ("status", b"", "http-status", "HTTP 500"),
        ("missing", b"", "not-found", "holds no such batch (HTTP 404)"),
        ("redirect", b"", "http-status", "HTTP 302"),
        ("bundle", b'{"format": "tracenode-bundle/2"}', "not-a-bundle", "not a proof bundle"),
        ("bundle", b"[" * 200_000 + b"]" * 200_000, "not-json", "not JSON"),
        ("huge", b"", "too-large", "larger than 8192 KiB"),
    ],
)
def test_a_bad_answer_is_refused_naming_why(
    hostile: HostileNode, mode: Mode, body: bytes, reason: str, says: str
) -> None:
    hostile.mode, hostile.body = mode, body

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle(f"{hostile.url}/v1/batches/0x{'00' * 32}/bundle", addresses=LOCAL)

    assert caught.value.reason == reason
    assert says in str(caught.value)


def test_a_slow_node_is_given_up_on_after_the_read_timeout(hostile: HostileNode) -> None:
    hostile.mode = "slow"
    began = time.monotonic()

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle(f"{hostile.url}/x", read_timeout=0.5, addresses=LOCAL)

    assert caught.value.reason == "timeout"
    assert time.monotonic() - began < 3


def test_a_dripping_node_is_given_up_on_after_the_total_timeout(hostile: HostileNode) -> None:
    hostile.mode = "drip"
    began = time.monotonic()

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle(f"{hostile.url}/x", read_timeout=0.5, total_timeout=1.0, addresses=LOCAL)

    assert caught.value.reason == "timeout"
    assert "longer than 1 s" in str(caught.value)
    assert time.monotonic() - began < 3


def test_a_node_dripping_its_headers_is_given_up_on_after_the_total_timeout(
    hostile: HostileNode,
) -> None:
    """The whole exchange is bounded, not only the body: a status line and then a header
    one byte every 0.1 s (each read well within its timeout) is given up on at the total
    timeout, not read for as long as the node likes."""
    hostile.mode = "header-drip"
    began = time.monotonic()

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle(f"{hostile.url}/x", read_timeout=0.5, total_timeout=1.0, addresses=LOCAL)

    assert caught.value.reason == "timeout"
    assert "longer than 1 s" in str(caught.value)
    assert time.monotonic() - began < 4  # the node drips for 10 s


def test_a_compressed_answer_is_refused_before_it_is_inflated(hostile: HostileNode) -> None:
    """A body asked for as it is (``Accept-Encoding: identity``) that comes gzipped anyway
    is refused unread: 250 KiB as sent would inflate to 256 MiB, a thousandfold of each
    read, before its size could be counted."""
    hostile.mode = "gzip-bomb"
    gzip_bomb()  # made before the count begins
    tracemalloc.start()
    try:
        with pytest.raises(RemoteNodeError) as caught:
            fetch_bundle(f"{hostile.url}/x", addresses=LOCAL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert caught.value.reason == "encoded"
    assert "compressed" in str(caught.value)
    assert peak < 16 * 1024 * 1024


def test_a_node_that_is_down_is_unreachable_at_once() -> None:
    began = time.monotonic()

    with pytest.raises(RemoteNodeError) as caught:
        fetch_bundle(f"http://127.0.0.1:{free_port()}/x", addresses=LOCAL)

    assert caught.value.reason == "unreachable"
    assert "ConnectError" in str(caught.value)
    assert time.monotonic() - began < 3
