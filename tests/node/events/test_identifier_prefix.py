"""Identifier prefixes (what webhook subscriptions name): a GS1 company prefix, a product,
a handle prefix; each matches its family and nothing beside it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.events.identifiers import (
    PrefixFamily,
    gtin_check_digit,
    parse_identifier,
    parse_identifier_prefix,
)
from node.exceptions import InvalidIdentifierError

LOT = "https://id.gs1.org/01/09506000134352/10/LOT-1"


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        ("9506000", PrefixFamily.COMPANY, "9506000"),
        (" 950600 ", PrefixFamily.COMPANY, "950600"),
        ("88.123", PrefixFamily.HANDLE, "88.123"),
        ("hdl:88.123.45", PrefixFamily.HANDLE, "88.123.45"),
        ("https://example.com/01/9506000134352", PrefixFamily.PRODUCT, LOT.rsplit("/10/", 1)[0]),
        ("(01)09506000134352", PrefixFamily.PRODUCT, "https://id.gs1.org/01/09506000134352"),
    ],
)
def test_each_spelling_reads_to_its_canonical_prefix(
    text: str, kind: PrefixFamily, canonical: str
) -> None:
    prefix = parse_identifier_prefix(text)

    assert (prefix.kind, prefix.text) == (kind, canonical)
    assert parse_identifier_prefix(prefix.text) == prefix


@pytest.mark.parametrize(
    "text",
    ["", "12345", "1234567890123", "88", "abc", LOT, "88.123.45/lot-7", "0x" + "ab" * 32],
)
def test_what_names_no_family_is_refused(text: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        parse_identifier_prefix(text)


@pytest.mark.parametrize(
    ("prefix", "identifier", "matches"),
    [
        ("9506000", LOT, True),
        ("950600", LOT, True),
        ("9506001", LOT, False),
        ("0950600", LOT, False),  # the indicator digit is not part of the company prefix
        ("https://id.gs1.org/01/09506000134352", LOT, True),
        (
            "https://id.gs1.org/01/09506000134352",
            "https://id.gs1.org/01/09506000134352/21/S1",
            True,
        ),
        ("https://id.gs1.org/01/09506000134369", LOT, False),
        ("88.123", "88.123/lot", True),
        ("88.123", "88.123.45/lot", True),
        ("88.123", "88.1234/lot", False),
        ("88.123.45", "88.123/45.lot", False),
        ("9506000", "88.123.45/lot", False),
        ("88.123", LOT, False),
    ],
)
def test_a_prefix_matches_its_family_only(prefix: str, identifier: str, matches: bool) -> None:
    canonical = parse_identifier(identifier).canonical

    assert parse_identifier_prefix(prefix).matches(canonical) is matches


@given(
    company=st.text("0123456789", min_size=6, max_size=12),
    indicator=st.sampled_from("0123456789"),
    rest=st.text("0123456789", min_size=12, max_size=12),
    lot=st.text("ABCXYZ0123-", min_size=1, max_size=20),
)
def test_every_lot_of_a_gtin_a_company_prefix_allocated_matches_it(
    company: str, indicator: str, rest: str, lot: str
) -> None:
    body = (indicator + company + rest)[:13]
    gtin = body + str(gtin_check_digit(body))
    canonical = parse_identifier(f"https://id.gs1.org/01/{gtin}/10/{lot}").canonical

    assert parse_identifier_prefix(company).matches(canonical)
