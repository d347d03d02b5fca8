"""Batch identifiers: every spelling of a lot gives one canonical string and one batch id."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import quote

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from node.events import identifiers
from node.events.identifiers import (
    Identifier,
    IdentifierKind,
    LotCode,
    Product,
    batch_id_of,
    gtin_check_digit,
    parse_identifier,
    parse_key,
    parse_lookup,
)
from node.events.typed_data import BatchId
from node.exceptions import InvalidIdentifierError, TraceNodeError

# GS1 General Specifications, figure 7.11-1, written out here rather than taken from the module.
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
LOT_CANONICAL = "https://id.gs1.org/01/09506000134352/10/ABC1"
ITEM_CANONICAL = "https://id.gs1.org/01/80614141123458/21/6789"
HANDLE_CANONICAL = "88.123.45/lot-1"


def digital_link(gtin: str, ai: str, value: str) -> str:
    """The canonical Digital Link, built independently of the module (urllib's quote)."""
    return f"https://id.gs1.org/01/{gtin}/{ai}/{quote(value, safe='')}"


def test_invalid_identifier_error_is_a_value_error_with_a_stable_code() -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        parse_identifier("not an identifier")

    assert isinstance(caught.value, TraceNodeError)
    assert isinstance(caught.value, ValueError)
    assert InvalidIdentifierError.code == "invalid-identifier"


def test_the_module_imports_no_store_chain_or_web_framework() -> None:
    tree = ast.parse(Path(identifiers.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}

    allowed = {"__future__", "re", "string", "dataclasses", "enum", "typing", "urllib.parse"}
    allowed |= {"node.events.hashing", "node.events.typed_data", "node.exceptions"}
    assert imported <= allowed


# --- GTIN check digit -------------------------------------------------------------------


@pytest.mark.parametrize(
    "gtin14",
    [
        "09506000134352",  # GS1 Digital Link examples
        "80614141123458",  # GS1 EPC Tag Data Standard, SGTIN example
        "04012345123456",  # GS1 EPC Tag Data Standard, LGTIN example
        "00614141123452",  # GTIN-12 614141123452
        "00000095012346",  # GTIN-8 95012346
    ],
)
def test_gtin_check_digit_matches_published_gtins(gtin14: str) -> None:
    assert gtin_check_digit(gtin14[:13]) == int(gtin14[13])


@pytest.mark.parametrize(
    "digits", ["", "950600013435", "09506000134352", "095060001343x", "\u0660" * 13]
)
def test_gtin_check_digit_needs_13_ascii_digits(digits: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="13 digits"):
        gtin_check_digit(digits)


digits13 = st.text(alphabet="0123456789", min_size=13, max_size=13)
gtins = digits13.map(lambda d: d + str(gtin_check_digit(d)))


@given(gtin=gtins, position=st.integers(0, 13), shift=st.integers(1, 9))
def test_a_single_changed_digit_fails_the_check(gtin: str, position: int, shift: int) -> None:
    changed = gtin[:position] + str((int(gtin[position]) + shift) % 10) + gtin[position + 1 :]

    with pytest.raises(InvalidIdentifierError, match="bad check digit"):
        parse_identifier(f"https://id.gs1.org/01/{changed}/10/ABC1")


# --- GS1 lots: known spellings ------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        LOT_CANONICAL,
        "https://example.com/01/9506000134352/10/ABC1?17=250101",
        "http://example.com/foo/bar/01/09506000134352/10/ABC1",
        "HTTPS://ID.GS1.ORG/01/09506000134352/10/ABC1",
        "https://id.gs1.org/01/09506000134352/10/ABC1/",
        "https://id.gs1.org/01/09506000134352/10/ABC1#section",
        "https://id.gs1.org/01/09506000134352/10/ABC1/17/250101",
        "https://id.gs1.org/01/09506000134352/10/%41BC%31",
        "  https://id.gs1.org/01/09506000134352/10/ABC1\n",
        "urn:epc:class:lgtin:9506000.013435.ABC1",
        "URN:EPC:class:lgtin:9506000.013435.ABC1",
        "urn:epc:class:lgtin:950600.0013435.ABC1",
        "urn:epc:class:lgtin:950600013435.0.ABC1",
        "(01)09506000134352(10)ABC1",
        "(01) 09506000134352 (10) ABC1",
        " (01)9506000134352\n(10)ABC1(17)250101 ",
        "(10)ABC1(01)09506000134352",
    ],
)
def test_spellings_of_one_lot_give_one_canonical_string_and_batch_id(spelling: str) -> None:
    identifier = parse_identifier(spelling)

    assert identifier.canonical == LOT_CANONICAL
    assert identifier.batch_id == keccak(LOT_CANONICAL.encode())
    assert identifier == parse_identifier(LOT_CANONICAL)
    assert batch_id_of(spelling) == identifier.batch_id


