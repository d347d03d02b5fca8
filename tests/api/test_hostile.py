"""Hostile input at every route: wrong types, huge bodies, deep nesting, invalid hex,
unknown fields, Unicode junk. Every answer is a 4xx problem (never a 5xx), and nothing is
written: not a row in the store, not a block on the chain — but the refusal record, which
is there to keep what the gateway refused (docs/monitor.md)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import func, select
from sqlmodel import SQLModel

from tests.api.conftest import Rig

PROBLEM_JSON = "application/problem+json"

HOSTILE_TEXT = [
    "",
    " ",
    "0x",
    "0x" + "zz" * 32,
    "0x" + "ab" * 33,
    "0X" + "AB" * 31,
    "-1",
    "1e309",
    "NaN",
    "null",
    "[]",
    "{}",
    "\u0000",
    "%00",
    "../../etc/passwd",
    "' OR 1=1 --",
    "\u202egnp.exe",
    "\U0001d54f" * 300,
    "🙂" * 50,
    "a" * 5000,
    "88.123.45/" + "x" * 200,
    "https://id.gs1.org/01/09506000134353/10/LOT",
    "urn:epc:class:lgtin:0614141.012345.%ZZ",
    "hdl:88./",
]

HOSTILE_JSON: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    2**300,
    "text",
    "",
    [],
    {},
    [1, "two", None],
    {"": ""},
    {"event": 5},
    {"event": {}, "signature": "0x"},
    {"event": [], "signature": []},
    {"unknown": "field", "extra": [1, 2, 3]},
    {"name": 5, "address": [], "roles": "producer"},
    {"name": "x" * 10_000, "address": "0x" + "g" * 40, "roles": ["producer"] * 100},
    {"participant": {"nested": True}, "admin": "yes", "label": 7},
    {"jsonrpc": "2.0", "id": {}, "method": "eth_call"},
    {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": {"to": "0x"}},
    {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": 5}]},
    {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"topics": [[[]]]}]},
    {"jsonrpc": "2.0", "id": 1, "method": "x" * 10_000},
]

RAW_BODIES: list[bytes] = [
    b"",
    b"{",
    b"[1,",
    b"\xff\xfe\xfd",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"name": "\\ud800", "address": "0x' + b"11" * 20 + b'", "roles": ["producer"]}',
    b'{"event": {"action": "\\udfff"}, "signature": "0x"}',
    b'{"a": 1' + b"0" * 5000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'"' + b"\\u0000" * 1000 + b'"',
]


def snapshot(rig: Rig) -> tuple[dict[str, int], int]:
    """Rows of every table but the refusal record, and the chain's height."""
    counts: dict[str, int] = {}
    with rig.node.store.read() as conn:
        for name, table in SQLModel.metadata.tables.items():
            if name != "refusals":
                counts[name] = int(
                    conn.execute(select(func.count()).select_from(table)).scalar_one()
                )
    return counts, rig.node.w3.eth.block_number


def refusals(rig: Rig) -> int:
    with rig.node.store.read() as conn:
        return len(rig.node.store.refusals.after(conn, 0, limit=100_000))


def assert_refused(answer: httpx.Response, what: str) -> None:
    assert answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:300]}"
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == PROBLEM_JSON, what
        problem = answer.json()
        assert problem["type"].startswith("urn:tracenode:problem:"), what
        assert problem["status"] == answer.status_code, what


def routes(rig: Rig) -> list[tuple[str, str]]:
    """Every operation the OpenAPI document lists."""
    paths = rig.client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", quote(value, safe=""), path)


def auth_for(path: str, rig: Rig) -> dict[str, str]:
    return rig.auth("farm") if path == "/v1/events" else rig.auth("admin")


