"""Named EPCIS queries and their subscriptions (EPCIS 2.0 REST bindings, docs/epcis.md
"Named queries" and "Subscriptions").

A **named query** is a SimpleEventQuery an owner keeps under a name: its parameters, read
and checked by the very parser ``GET /v1/epcis/events`` uses
(:func:`node.epcis.query.parse_query`, one definition), stored as given. Running it adds
only the page's parameters (``perPage``, ``nextPageToken``).

A **subscription** to a named query sends, after each capture, the newly captured events
that match it as an EPCIS query document (``queryName`` the query's, ``subscriptionID``
the subscription's) to its destination, through the node's webhooks: a webhook endpoint
of its own, written to the outbox in the capture's transaction, signed per Standard
Webhooks, retried, its address screened (node.webhooks, one definition of each).
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from node.epcis.query import EventQuery, Match, Term, parse_query
from node.epcis.results import answered, find, query_document
from node.exceptions import (
    EpcisNamedQueryExistsError,
    EpcisQueryError,
    EpcisSubscriptionError,
)
from node.store.models import AlertSeverity
from node.store.records import NamedQueryRecord, QuerySubscriptionRecord, Subscription
from node.store.store import Store
from node.webhooks.addresses import check_url
from node.webhooks.messages import EPCIS_QUERY, Message, enqueue, new_secret

log = logging.getLogger(__name__)

#: A query's name: one URL path segment, as the bindings' ``/queries/{queryName}``.
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}")
#: Parameters given when a query is run, never part of its definition.
PAGE_PARAMETERS: Final = frozenset({"perPage", "nextPageToken"})
#: At most this many parameters (values counted) in one definition.
MAX_VALUES: Final = 100
MAX_QUERIES: Final = 100  # per owner
MAX_SUBSCRIPTIONS: Final = 20  # per owner
#: A signatureToken: the key of the receiver's signatures (16 to 256 printable characters).
TOKEN: Final = re.compile(r"[\x21-\x7e]{16,256}")


def owner_of(*, participant_id: int | None, admin: bool, key_id: str) -> str:
    """Whose named queries an API key holds: its participant's, the admin's, else its own."""
    if participant_id is not None:
        return f"participant:{participant_id}"
    return "admin" if admin else f"key:{key_id}"


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise EpcisQueryError(
            "a query's name is 1 to 128 letters, digits, '.', '_', '~' or '-', starting "
            "with a letter or digit",
            parameter="name",
        )
    return name


def definition(raw: Any) -> dict[str, list[str]]:
    """A named query's parameters (``{"EQ_bizStep": ["shipping"], "GE_eventTime": "..."}``:
    each a string, a list of strings, a whole number, or ``true`` for ``EXISTS_``), checked
    as ``GET /v1/epcis/events`` checks them, or :class:`EpcisQueryError` naming the first
    that is wrong."""
    if not isinstance(raw, Mapping):
        raise EpcisQueryError("a query is a JSON object of query parameters", parameter="query")
    found: dict[str, list[str]] = {}
    for name, value in raw.items():
        if name in PAGE_PARAMETERS:
            raise EpcisQueryError(
                f"{name} is given when the query is run, not in its definition", parameter=name
            )
        values = value if isinstance(value, list) else [value]
        texts: list[str] = []
        for item in values:
            if item is True and name.startswith("EXISTS_"):
                texts.append("")
            elif isinstance(item, int) and not isinstance(item, bool):
                texts.append(str(item))
            elif isinstance(item, str):
                texts.append(item)
            else:
                raise EpcisQueryError(
                    f"{name[:64]}: a value is a string, a list of strings or a number",
                    parameter=name[:64],
                )
        if not texts:
            raise EpcisQueryError(f"{name[:64]} has no value", parameter=name[:64])
        found[name] = texts
    if sum(len(v) for v in found.values()) > MAX_VALUES:
        raise EpcisQueryError(f"a query has at most {MAX_VALUES} values", parameter="query")
    parse_query(pairs(found), max_per_page=1)  # the one parser: refuses what it does not answer
    return found


def pairs(found: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, values in found.items() for value in values]


def run_query(
    query: NamedQueryRecord, page: Iterable[tuple[str, str]], *, max_per_page: int
) -> EventQuery:
    """The query ``query`` names, with the page's parameters of the request running it
    (anything else there is refused: the definition is the query)."""
    given = list(page)
    for name, _value in given:
        if name not in PAGE_PARAMETERS:
            raise EpcisQueryError(
                f"{name[:64]}: a named query is run as defined; only perPage and "
                "nextPageToken are given with it",
                parameter=name[:64],
            )
    return parse_query([*pairs(query.definition), *given], max_per_page=max_per_page)


def create(store: Store, *, owner: str, name: Any, query: Any, now: int) -> NamedQueryRecord:
    """Store a named query (checked first: nothing is stored when anything is wrong)."""
    checked_name, checked = check_name(name), definition(query)
    taken = EpcisNamedQueryExistsError(f"you have a query named {checked_name} already")
    try:
        with store.write() as conn:
            if store.epcis_queries.get(conn, owner, checked_name) is not None:
                raise taken
            if store.epcis_queries.count(conn, owner) >= MAX_QUERIES:
                raise EpcisNamedQueryExistsError(
                    f"at most {MAX_QUERIES} named queries per owner: delete one first"
                )
            return store.epcis_queries.add(
                conn, owner=owner, name=checked_name, definition=checked, now=now
            )
    except IntegrityError:  # the same name created meanwhile by another request
        raise taken from None


def delete(store: Store, query: NamedQueryRecord, *, now: int) -> None:
    """Delete a query and its subscriptions (their webhook endpoints stop sending)."""
    with store.write() as conn:
        for endpoint_id in store.epcis_queries.delete(conn, query.id):
            store.webhooks.disable(conn, endpoint_id, now=now)


def signing_secret(token: Any) -> str:
    """The Standard Webhooks secret that signs a subscription's deliveries: the client's
    ``signatureToken`` (its UTF-8 bytes are the HMAC key), else a fresh random one."""
    if token is None:
        return new_secret()
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise EpcisSubscriptionError(
            "signatureToken is 16 to 256 printable ASCII characters without spaces"
        )
    return "whsec_" + base64.b64encode(token.encode()).decode()


def subscribe(
    store: Store,
    *,
    owner: str,
    query: NamedQueryRecord,
    dest: Any,
    secret: str,
    allow_loopback: bool,
    now: int,
) -> tuple[QuerySubscriptionRecord, str]:
    """A stream subscription to ``query`` delivering to ``dest`` (screened as every webhook
    URL is, node.webhooks.addresses); the subscription and its signing secret."""
    if not isinstance(dest, str):
        raise EpcisSubscriptionError("dest is the http(s) URL deliveries are sent to")
    url = check_url(dest, allow_loopback=allow_loopback)  # resolves DNS
    with store.write() as conn:
        if store.epcis_queries.subscription_count(conn, owner) >= MAX_SUBSCRIPTIONS:
            raise EpcisSubscriptionError(
                f"at most {MAX_SUBSCRIPTIONS} subscriptions per owner: delete one first"
            )
        endpoint = store.webhooks.add_endpoint(
            conn,
            url=url,
            subscription=Subscription(types=(EPCIS_QUERY,), min_severity=AlertSeverity.LOW),
            label=f"EPCIS subscription to {query.name}"[:128],
            secret=secret,
            now=now,
        )
        found = store.epcis_queries.subscribe(
            conn,
            subscription_id="sub_" + secrets.token_hex(16),
            query_id=query.id,
            endpoint_id=endpoint.id,
            now=now,
        )
    return found, endpoint.secret


def unsubscribe(store: Store, subscription: QuerySubscriptionRecord, *, now: int) -> None:
    with store.write() as conn:
        store.epcis_queries.unsubscribe(conn, subscription.subscription_id)
        store.webhooks.disable(conn, subscription.endpoint_id, now=now)


def deliver_captured(conn: Connection, store: Store, hash_ids: list[str], *, now: int) -> int:
    """In a capture's transaction: for each subscription, the events just captured (by hash
    ID) that match its query, as one EPCIS query document in its endpoint's outbox; how
    many documents were written."""
    if not hash_ids:
        return 0
    subscribed = store.epcis_queries.active(conn)
    if not subscribed:
        return 0
    endpoints = {e.id: e for e in store.webhooks.endpoints(conn)}
    written = 0
    for subscription, query in subscribed:
        endpoint = endpoints.get(subscription.endpoint_id)
        if endpoint is None:
            continue
        try:
            base = parse_query(pairs(query.definition), max_per_page=1)
        except EpcisQueryError as exc:  # checked when stored: only a stricter parser since
            log.warning("EPCIS subscription %s not served: %s", subscription.subscription_id, exc)
            continue
        try:
            events = matching(conn, store, base, hash_ids)
        except EpcisQueryError as exc:  # the subscriber's query, not this capture, is at fault
            log.warning("EPCIS subscription %s not served: %s", subscription.subscription_id, exc)
            continue
        if not events:
            continue
        body = query_document(
            events,
            created_ms=now,
            query_name=query.name,
            subscription_id=subscription.subscription_id,
        )
        written += enqueue(
            conn, store.webhooks, [Message(EPCIS_QUERY, body)], now=now, endpoints=[endpoint]
        )
    return written


def matching(
    conn: Connection, store: Store, query: EventQuery, hash_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The events of ``hash_ids`` (just captured) that match ``query``, as a query answers
    them: what a subscription delivers, by webhook or over a WebSocket (node.epcis.stream)."""
    if not hash_ids:
        return []
    wanted = replace(
        query,
        matches=(*query.matches, Match(frozenset({Term.EVENT_ID.value}), frozenset(hash_ids))),
        count_limit=None,
        page=None,
        per_page=len(hash_ids),
    )
    return answered(conn, store, find(conn, store, wanted, limit=len(hash_ids)))