def test_a_lot_identifier_has_its_gs1_parts() -> None:
    identifier = parse_identifier("https://example.com/01/9506000134352/10/ABC1")

    assert identifier.kind is IdentifierKind.DIGITAL_LINK_LOT
    assert (identifier.gtin, identifier.lot, identifier.serial) == ("09506000134352", "ABC1", None)
    assert (identifier.prefix, identifier.suffix) == (None, None)
    assert identifier.batch_id_hex == "0x" + keccak(LOT_CANONICAL.encode()).hex()


@pytest.mark.parametrize(
    ("gtin", "gtin14"),
    [("95012346", "00000095012346"), ("614141123452", "00614141123452")],
)
def test_short_gtins_are_zero_padded_to_gtin14(gtin: str, gtin14: str) -> None:
    identifier = parse_identifier(f"https://id.gs1.org/01/{gtin}/10/L1")

    assert identifier.gtin == gtin14
    assert identifier.canonical == f"https://id.gs1.org/01/{gtin14}/10/L1"


@pytest.mark.parametrize(
    ("path_lot", "lot", "canonical_lot"),
    [
        ("A%2FB(1)", "A/B(1)", "A%2FB%281%29"),
        ("a%2fb", "a/b", "a%2Fb"),
        ("100%25", "100%", "100%25"),
        ("x!y*z", "x!y*z", "x%21y%2Az"),
        ("L-1.2_3", "L-1.2_3", "L-1.2_3"),
    ],
)
def test_lots_are_decoded_and_canonically_encoded_in_uppercase_hex(
    path_lot: str, lot: str, canonical_lot: str
) -> None:
    identifier = parse_identifier(f"https://example.com/01/09506000134352/10/{path_lot}")

    assert identifier.lot == lot
    assert identifier.canonical == f"https://id.gs1.org/01/09506000134352/10/{canonical_lot}"


def test_an_lgtin_urn_decodes_epc_escapes() -> None:
    identifier = parse_identifier("urn:epc:class:lgtin:4012345.012345.A%22B%2FC")

    assert identifier.lot == 'A"B/C'
    assert identifier.canonical == "https://id.gs1.org/01/04012345123456/10/A%22B%2FC"


# --- GS1 items (SGTIN) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        ITEM_CANONICAL,
        "https://example.com/01/80614141123458/21/6789?17=250101",
        "https://example.com/01/80614141123458/10/LOT7/21/6789",
        "urn:epc:id:sgtin:0614141.812345.6789",
    ],
)
def test_spellings_of_one_item_give_one_canonical_string(spelling: str) -> None:
    identifier = parse_identifier(spelling)

    assert identifier.kind is IdentifierKind.DIGITAL_LINK_ITEM
    assert identifier.canonical == ITEM_CANONICAL
    assert (identifier.gtin, identifier.lot, identifier.serial) == ("80614141123458", None, "6789")
    assert identifier.batch_id == keccak(ITEM_CANONICAL.encode())


def test_an_item_and_a_lot_with_the_same_value_are_different_batches() -> None:
    lot = parse_identifier("https://id.gs1.org/01/09506000134352/10/X1")
    item = parse_identifier("https://id.gs1.org/01/09506000134352/21/X1")

    assert lot.batch_id != item.batch_id


# --- EPC URN form -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "urn",
    [
        "urn:epc:class:lgtin:4012345.012345.998877",
        "urn:epc:class:lgtin:9506000.013435.A%22B%25C%26D%2FE%3CF%3EG%3FH",
        "urn:epc:id:sgtin:0614141.812345.6789",
        "urn:epc:id:sgtin:0614141.112345.32a%2Fb",
    ],
)
def test_an_identifier_parsed_from_a_urn_gives_the_urn_back(urn: str) -> None:
    identifier = parse_identifier(urn)

    assert identifier.epc_urn == urn


def test_epc_urn_uses_only_the_escapes_the_tag_data_standard_requires() -> None:
    identifier = parse_identifier("urn:epc:class:lgtin:9506000.013435.%41(b)%3d")

    assert identifier.epc_urn == "urn:epc:class:lgtin:9506000.013435.A(b)="


