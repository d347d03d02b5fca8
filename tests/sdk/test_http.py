"""Problems into typed errors, Retry-After, backoff bounds, /v1/info checks: the SDK's
pure parts, on the documents a gateway really sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.events.typed_data import Action, Domain, TraceEvent, typed_data
from node.exceptions import (
    EpcisEventRejectedError,
    GatewayError,
    GatewayMismatchError,
    HeadMismatchError,
    InvalidParametersError,
    NotCustodianError,
    RateLimitedError,
)
from node.sdk import GatewayInfo, RetryPolicy
from node.sdk.client import own_path
from node.sdk.http import _retry_after, error_from_problem

BATCH_REGISTRY = "0x" + "ab" * 20


def info_document(**changes: Any) -> dict[str, Any]:
    domain = Domain(31337, bytes.fromhex(BATCH_REGISTRY[2:]))
    document = typed_data(TraceEvent(Action.COMMISSION), domain)
    return {
        "chainId": "31337",
        "nodeVersion": "0.1.0",
        "contracts": {
            "participantRegistry": "0x" + "01" * 20,
            "batchRegistry": BATCH_REGISTRY,
            "anchorRegistry": "0x" + "02" * 20,
        },
        "eip712": {k: document[k] for k in ("types", "primaryType", "domain")},
        "actions": {a.name: int(a) for a in Action},
        "limits": {"maxEventsPerRequest": 1000, "maxBodyBytes": 4 << 20},
    } | changes


def test_a_rejection_problem_becomes_its_class_with_the_rules_arguments() -> None:
    error = error_from_problem(
        {
            "type": "urn:tracenode:problem:not-custodian",
            "title": "Not custodian",
            "status": 409,
            "detail": "only the batch's custodian may do this",
            "code": "not-custodian",
            "batchId": "0x" + "11" * 32,
            "signer": "0xAbc",
            "contractError": "BatchRegistryNotCustodian",
        },
        status=409,
    )

    assert type(error) is NotCustodianError
    assert str(error) == "only the batch's custodian may do this"
    assert error.details["batchId"] == "0x" + "11" * 32
    assert error.details["signer"] == "0xAbc"


def test_problems_with_their_own_members_keep_them() -> None:
    epcis = error_from_problem(
        {
            "code": "epcis-event-rejected",
            "detail": "event 1 refused",
            "eventIndex": 1,
            "pointer": "/document/epcisBody/eventList/1",
            "cause": {"code": "head-mismatch", "detail": "stale head"},
        }
    )
    limited = error_from_problem({"code": "rate-limited", "detail": "slow", "retryAfter": 2.5})
    invalid = error_from_problem(
        {"code": "validation-error", "detail": "bad", "errors": [{"field": "body.x"}]}
    )

    assert isinstance(epcis, EpcisEventRejectedError)
    assert (epcis.event_index, epcis.pointer) == (1, "/document/epcisBody/eventList/1")
    assert isinstance(epcis.cause, HeadMismatchError)
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 2.5
    assert isinstance(invalid, InvalidParametersError)
    assert invalid.errors == [{"field": "body.x"}]


@pytest.mark.parametrize(
    "problem",
    [
        {"code": "no-such-code", "detail": "?"},
        {"code": "gateway-mismatch", "detail": "the SDK's own, never the gateway's"},
        {"code": "contract-error", "detail": "built from the chain only"},
        {"detail": "no code at all"},
    ],
)
def test_an_unknown_problem_is_a_gateway_error_holding_the_document(
    problem: dict[str, Any],
) -> None:
    error = error_from_problem(problem, status=418)

    assert type(error) is GatewayError
    assert error.problem == problem
    assert error.status == 418


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    assert _retry_after("\u00b2") is None  # a superscript two: int() and float() refuse it
    assert _retry_after("\u0661\u0662") is None  # Arabic-Indic digits are no delta-seconds
    seconds = _retry_after(later)
    assert seconds is not None
    assert 25 <= seconds <= 30
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: at once


@given(st.integers(min_value=0, max_value=60))
def test_backoff_grows_and_stays_bounded(retry: int) -> None:
    policy = RetryPolicy(base_delay=0.25, max_delay=8.0)
    ceiling = min(8.0, 0.25 * 2.0**retry)

    assert ceiling / 2 <= policy.backoff(retry) <= ceiling


def test_an_info_document_is_read_when_it_is_what_it_claims() -> None:
    info = GatewayInfo.parse(info_document())

    assert info.domain == Domain(31337, bytes.fromhex(BATCH_REGISTRY[2:]))
    assert info.max_events_per_request == 1000


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"chainId": 1}, GatewayMismatchError),  # the domain says 31337
        ({"contracts": {"batchRegistry": "0x" + "cd" * 20}}, GatewayError),  # incomplete
        ({"actions": {"COMMISSION": 2}}, GatewayMismatchError),
        ({"limits": {"maxEventsPerRequest": 0, "maxBodyBytes": 10}}, GatewayError),
        ({"eip712": "not an object"}, GatewayError),
        ({"chainId": 31337.0}, GatewayError),
        ({"chainId": "0x7a69"}, GatewayError),
    ],
)
def test_an_info_document_that_contradicts_itself_is_refused(
    changes: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        GatewayInfo.parse(info_document(**changes))


def test_a_domain_naming_another_contract_or_version_is_refused() -> None:
    document = info_document()
    for change in (
        {"verifyingContract": "0x" + "cd" * 20},
        {"version": "2"},
        {"name": "Other"},
        {"chainId": True},
        {"chainId": "1"},
        {"salt": "0x00"},
    ):
        tampered = info_document(
            eip712=document["eip712"] | {"domain": document["eip712"]["domain"] | change}
        )
        with pytest.raises(GatewayMismatchError):
            GatewayInfo.parse(tampered)
    not_info: Any
    for not_info in (None, [], "x", {"eip712": {}}):
        with pytest.raises(GatewayError):
            GatewayInfo.parse(not_info)


@pytest.mark.parametrize(
    ("gateway", "location", "path"),
    [
        ("https://gw.example", "/v1/epcis/capture/cap_1", "/v1/epcis/capture/cap_1"),
        (
            "https://gw.example",
            "https://GW.example/v1/epcis/capture/cap_1",
            "/v1/epcis/capture/cap_1",
        ),
        ("https://gw.example/node", "https://gw.example/node/v1/x?y=1", "/v1/x?y=1"),
    ],
)
def test_a_location_on_the_gateway_is_followed_as_its_path(
    gateway: str, location: str, path: str
) -> None:
    assert own_path(gateway, location) == path


@pytest.mark.parametrize(
    "location",
    ["https://evil.example/v1/x", "http://gw.example/v1/x", "//evil.example/v1/x", "v1/x"],
)
def test_a_location_elsewhere_is_not_followed_with_the_key(location: str) -> None:
    # The client sends its API key with every request: polling a capture job at a
    # Location on another origin once sent it there.
    with pytest.raises(GatewayError, match="Location"):
        own_path("https://gw.example", location)
