"""Every JSON body is read one way (api/body.read_json): UTF-8 only, no NaN, no lone
surrogates, ``application/json`` (or ``+json``) only — docs/api.md, "Problems"."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from api.body import JsonBodyRoute
from tests.api.conftest import Rig

PROBLEM = "urn:tracenode:problem:"
CHAIN_ID = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_a_body_in_utf16_or_utf32_is_malformed_json(rig: Rig, encoding: str) -> None:
    # json.loads on bytes detects UTF-16 and UTF-32; JSON between systems is UTF-8
    # (RFC 8259 §8.1), and docs/api.md refuses invalid UTF-8.
    body = json.dumps(CHAIN_ID).encode(encoding)
    answer = rig.client.post("/rpc", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == PROBLEM + "malformed-json"


def test_a_utf8_body_with_or_without_a_byte_order_mark_is_read(rig: Rig) -> None:
    for prefix in (b"", b"\xef\xbb\xbf"):
        body = prefix + json.dumps(CHAIN_ID).encode()
        answer = rig.client.post("/rpc", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"].startswith("0x")


def body_routes(rig: Rig) -> list[RouteContext]:
    """Every route whose body is a pydantic model."""
    return [
        route
        for route in iter_route_contexts(rig.app.routes)
        if isinstance(route.original_route, APIRoute) and route.body_field is not None
    ]


def test_every_body_model_is_read_by_read_json(rig: Rig) -> None:
    routes = body_routes(rig)
    assert len(routes) >= 10
    assert [r.path for r in routes if not isinstance(r.original_route, JsonBodyRoute)] == []


#: Bodies that are not JSON, each with the problem every JSON route answers.
NOT_JSON: list[tuple[bytes, str]] = [
    (b'{"name": NaN}', "malformed-json"),
    (b'{"name": Infinity}', "malformed-json"),
    (b"\xff\xfe{", "malformed-json"),
    (b'{"name": "\\ud800"}', "malformed-json"),
    (b'{"query": {"EQ_bizStep": ["\\udfff"]}, "name": "q"}', "malformed-json"),
    ('{"name": "x"}'.encode("utf-16"), "malformed-json"),
    (b"{", "malformed-json"),
]


def test_every_body_model_refuses_what_is_not_json_as_the_other_routes_do(rig: Rig) -> None:
    for route in body_routes(rig):
        (method,) = route.methods or {"?"}
        path = str(route.path_format).replace("{address}", "0x" + "11" * 20)
        path = re.sub(r"\{[^}]+\}", "1", path)
        headers = rig.auth("admin")
        for body, code in NOT_JSON:
            answer = rig.client.request(
                method, path, content=body, headers=headers | {"Content-Type": "application/json"}
            )
            assert answer.status_code == 400, (method, path, body, answer.text)
            assert answer.json()["type"] == PROBLEM + code, (method, path, body, answer.text)
        for media in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            answer = rig.client.request(
                method, path, content=b'{"name": "x"}', headers=headers | {"Content-Type": media}
            )
            assert answer.status_code == 415, (method, path, media, answer.text)
            assert answer.json()["type"] == PROBLEM + "unsupported-media-type"


def test_a_body_model_is_json_with_or_without_content_type(rig: Rig) -> None:
    body = json.dumps({"hashIds": [], "parties": []}).encode()
    for headers in (
        {},
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "application/vnd.example+json"},
    ):
        answer = rig.client.post("/v1/epcis/lookup", content=body, headers=headers)
        assert answer.status_code == 200, (headers, answer.text)
        assert answer.json()["known"] == {}