@pytest.mark.parametrize("spelling", [LOT_CANONICAL, ITEM_CANONICAL, HANDLE_CANONICAL])
def test_epc_urn_is_unknown_without_the_company_prefix_length(spelling: str) -> None:
    assert parse_identifier(spelling).epc_urn is None


# --- handles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        HANDLE_CANONICAL,
        "hdl:88.123.45/lot-1",
        "HDL:88.123.45/lot-1",
        "https://hdl.handle.net/88.123.45/lot-1",
        "http://resolver.example.cn/88.123.45/lot-1?noredirect",
        "https://hdl.handle.net/88.123.45/lot%2D1",
        " 88.123.45/lot-1 ",
    ],
)
def test_spellings_of_one_handle_give_one_canonical_string(spelling: str) -> None:
    identifier = parse_identifier(spelling)

    assert identifier.kind is IdentifierKind.HANDLE
    assert identifier.canonical == HANDLE_CANONICAL
    assert (identifier.prefix, identifier.suffix) == ("88.123.45", "lot-1")
    assert identifier.batch_id == keccak(HANDLE_CANONICAL.encode())


@pytest.mark.parametrize("other", ["88.123.45/LOT-1", "88.0123.45/lot-1", "86.123.45/lot-1"])
def test_handles_are_kept_as_written(other: str) -> None:
    assert parse_identifier(other).batch_id != parse_identifier(HANDLE_CANONICAL).batch_id


def test_a_handle_suffix_may_hold_slashes_and_non_ascii_text() -> None:
    bare = parse_identifier("88.123.45/批次/2024")
    resolver = parse_identifier("https://hdl.handle.net/88.123.45/%E6%89%B9%E6%AC%A1%2F2024")

    assert bare == resolver
    assert bare.suffix == "批次/2024"


def test_only_resolver_urls_percent_decode_a_handle_suffix() -> None:
    assert parse_identifier("hdl:88.123.45/a%41").suffix == "a%41"
    assert parse_identifier("https://hdl.handle.net/88.123.45/a%41").suffix == "aA"


# --- batch ids ----------------------------------------------------------------------------


def test_a_batch_id_is_itself_in_lowercase() -> None:
    identifier = parse_identifier("0X" + "AB" * 32)

    assert identifier.kind is IdentifierKind.BATCH_ID
    assert identifier.canonical == "0x" + "ab" * 32
    assert identifier.batch_id == bytes([0xAB]) * 32


# --- refusals -----------------------------------------------------------------------------

