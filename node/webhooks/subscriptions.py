"""What a webhook endpoint subscribes to, read and checked in one place for the API and
the CLI (docs/monitor.md, "Subscriptions"): message types, a least alert severity, and a
scope of batches and identifier prefixes. Anything it cannot use is a
:class:`WebhookSubscriptionError` naming it, before anything is stored."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from node.events.identifiers import parse_identifier, parse_identifier_prefix
from node.exceptions import InvalidIdentifierError, WebhookSubscriptionError
from node.store.models import AlertSeverity
from node.store.records import EndpointRecord, Subscription
from node.webhooks.messages import MESSAGE_TYPES

#: The most batches, and identifier prefixes, one endpoint may name.
MAX_BATCHES: Final = 100
MAX_PREFIXES: Final = 20
SEVERITIES: Final = tuple(s.name.lower() for s in AlertSeverity)


def subscription(
    *,
    types: Iterable[str],
    min_severity: str,
    batches: Iterable[str] = (),
    prefixes: Iterable[str] = (),
) -> Subscription:
    """The subscription these filters spell (batches in any identifier spelling, prefixes as
    :func:`node.events.identifiers.parse_identifier_prefix` reads them), or
    :class:`WebhookSubscriptionError` naming the first that is wrong."""
    named = list(types)
    unknown = sorted(set(named) - set(MESSAGE_TYPES))
    if unknown or not named:
        raise WebhookSubscriptionError(
            f"unknown message types {unknown}: choose from {', '.join(MESSAGE_TYPES)}"
            if unknown
            else f"no message type: choose from {', '.join(MESSAGE_TYPES)}"
        )
    try:
        severity = AlertSeverity[min_severity.upper()]
    except KeyError:
        raise WebhookSubscriptionError(
            f"unknown severity {min_severity!r}: choose from {', '.join(SEVERITIES)}"
        ) from None
    batch_texts, prefix_texts = list(batches), list(prefixes)
    if len(batch_texts) > MAX_BATCHES or len(prefix_texts) > MAX_PREFIXES:
        raise WebhookSubscriptionError(
            f"at most {MAX_BATCHES} batches and {MAX_PREFIXES} identifier prefixes per "
            f"endpoint, got {len(batch_texts)} and {len(prefix_texts)}"
        )
    batch_ids: dict[bytes, None] = {}
    canonical: dict[str, None] = {}
    try:
        for text in batch_texts:
            what = f"batch {text[:80]!r}"
            batch_ids[bytes(parse_identifier(text).batch_id)] = None
        for text in prefix_texts:
            what = f"identifier prefix {text[:80]!r}"
            canonical[parse_identifier_prefix(text).text] = None
    except InvalidIdentifierError as exc:
        raise WebhookSubscriptionError(f"{what}: {exc}") from None
    return Subscription(
        types=tuple(t for t in MESSAGE_TYPES if t in named),
        min_severity=severity,
        batch_ids=tuple(batch_ids),
        prefixes=tuple(canonical),
    )


def changed(
    endpoint: EndpointRecord,
    *,
    types: Iterable[str] | None = None,
    min_severity: str | None = None,
    batches: Iterable[str] | None = None,
    prefixes: Iterable[str] | None = None,
) -> Subscription:
    """``endpoint``'s subscription with each filter given replaced (a list as a whole),
    checked as :func:`subscription` checks a new one."""
    was = endpoint.subscription
    return subscription(
        types=was.types if types is None else types,
        min_severity=was.min_severity.name if min_severity is None else min_severity,
        batches=["0x" + b.hex() for b in was.batch_ids] if batches is None else batches,
        prefixes=was.prefixes if prefixes is None else prefixes,
    )