def test_hostile_input_at_every_route_is_a_4xx_problem_and_writes_nothing(rig: Rig) -> None:
    before, recorded = snapshot(rig), refusals(rig)
    every = routes(rig)
    assert len(every) >= 15

    for method, path in every:
        headers = auth_for(path, rig) | {"Accept": "application/json"}
        if "{" in path:
            for text in HOSTILE_TEXT:
                answer = rig.client.request(method, fill(path, text), headers=headers)
                assert_refused(answer, f"{method} {path} with {text[:40]!r}")
                if method == "DELETE" or path.startswith(("/v1/events", "/v1/participants")):
                    assert answer.status_code >= 400, f"{method} {path} {text[:40]!r}"
        query = "&".join(
            f"{name}={quote(value, safe='')}"
            for name, value in (
                ("limit", "-5"),
                ("before", "abc"),
                ("severity", "\u0000"),
                ("linkType", "x" * 100),
            )
        )
        target = fill(path, "0x" + "ab" * 32) + "?" + query
        assert_refused(rig.client.request(method, target, headers=headers), f"{target}")
        if method != "POST":
            continue
        for document in HOSTILE_JSON:
            answer = rig.client.post(path, json=document, headers=headers)
            what = f"POST {path} with {json.dumps(document)[:60]}"
            assert_refused(answer, what)
            if path == "/rpc":
                assert answer.status_code >= 400 or "error" in json.dumps(answer.json()), what
            elif path == "/v1/events" and isinstance(document, list) and document:
                assert answer.status_code == 202, what
                assert answer.json()["accepted"] == 0, what
            else:
                assert answer.status_code >= 400, what
        for raw in RAW_BODIES:
            answer = rig.client.post(
                path, content=raw, headers=headers | {"Content-Type": "application/json"}
            )
            assert_refused(answer, f"POST {path} with raw {raw[:40]!r}")
            assert answer.status_code >= 400 or path == "/rpc", f"{path} {raw[:40]!r}"
        huge = b'["' + b"a" * rig.app.state.gateway.settings.max_body_bytes + b'"]'
        answer = rig.client.post(path, content=huge, headers=headers)
        assert answer.status_code == 413, path
        wrong_type = rig.client.post(
            path, content=b"<xml/>", headers=headers | {"Content-Type": "application/xml"}
        )
        assert_refused(wrong_type, f"POST {path} as XML")

    assert snapshot(rig) == before
    assert refusals(rig) > recorded  # the refused events and keys, for the monitor


def test_hostile_events_in_a_list_are_each_rejected_with_their_problem(rig: Rig) -> None:
    _, good = rig.commission()
    event = good["event"]
    broken: list[Any] = [dict(good, signature="0x" + "zz" * 65)]
    for field, junk in [
        ("action", 0),
        ("action", 10),
        ("action", -1),
        ("action", True),
        ("batchId", "0x1234"),
        ("batchId", 5),
        ("inputs", ["0x" + "00" * 32] * 65),
        ("inputs", "0x"),
        ("counterparty", "0x" + "00" * 21),
        ("quantity", "1" * 79),
        ("quantity", -1),
        ("quantity", "½"),
        ("eventTime", 2**64),
        ("nonce", 1.5),
        ("nonce", "0x10"),
        ("location", "\u0000" * 66),
    ]:
        broken.append(dict(good, event=dict(event, **{field: junk})))
    broken.append(dict(good, event=dict(event, surplus=1)))
    broken.append(dict(good, payload={"deep": [[[[[[[[[[]]]]]]]]]]}))
    broken.append(dict(good, identifiers=["88.1/\u0000"]))
    broken.append(dict(good, identifiers=["x"] * 65))
    broken.append(dict(good, unknown=True))
    before, recorded = snapshot(rig), refusals(rig)

    answer = rig.client.post("/v1/events", json=broken, headers=rig.auth("farm"))

    assert answer.status_code == 202
    results = answer.json()["results"]
    assert [r["outcome"] for r in results] == ["rejected"] * len(broken)
    assert all(r["problem"]["type"].startswith("urn:tracenode:problem:") for r in results)
    assert snapshot(rig) == before
    assert refusals(rig) > recorded  # sampled per caller, code and minute