GTIN = "https://id.gs1.org/01/09506000134352"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty identifier"),
        (" \t\n", "empty identifier"),
        ("88.1/" + "x" * 508, "too long: 513 characters"),
        # GTINs
        ("https://id.gs1.org/01/09506000134353/10/ABC1", "expected 2, found 3"),
        ("https://id.gs1.org/01/9506000134/10/ABC1", "8, 12, 13 or 14 digits"),
        ("https://id.gs1.org/01/0950600013435X/10/ABC1", "8, 12, 13 or 14 digits"),
        (GTIN, "names a product, not a batch"),
        (GTIN + "?10=ABC1", "names a product, not a batch"),
        ("09506000134352", "names a product, not a batch"),
        ("https://id.gs1.org/00/106141412345678908", "no GTIN"),
        ("https://example.com/products/abc", "no GTIN"),
        # lots and serials
        (GTIN + "/10/" + "A" * 21, "lot too long: 21 characters"),
        (GTIN + "/21/" + "1" * 21, "serial too long: 21 characters"),
        (GTIN + "/10/", "empty lot"),
        (GTIN + "/10/AB%20C", "' ' (U+0020), outside GS1's CSET 82"),
        (GTIN + "/10/AB~C", "'~' (U+007E), outside GS1's CSET 82"),
        (GTIN + "/10/AB%23C", "'#' (U+0023), outside GS1's CSET 82"),
        (GTIN + "/10/Lot%C3%A9", "'é' (U+00E9), outside GS1's CSET 82"),
        (GTIN + "/21/a@b", "serial contains '@'"),
        (GTIN + "/10/AB%2", "malformed percent-encoding in lot"),
        (GTIN + "/10/AB%FF", "lot is not UTF-8"),
        # path structure
        (GTIN + "/22/V1/10/ABC1", "consumer product variant (AI 22)"),
        (GTIN + "/21/S1/10/ABC1", "in the order 22, 10, 21"),
        (GTIN + "/10/A/10/B", "in the order 22, 10, 21"),
        (GTIN + "/10/ABC1/21", "AI 21 has no value"),
        (GTIN + "/10/ABC1/foo/bar", "unexpected path segment 'foo'"),
        (GTIN + "/10/ABC1/01/09506000134352", "more than one GTIN"),
        (GTIN + "/10/AB C1", "whitespace or a control character (U+0020)"),
        ("https://", "malformed URL"),
        # EPC URNs
        ("urn:epc:id:sscc:0614141.1234567890", "unsupported EPC URN scheme 'id:sscc'"),
        ("urn:epc:ID:SGTIN:0614141.812345.6789", "unsupported EPC URN scheme 'ID:SGTIN'"),
        ("urn:acme:lot 7", "in none of the accepted forms"),
        ("ftp://acme.example/lot/7", "in none of the accepted forms"),
        ("urn:epc:class:lgtin:95060.00134352.ABC1", "6 to 12 digits, got 5"),
        ("urn:epc:class:lgtin:9506000.01343.ABC1", "13 digits together, got 12"),
        ("urn:epc:class:lgtin:9506000.013435", "must end in"),
        ("urn:epc:class:lgtin:9506000.013435.", "empty lot"),
        ("urn:epc:class:lgtin:9506000.013435." + "L" * 21, "lot too long"),
        ("urn:epc:class:lgtin:9506000.013435.A B", "lot contains ' '"),
        # handles
        ("88.123.45/", "empty handle suffix"),
        ("https://hdl.handle.net/88.123.45", "empty handle suffix"),
        ("88.123.45/a b", "handle suffix contains ' ' (U+0020)"),
        ("88.123.45/a\u200bb", "handle suffix contains '\\u200b' (U+200B)"),
        ("88.123.45/" + "x" * 129, "handle suffix too long: 129 characters"),
        ("88/lot-1", "not a handle"),
        ("88.123.45", "not a handle"),
        ("hdl:lot-1", "not a handle"),
        # batch ids and garbage
        ("0x1234", "64 hex digits"),
        ("0x" + "g" * 64, "64 hex digits"),
        ("random garbage", "'random garbage' is in none of the accepted forms: a GS1"),
        ("ftp://id.gs1.org/01/09506000134352/10/ABC1", "is in none of the accepted forms"),
        ("12345", "a number alone ('12345') names no batch"),
        # element strings
        ("(01)09506000134352", "names a product, not a batch"),
        ("(10)ABC1", "needs one GTIN, (01) and 14 digits"),
        ("(01)09506000134352(01)09506000134352(10)A", "more than one GTIN"),
        ("(01)09506000134353(10)ABC1", "expected 2, found 3"),
        ("(01)09506000134352(10)", "empty lot"),
        ("(01)09506000134352(10)AB~C", "'~' (U+007E), outside GS1's CSET 82"),
        ("(01)09506000134352(22)V1(10)ABC1", "consumer product variant (AI 22)"),
    ],
)
def test_bad_identifiers_are_refused_with_a_message_naming_the_problem(
    text: str, message: str
) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        parse_identifier(text)

    assert message in str(caught.value)


# --- properties ---------------------------------------------------------------------------

gs1_values = st.text(alphabet=CSET82, min_size=1, max_size=20)
hosts = st.sampled_from(["id.gs1.org", "example.com", "EXAMPLE.com:8080", "shop.example.co.uk"])
path_prefixes = st.sampled_from(["", "/foo", "/a/b/c", "/dl/v1"])
queries = st.sampled_from(["", "?17=250101", "?17=250101&3103=000189", "?linkType=gs1:pip"])


@st.composite
def escaped(draw: st.DrawFn, value: str, must: str) -> str:
    """``value`` with the characters in ``must`` and a random few others as %xx escapes."""
    out = []
    for char in value:
        if char in must or draw(st.booleans()):
            code = f"{ord(char):02X}"
            out.append("%" + (code.lower() if draw(st.booleans()) else code))
        else:
            out.append(char)
    return "".join(out)


@st.composite
def gtin_spellings(draw: st.DrawFn, gtin: str) -> str:
    """The GTIN-14, or a shorter GTIN where its leading zeros allow."""
    forms = [gtin] + [gtin[14 - n :] for n in (13, 12, 8) if gtin[: 14 - n].strip("0") == ""]
    return draw(st.sampled_from(forms))


@st.composite
def digital_links(draw: st.DrawFn, gtin: str, pairs: list[tuple[str, str]]) -> str:
    scheme = draw(st.sampled_from(["https", "http", "HTTPS"]))
    path = "".join(f"/{ai}/{draw(escaped(value, '/%?#'))}" for ai, value in pairs)
    slash = draw(st.sampled_from(["", "/"]))
    return (
        f"{scheme}://{draw(hosts)}{draw(path_prefixes)}/01/{draw(gtin_spellings(gtin))}"
        f"{path}{slash}{draw(queries)}"
    )


