"""Every JSON body is read one way (api/body.read_json): UTF-8 only, no NaN, no lone
surrogates, ``application/json`` (or ``+json``) only — docs/api.md, "Problems"."""

from __future__ import annotations

import json

import pytest

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
