"""The OpenAPI document and the identifier parser agree on how long an identifier may be:
one constant, node.events.identifiers.MAX_IDENTIFIER_LENGTH. Whatever length the document
allows, the server does not refuse for length; one character more is a validation error
naming the parameter."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from node.events.identifiers import GS1_RESOLVER, MAX_IDENTIFIER_LENGTH
from tests.api.conftest import GTIN, Rig

#: The path-prefix of the Digital Link paths served on this host (/01/{rest}).
DIGITAL_LINK_PREFIX = f"{GS1_RESOLVER}/01/"


def identifier_of_length(length: int) -> str:
    """A valid GS1 Digital Link of exactly ``length`` characters (a long host name)."""
    tail = f"/01/{GTIN}/10/LONG-1"
    return "https://" + "h" * (length - len("https://") - len(tail)) + tail


def path_parameters(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "query") and parameter["schema"].get("type") == (
                    "string"
                ):
                    found[(path, parameter["name"])] = parameter["schema"]
    return found


def test_every_identifier_parameter_has_the_parsers_bound(rig: Rig) -> None:
    parameters = path_parameters(rig.client.get("/openapi.json").json())
    identifiers = {
        key: schema for key, schema in parameters.items() if key[1] in ("id", "identifier")
    }

    assert ("/v1/batches/{id}", "id") in identifiers
    assert ("/v1/batches/{id}/provenance", "id") in identifiers
    assert ("/v1/resolve/{identifier}", "identifier") in identifiers
    assert {key: schema["maxLength"] for key, schema in identifiers.items()} == dict.fromkeys(
        identifiers, MAX_IDENTIFIER_LENGTH
    )
    assert parameters[("/01/{rest}", "rest")]["maxLength"] == MAX_IDENTIFIER_LENGTH - len(
        DIGITAL_LINK_PREFIX
    )


@pytest.mark.parametrize("route", ["/v1/batches/{}", "/v1/batches/{}/provenance", "/v1/resolve/{}"])
def test_the_longest_identifier_the_schema_allows_is_looked_up_one_more_is_refused(
    rig: Rig, route: str
) -> None:
    longest = identifier_of_length(MAX_IDENTIFIER_LENGTH)
    too_long = identifier_of_length(MAX_IDENTIFIER_LENGTH + 1)

    found = rig.client.get(route.format(quote(longest, safe="")))
    refused = rig.client.get(route.format(quote(too_long, safe="")))

    assert found.status_code == 404, found.text
    assert found.json()["code"] == "batch-not-found"
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "validation-error"
    assert [e["field"] for e in problem["errors"]] in (["path.id"], ["path.identifier"])


def test_digital_link_paths_are_bounded_by_the_same_constant(rig: Rig) -> None:
    bound = MAX_IDENTIFIER_LENGTH - len(DIGITAL_LINK_PREFIX)
    rest = f"{GTIN}/10/LOT-1/"
    longest = rest + "x" * (bound - len(rest))

    at_bound = rig.client.get(f"/01/{longest}")
    over = rig.client.get(f"/01/{longest}x")

    # At the bound the parser judges the content (an unknown trailing segment), never the
    # length; one more character is the schema's validation error.
    assert at_bound.status_code in (404, 422), at_bound.text
    assert "too long" not in at_bound.json()["detail"]
    assert over.status_code == 422
    assert over.json()["code"] == "validation-error"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/batches/88.123.45/%ff",
        "/v1/batches/88.123.45%2F%ff",
        "/v1/batches/88.123.45%2FA%C3/provenance",
        "/v1/batches/88.123.45%2F%ff/overview",
        "/v1/batches/88.123.45%2F%ff/qr.svg",
        "/v1/resolve/88.123.45/%ff",
        "/v1/resolve/88.123.45%2F%fe%ff",
        f"/v1/resolve/https%3A%2F%2Fid.gs1.org%2F01%2F{GTIN}%2F10%2F%ff",
    ],
)
def test_an_identifier_that_is_not_utf8_once_percent_decoded_is_refused(
    rig: Rig, path: str
) -> None:
    """The server decodes a path's escapes with errors='replace': %ff reached the parser
    as U+FFFD and was looked up (404 "no batch 88.123.45/\ufffd"). Refused as /01/... is."""
    answer = rig.client.get(path)
    page = rig.client.get(path, headers={"Accept": "text/html"})

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid-identifier"
    assert answer.json()["detail"] == "the identifier is not UTF-8 once percent-decoded"
    assert page.status_code == 422


def test_an_identifier_holding_u_fffd_itself_is_looked_up(rig: Rig) -> None:
    for path in ("/v1/batches/88.123.45%2F%EF%BF%BD", "/v1/resolve/88.123.45/%EF%BF%BD?x=%ff"):
        answer = rig.client.get(path)
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "batch-not-found"
    lot = rig.client.get(f"/01/{GTIN}/10/%ff")
    assert lot.status_code == 422
    assert lot.json()["detail"].endswith("is not UTF-8 once percent-decoded")