EPC_MUST_ESCAPE = '"%&/<>?'  # GS1 EPC Tag Data Standard: escaped in every EPC URI


@st.composite
def epc_urns(draw: st.DrawFn, scheme: str, gtin: str, value: str) -> tuple[str, int]:
    length = draw(st.integers(6, 12))
    urn = draw(st.sampled_from(["urn:epc:", "URN:EPC:", "Urn:Epc:"]))
    head = f"{gtin[1 : 1 + length]}.{gtin[0]}{gtin[1 + length : 13]}"
    return f"{urn}{scheme}:{head}.{draw(escaped(value, EPC_MUST_ESCAPE))}", length


@settings(deadline=None)
@given(gtin=gtins, lot=gs1_values, data=st.data())
def test_every_digital_link_spelling_of_a_lot_round_trips(
    gtin: str, lot: str, data: st.DataObject
) -> None:
    canonical = digital_link(gtin, "10", lot)
    spelling = data.draw(digital_links(gtin, [("10", lot)]))

    identifier = parse_identifier(canonical)

    assert (identifier.kind, identifier.gtin, identifier.lot) == (
        IdentifierKind.DIGITAL_LINK_LOT,
        gtin,
        lot,
    )
    assert identifier.canonical == canonical
    assert parse_identifier(spelling) == identifier
    assert parse_identifier(identifier.canonical).canonical == identifier.canonical


@settings(deadline=None)
@given(gtin=gtins, lot=gs1_values, data=st.data())
def test_an_lgtin_urn_names_the_same_lot_as_the_digital_link(
    gtin: str, lot: str, data: st.DataObject
) -> None:
    urn, length = data.draw(epc_urns("class:lgtin", gtin, lot))

    identifier = parse_identifier(urn)

    assert identifier == parse_identifier(digital_link(gtin, "10", lot))
    assert identifier.batch_id == keccak(digital_link(gtin, "10", lot).encode())
    assert identifier.company_prefix_length == length
    assert identifier.epc_urn is not None
    assert parse_identifier(identifier.epc_urn) == identifier


@settings(deadline=None)
@given(gtin=gtins, serial=gs1_values, lot=st.none() | gs1_values, data=st.data())
def test_every_spelling_of_an_item_names_one_item(
    gtin: str, serial: str, lot: str | None, data: st.DataObject
) -> None:
    canonical = digital_link(gtin, "21", serial)
    pairs = ([] if lot is None else [("10", lot)]) + [("21", serial)]
    link = data.draw(digital_links(gtin, pairs))
    urn, _ = data.draw(epc_urns("id:sgtin", gtin, serial))

    identifier = parse_identifier(canonical)

    assert (identifier.kind, identifier.gtin, identifier.serial, identifier.lot) == (
        IdentifierKind.DIGITAL_LINK_ITEM,
        gtin,
        serial,
        None,
    )
    assert identifier.canonical == canonical
    assert parse_identifier(link) == identifier
    assert parse_identifier(urn) == identifier


handle_prefixes = st.lists(
    st.text(alphabet="0123456789", min_size=1, max_size=5), min_size=1, max_size=3
).map(lambda segments: ".".join(["88", *segments]))
handle_suffixes = st.text(
    alphabet=st.characters(exclude_categories=("C", "Z")), min_size=1, max_size=128
)


@settings(deadline=None)
@given(prefix=handle_prefixes, suffix=handle_suffixes, data=st.data())
def test_every_spelling_of_a_handle_round_trips(
    prefix: str, suffix: str, data: st.DataObject
) -> None:
    canonical = f"{prefix}/{suffix}"
    resolver = data.draw(st.sampled_from(["https://hdl.handle.net", "http://resolver.example.cn"]))
    url = f"{resolver}/{prefix}/{quote(suffix, safe=data.draw(st.sampled_from(['', '/'])))}"
    spelling = data.draw(st.sampled_from([canonical, f"hdl:{canonical}", url, url + "?noredirect"]))

    identifier = parse_identifier(canonical)

    assert (identifier.kind, identifier.prefix, identifier.suffix) == (
        IdentifierKind.HANDLE,
        prefix,
        suffix,
    )
    assert identifier.canonical == canonical
    assert parse_identifier(spelling) == identifier


