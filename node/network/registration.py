"""Whether the registry names this node where it says it serves (``tracenode serve
--public-url``): other nodes fetch its bundles from the URL the chain holds; whether a
URL about to be written there is one other nodes would fetch from; and the root's
registration of a node (:func:`enrol_node`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from eth_typing import ChecksumAddress

from node.chain.deploy import Deployment, grant_relayer
from node.chain.errors import call_reverted
from node.chain.registry import ParticipantRegistryClient
from node.chain.transact import Sender
from node.events.identifiers import PrefixKind
from node.exceptions import NodeUrlError, UrlRefusedError
from node.network.addresses import AddressPolicy, screen_url


def registration_note(
    registry: ParticipantRegistryClient, operator: ChecksumAddress, public_url: str | None
) -> str | None:
    """None when the node operated by ``operator`` is registered at ``public_url`` (or
    neither is set: a node alone); otherwise one line saying what differs."""
    try:
        node_id = registry.node_of(operator)
    except Exception as exc:
        if call_reverted(exc):  # a deployment older than the node registry
            return None
        raise
    if node_id == 0:
        if public_url is None:
            return None
        return (
            f"this node is not in the chain's node registry: other nodes cannot find it at "
            f"{public_url} (the root runs `tracenode node register --registrar {operator} "
            f"--url {public_url}`)"
        )
    registered = registry.node(node_id).url.rstrip("/")
    if public_url is None:
        return f"the node registry names this node (node {node_id}) at {registered}"
    if registered != public_url.rstrip("/"):
        return (
            f"the node registry names this node (node {node_id}) at {registered}, not at "
            f"{public_url}: other nodes fetch from the former (`tracenode node set-url "
            f"{node_id} {public_url}`)"
        )
    return None


def check_node_url(url: str, addresses: AddressPolicy) -> str | None:
    """Before ``url`` is written to the node registry (register, set-url): a
    :class:`NodeUrlError` when nodes screening under ``addresses`` would refuse to fetch
    from it (malformed, or an address they do not fetch from); a warning when its name
    does not resolve from here (it may where the other nodes are); None when it is fine.
    The chain is the truth: every node screens the URL again before each fetch."""
    try:
        screen_url(url, what="a node's URL", policy=addresses, error=NodeUrlError)
    except NodeUrlError as exc:
        if exc.reason in ("unresolved", "dns-timeout"):
            return f"{exc}: other nodes cannot reach it until it does"
        if exc.reason == "refused-address" and _allowed_privately(url, addresses):
            raise NodeUrlError(
                f"{exc}; other nodes refuse to fetch from it too (a development network on "
                "private addresses: `tracenode init --allow-private-peers`, or `serve "
                "--allow-private-peers`)",
                exc.reason,
            ) from None
        raise
    return None


def _allowed_privately(url: str, addresses: AddressPolicy) -> bool:
    """Whether ``url``, refused under ``addresses``, would pass with private peers allowed
    (then the refusal names the setting; a link-local address passes under none)."""
    if addresses.allow_private:
        return False
    try:
        screen_url(url, policy=replace(addresses, allow_private=True))
    except UrlRefusedError:
        return False
    return True


def enrol_node(
    registry: ParticipantRegistryClient,
    deployment: Deployment,
    root: Sender,
    *,
    registrar: ChecksumAddress,
    url: str,
    relayer: ChecksumAddress | None = None,
    ranges: Sequence[tuple[PrefixKind, str]] = (),
) -> int:
    """The root registers a node (``tracenode node register``, the two-node demo): its
    registrar, its URL, the ranges delegated to it and, if given, its node key as a
    relayer (may relay events and anchor roots). Its id."""
    node_id = registry.register_node(root, registrar=registrar, url=url)
    for kind, prefix in ranges:
        registry.delegate(root, registrar=registrar, kind=kind, prefix=prefix)
    if relayer is not None:
        grant_relayer(registry.w3, deployment, root, relayer)
    return node_id
