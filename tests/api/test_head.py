"""HEAD is served wherever GET is (RFC 9110 §9.3.2, docs/api.md): the GET's status and
headers, ``Content-Length`` included, and no body (api/head.py)."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts

from tests.api.conftest import GTIN, Rig

PROBLEM = "urn:tracenode:problem:"


def get_paths(rig: Rig) -> list[str]:
    """Every GET route of the app (in the OpenAPI document or not), its parameters filled."""
    paths = []
    for route in iter_route_contexts(rig.app.routes):
        if "GET" in (route.methods or ()):
            paths.append(re.sub(r"\{[^}]+\}", "x", str(route.path_format)))
    return paths


def test_every_get_route_answers_head(rig: Rig) -> None:
    paths = get_paths(rig)
    assert len(paths) >= 40
    for path in paths:
        answer = rig.client.request("HEAD", path)
        assert answer.status_code != 405, (path, answer.headers.get("allow"))
        assert answer.content == b"", path


def test_head_is_the_get_without_its_body(rig: Rig) -> None:
    lot, document = rig.commission()
    assert rig.client.post("/v1/events", json=document, headers=rig.auth("farm")).status_code == 202
    html = {"Accept": "text/html"}
    for path, headers in [
        ("/v1/info", {}),
        ("/healthz", {}),
        ("/openapi.json", {}),
        ("/", {}),
        ("/docs", {}),
        ("/.well-known/gs1resolver", {}),
        (f"/01/{GTIN}", {}),
        (lot.removeprefix("https://id.gs1.org"), {"Accept": "application/linkset+json"}),
        (lot.removeprefix("https://id.gs1.org"), html),
        ("/v1/batches/88.123.45%2Fnothing", {}),
        ("/v1/batches/88.123.45%2Fnothing", html),
        ("/v1/nothing", {}),
    ]:
        get = rig.client.get(path, headers=headers)
        head = rig.client.request("HEAD", path, headers=headers)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        assert head.headers["content-length"] == str(len(get.content)), path
        for name in ("content-type", "location", "link", "vary", "etag", "allow"):
            assert head.headers.get(name) == get.headers.get(name), (path, name)


def test_a_head_is_counted_as_a_head_of_its_route(rig: Rig) -> None:
    rig.client.request("HEAD", "/v1/anchors")
    metrics = rig.client.get("/metrics").text
    assert 'tracenode_http_requests_total{method="HEAD",route="/v1/anchors",status="200"}' in (
        metrics
    )


def test_allow_lists_head_wherever_get_is(rig: Rig) -> None:
    info = rig.client.delete("/v1/info")
    rpc = rig.client.request("HEAD", "/rpc")

    assert info.status_code == 405
    assert info.headers["allow"] == "GET, HEAD"
    assert info.json()["detail"] == "DELETE is not allowed here"
    assert rpc.status_code == 405
    assert rpc.headers["allow"] == "POST"
    assert rpc.content == b""