@given(batch_id=st.binary(min_size=32, max_size=32), upper=st.booleans())
def test_a_batch_id_round_trips(batch_id: bytes, upper: bool) -> None:
    text = "0x" + (batch_id.hex().upper() if upper else batch_id.hex())

    identifier = parse_identifier(text)

    assert identifier.batch_id == batch_id
    assert parse_identifier(identifier.canonical) == identifier


near_misses = st.sampled_from(
    [
        "",
        "https://",
        "http://x/01/09506000134352/10/",
        "https://id.gs1.org/01/",
        "urn:epc:class:lgtin:",
        "urn:epc:id:sgtin:9506000.013435.",
        "hdl:88.1/",
        "88.123.45/",
        "https://hdl.handle.net/88.1/",
        "0x",
    ]
)
garbage = st.text(max_size=600) | st.tuples(near_misses, st.text(max_size=40)).map("".join)


@settings(deadline=None)
@given(text=garbage)
def test_any_text_parses_to_a_stable_identifier_or_is_refused(text: str) -> None:
    try:
        identifier = parse_identifier(text)
    except InvalidIdentifierError:
        return

    assert parse_identifier(identifier.canonical) == identifier
    assert parse_identifier(identifier.canonical).canonical == identifier.canonical


any_spelling = st.one_of(
    gtins.flatmap(lambda gtin: gs1_values.flatmap(lambda lot: digital_links(gtin, [("10", lot)]))),
    gtins.flatmap(lambda gtin: gs1_values.flatmap(lambda s: digital_links(gtin, [("21", s)]))),
    st.builds(lambda p, s: f"{p}/{s}", handle_prefixes, handle_suffixes),
    st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()),
    garbage,
)


@settings(deadline=None)
@given(text=any_spelling)
def test_the_batch_id_is_the_keccak_of_the_canonical_string(text: str) -> None:
    try:
        identifier = parse_identifier(text)
    except InvalidIdentifierError:
        return

    if identifier.kind is IdentifierKind.BATCH_ID:
        assert identifier.batch_id == bytes.fromhex(identifier.canonical[2:])
    else:
        assert identifier.batch_id == keccak(identifier.canonical.encode())
    assert batch_id_of(text) == identifier.batch_id


def test_equal_identifiers_hash_alike() -> None:
    spellings = [LOT_CANONICAL, "urn:epc:class:lgtin:9506000.013435.ABC1", LOT_CANONICAL + "?x=1"]

    assert len({parse_identifier(spelling) for spelling in spellings}) == 1


def test_an_identifier_refuses_a_batch_id_that_is_not_32_bytes() -> None:
    with pytest.raises(InvalidIdentifierError, match="32 bytes"):
        Identifier(IdentifierKind.HANDLE, HANDLE_CANONICAL, BatchId(bytes(31)))


# --- products and lookups ---------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "https://id.gs1.org/01/09506000134352",
        "https://example.com/01/9506000134352/?17=250101",
        "(01)09506000134352",
        "09506000134352",
        "9506000134352",
    ],
)
def test_a_gtin_alone_is_a_product_to_parse_key_and_refused_as_a_batch(spelling: str) -> None:
    assert parse_key(spelling) == Product("09506000134352")
    assert parse_key(spelling).canonical == "https://id.gs1.org/01/09506000134352"
    with pytest.raises(InvalidIdentifierError, match="GTIN 09506000134352 alone names a product"):
        parse_identifier(spelling)


def test_parse_key_names_a_batch_as_parse_identifier_does() -> None:
    for spelling in (LOT_CANONICAL, ITEM_CANONICAL, HANDLE_CANONICAL, "0x" + "ab" * 32):
        assert parse_key(spelling) == parse_identifier(spelling)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        # what a person types, pastes or scans
        ("(01)09506000134352(10)ABC1", LOT_CANONICAL),
        ("  (01) 09506000134352 (10) ABC1  ", LOT_CANONICAL),
        ("\n https://id.gs1.org/01/09506000134352/10/ABC1 \n", LOT_CANONICAL),
        ("https://id.gs1.org/01/09506000134352/\n10/ABC1", LOT_CANONICAL),  # a wrapped line
        ("https://id.gs1.org/01/ 09506000134352/10/ABC1", LOT_CANONICAL),
        ("http://node.example:8000/?id=" + quote(LOT_CANONICAL, safe=""), LOT_CANONICAL),
        ("https://node.example/?q=%2801%2909506000134352%2810%29ABC1", LOT_CANONICAL),
        # raw barcode data: a DataMatrix, with and without its symbology identifier
        ("0109506000134352" + "10ABC1", LOT_CANONICAL),
        ("]d20109506000134352" + "17250101" + "10ABC1\x1d", LOT_CANONICAL),
        ("]Q30109506000134352" + "10ABC1\x1d17250101", LOT_CANONICAL),
        ("0180614141123458" + "216789", ITEM_CANONICAL),
        ("88.123.45/lot-1", HANDLE_CANONICAL),
        ("urn:epc:class:lgtin:9506000.013435.ABC1", LOT_CANONICAL),
    ],
)
def test_a_lookup_reads_what_people_type_as_the_batch_it_names(typed: str, meant: str) -> None:
    found = parse_lookup(typed)

    assert isinstance(found, Identifier)
    assert found.canonical == meant


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("LOT-7", LotCode("LOT-7")),
        ("  ABC1 ", LotCode("ABC1")),
        ("12345", LotCode("12345")),  # a number that is no GTIN is a lot code
        ("09506000134353", LotCode("09506000134353")),  # a GTIN's shape, a wrong check digit
        ("A/B%C", LotCode("A/B%C")),
        ("09506000134352", Product("09506000134352")),
        ("0 9506000 13435 2", Product("09506000134352")),  # as printed under an EAN-13
        ("(01)09506000134352", Product("09506000134352")),
        ("https://id.gs1.org/01/09506000134352", Product("09506000134352")),
        ("0109506000134352", Product("09506000134352")),
    ],
)
def test_a_lookup_reads_a_lot_code_or_a_product(typed: str, meant: LotCode | Product) -> None:
    assert parse_lookup(typed) == meant


def test_a_lot_code_matches_the_canonical_spelling_of_its_lot() -> None:
    for lot in ("LOT-7", "A/B%C", "x(1)'\""):
        canonical = digital_link("09506000134352", "10", lot)
        assert canonical.endswith(LotCode(lot).canonical_suffix)
        assert canonical.startswith(Product("09506000134352").batch_prefix)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "empty identifier"),
        ("LOT 7", "'LOT 7' is neither an identifier nor a lot code (1 to 20 of GS1's"),
        ("L" * 21, "is neither an identifier nor a lot code"),
        ("ab~c", "is neither an identifier nor a lot code"),
        ("(01)09506000134353(10)ABC1", "expected 2, found 3"),
        ("https://id.gs1.org/01/09506000134352/10/", "empty lot"),
        ("88.123.45/", "empty handle suffix"),
        ("0x1234", "64 hex digits"),
        ("0109506000134352" + "99X", "barcode data with AI '99' after the GTIN"),
    ],
)
def test_a_lookup_refuses_what_names_nothing_and_says_why(typed: str, message: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        parse_lookup(typed)

    assert message in str(caught.value)


@settings(deadline=None)
@given(text=garbage)
def test_any_text_is_a_batch_a_product_a_lot_code_or_refused(text: str) -> None:
    try:
        found = parse_lookup(text)
    except InvalidIdentifierError:
        return

    if isinstance(found, Identifier):
        assert parse_identifier(found.canonical) == found
    elif isinstance(found, Product):
        assert parse_key(found.canonical) == found
    else:
        assert 1 <= len(found.lot) <= 20
        assert set(found.lot) <= set(CSET82)
        assert parse_lookup(found.lot) == found


# ----- where the prefix sits (the contract checks the same rule: Identifiers.sol) -----


def test_split_of_a_gs1_lot_is_the_same_for_every_spelling() -> None:
    spellings = [
        "https://example.com/01/9506000134352/10/LOT-7",
        "(01)09506000134352(10)LOT-7",
        "urn:epc:class:lgtin:9506000.013435.LOT-7",
        "]d201095060001343521" + "0LOT-7",
    ]
    splits = {identifiers.identifier_split(parse_lookup_identifier(s)) for s in spellings}

    (split,) = splits
    assert split.kind is identifiers.PrefixKind.GS1
    assert split.head == "https://id.gs1.org/01/0"
    assert split.candidates[0] == "950600013435"
    assert split.candidates[-1] == "9506"
    assert "9506000" in split.candidates
    assert split.proof("9506000") == (
        b"https://id.gs1.org/01/09506000134352/10/LOT-7",
        7,
    )


def test_split_of_a_handle_offers_the_prefix_and_its_dot_ancestors() -> None:
    split = identifiers.identifier_split(parse_identifier("hdl:88.123.45/Lot-1"))

    assert split.kind is identifiers.PrefixKind.HANDLE
    assert split.head == ""
    assert split.candidates == ("88.123.45", "88.123", "88")
    assert split.proof("88.123") == (b"88.123.45/Lot-1", 6)


def test_split_refuses_a_bare_batch_id_and_a_prefix_that_is_not_a_candidate() -> None:
    lot = parse_identifier("https://id.gs1.org/01/09506000134352/10/LOT-7")

    with pytest.raises(InvalidIdentifierError, match="bare batch id"):
        identifiers.identifier_split(parse_identifier(lot.batch_id_hex))
    with pytest.raises(InvalidIdentifierError, match="is not where the prefix"):
        identifiers.identifier_split(lot).proof("0614141")
    with pytest.raises(InvalidIdentifierError, match="needs its prefix"):
        identifiers.identifier_split(lot).proof(None)


def test_prefix_kind_and_key_are_the_contracts() -> None:
    assert identifiers.prefix_kind("9506000") is identifiers.PrefixKind.GS1
    assert identifiers.prefix_kind("88.123") is identifiers.PrefixKind.HANDLE
    assert identifiers.prefix_key(identifiers.PrefixKind.GS1, "9506000") == keccak(
        b"\x01" + b"9506000"
    )


@given(
    gtin_body=st.text(alphabet="0123456789", min_size=13, max_size=13),
    lot=st.text(alphabet=CSET82, min_size=1, max_size=20),
)
def test_every_gs1_candidate_sits_where_the_contract_reads_it(gtin_body: str, lot: str) -> None:
    """head ‖ prefix ‖ tail is the canonical identifier, the head is 23 bytes, and the
    tail starts with the rest of the GTIN-14 and a slash."""
    gtin = gtin_body + str(gtin_check_digit(gtin_body))
    identifier = parse_identifier(f"https://id.gs1.org/01/{gtin}/10/{quote(lot, safe='')}")
    split = identifiers.identifier_split(identifier)

    assert len(split.head.encode()) == 23
    for prefix in split.candidates:
        data, length = split.proof(prefix)
        tail = data[23 + length :]
        assert data[: 23 + length] == (split.head + prefix).encode()
        assert tail[: 13 - length].isdigit()
        assert tail[13 - length : 14 - length] == b"/"
        assert keccak(data) == identifier.batch_id


def parse_lookup_identifier(text: str) -> Identifier:
    found = parse_lookup(text)
    assert isinstance(found, Identifier)
    return found


# ----- open identifiers (no prefix kind: allowed by a node's policy) -----


@pytest.mark.parametrize(
    "text", ["urn:acme:lot:7", "URN:Acme:Lot:7", "acme:lot:7", "urn:uuid:1b4e28ba-2fa1-11d2"]
)
def test_an_open_identifier_is_kept_as_written_and_hashed_as_a_record_key(text: str) -> None:
    found = parse_identifier(text)

    assert found.kind is IdentifierKind.OPEN
    assert found.canonical == text  # no case folding, no normalisation
    assert found.batch_id == keccak(text.encode())
    assert found.gtin is None
    assert found.prefix is None
    # the same key, read as a record, has the same id: one hash, two readings
    assert identifiers.parse_record(text).batch_id == found.batch_id
    assert identifiers.parse_record(text).kind is IdentifierKind.RECORD
    split = identifiers.identifier_split(found)
    assert (split.kind, split.candidates) == (identifiers.PrefixKind.OTHER, ())
    assert split.proof(None) == (text.encode(), 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://acme.example/lot/7", "none of the accepted forms"),  # a locator
        ("ni:///sha-256;abc", "none of the accepted forms"),  # a hash ID: a record key
        ("urn:epc:id:sscc:0614141.1234567890", "unsupported EPC URN scheme"),  # GS1's
        ("https://acme.example/lot/7", "no GTIN"),  # a URL is a Digital Link or nothing
        ("urn:acme:lot 7", "none of the accepted forms"),
    ],
)
def test_what_is_not_an_open_identifier(text: str, message: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=message):
        parse_identifier(text)


def test_a_lookup_reads_an_open_identifier_and_keeps_short_lot_codes() -> None:
    assert parse_lookup("urn:acme:lot:7") == parse_identifier("urn:acme:lot:7")
    assert parse_lookup("acme:lot:a-very-long-node-local-name") == parse_identifier(
        "acme:lot:a-very-long-node-local-name"
    )
    assert parse_lookup("LOT:7") == LotCode("LOT:7")  # GS1 lots may hold ':'


def test_the_one_rule_for_an_open_identifier() -> None:
    rule = identifiers.names_open_batch
    assert rule(exists=True, creates=False) is True  # the batch's observation
    assert rule(exists=False, creates=True) is True  # a COMMISSION creates it
    assert rule(exists=False, creates=False) is False  # a record
