"""GS1 keys as constrained canonical GS1 Digital Link URIs, for the CBV 2.0 event hash ID.

CBV 2.0's hash algorithm writes every GS1 key the same way however the event spelled it
(rules 17 and 18): EPC URIs, EPC class URIs and EPC pattern URIs become canonical
Digital Links on ``https://id.gs1.org``; a Digital Link keeps only its primary key and
the finest key qualifier (a serial rather than a lot), loses its query string and has
its GTIN padded to 14 digits. Values that are not GS1 keys come back unchanged.

This is wider than :mod:`node.events.identifiers`, which decides which identifiers name a
TraceNode *batch* (lots, items, handles) and refuses the rest; here every GS1 key (SSCC,
GLN, GRAI, GIAI, GDTI, ...) is normalised, because the hash covers every identifier an
event carries. The check digits come from the one definition in that module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from node.events.digits import is_decimal
from node.events.identifiers import gs1_check_digit

RESOLVER: Final = "https://id.gs1.org"

#: Characters GS1 Digital Link percent-encodes that EPC URIs may carry literally.
_DL_ESCAPES: Final = str.maketrans({c: f"%{ord(c):02X}" for c in "!()*+,:"})
#: EPC URI / GS1 AI 82-character set, with EPC's %-escapes.
_VALUE: Final = r"(?:%[0-9A-Fa-f]{2}|[!')(*+,.0-9:;=A-Za-z_-])"
_SHORT_NAMES: Final = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}
_PRIMARY_KEYS: Final = frozenset(
    {"00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010"}
    | {"8017", "8018"}
)
#: Key qualifiers kept per primary key, finest first (only one is kept).
_QUALIFIERS: Final = {"01": ("21", "10", "235"), "414": ("254",), "8006": ("21", "10")}
_PAIRED_QUALIFIERS: Final = {"8010": "8011"}


def _cp_split(cp: str, ref: str, total: int) -> bool:
    return 6 <= len(cp) <= 12 and len(cp) + len(ref) == total


def _gtin(cp: str, item: str) -> str:
    digits = item[0] + cp + item[1:]
    return digits + str(gs1_check_digit(digits))


def _with_check(digits: str) -> str:
    return digits + str(gs1_check_digit(digits))


def _sgtin(m: re.Match[str]) -> str | None:
    cp, item, serial = m.groups()
    if not _cp_split(cp, item, 13):
        return None
    return f"{RESOLVER}/01/{_gtin(cp, item)}/21/{serial.translate(_DL_ESCAPES)}"


def _lgtin(m: re.Match[str]) -> str | None:
    cp, item, lot = m.groups()
    if not _cp_split(cp, item, 13):
        return None
    return f"{RESOLVER}/01/{_gtin(cp, item)}/10/{lot.translate(_DL_ESCAPES)}"


def _gtin_pattern(m: re.Match[str]) -> str | None:
    cp, item = m.groups()
    return f"{RESOLVER}/01/{_gtin(cp, item)}" if _cp_split(cp, item, 13) else None


def _sscc(m: re.Match[str]) -> str | None:
    cp, serial = m.groups()
    if not _cp_split(cp, serial, 17):
        return None
    return f"{RESOLVER}/00/{_with_check(serial[0] + cp + serial[1:])}"


def _sgln(m: re.Match[str]) -> str | None:
    cp, ref, ext = m.groups()
    if not _cp_split(cp, ref, 12):
        return None
    gln = f"{RESOLVER}/414/{_with_check(cp + ref)}"
    return gln if ext == "0" else f"{gln}/254/{ext.translate(_DL_ESCAPES)}"


def _pgln(m: re.Match[str]) -> str | None:
    cp, ref = m.groups()
    return f"{RESOLVER}/417/{_with_check(cp + ref)}" if _cp_split(cp, ref, 12) else None


def _grai(m: re.Match[str]) -> str | None:
    cp, asset, serial = m.groups()
    if not _cp_split(cp, asset, 12):
        return None
    return f"{RESOLVER}/8003/{_with_check('0' + cp + asset)}{(serial or '').translate(_DL_ESCAPES)}"


def _giai(m: re.Match[str]) -> str | None:
    cp, asset = m.groups()
    if not 6 <= len(cp) <= 12 or len(cp) + len(asset) > 30:
        return None
    return f"{RESOLVER}/8004/{cp}{asset.translate(_DL_ESCAPES)}"


def _keyed(ai: str, length: int) -> Callable[[re.Match[str]], str | None]:
    """Keys of ``length`` digits before the check digit, optionally with a serial."""

    def convert(m: re.Match[str]) -> str | None:
        cp, ref, *rest = m.groups()
        if not _cp_split(cp, ref, length):
            return None
        serial = (rest[0] or "") if rest else ""
        return f"{RESOLVER}/{ai}/{_with_check(cp + ref)}{serial.translate(_DL_ESCAPES)}"

    return convert


def _ginc(m: re.Match[str]) -> str | None:
    cp, ref = m.groups()
    if not 6 <= len(cp) <= 12 or len(cp) + len(ref) > 30:
        return None
    return f"{RESOLVER}/401/{cp}{ref.translate(_DL_ESCAPES)}"


_EPC_URIS: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]], ...]] = (
    (re.compile(rf"urn:epc:id:sgtin:([0-9]+)\.([0-9]+)\.({_VALUE}{{1,20}})"), _sgtin),
    (re.compile(rf"urn:epc:class:lgtin:([0-9]+)\.([0-9]+)\.({_VALUE}{{1,20}})"), _lgtin),
    (re.compile(r"urn:epc:idpat:sgtin:([0-9]+)\.([0-9]+)\.\*"), _gtin_pattern),
    (re.compile(r"urn:epc:id:sscc:([0-9]+)\.([0-9]+)"), _sscc),
    (re.compile(rf"urn:epc:id:sgln:([0-9]+)\.([0-9]*)\.({_VALUE}{{1,20}})"), _sgln),
    (re.compile(r"urn:epc:id:pgln:([0-9]+)\.([0-9]*)"), _pgln),
    (re.compile(rf"urn:epc:id:grai:([0-9]+)\.([0-9]*)\.({_VALUE}{{1,16}})"), _grai),
    (re.compile(r"urn:epc:idpat:grai:([0-9]+)\.([0-9]*)\.\*()"), _grai),
    (re.compile(rf"urn:epc:id:giai:([0-9]+)\.({_VALUE}+)"), _giai),
    (re.compile(rf"urn:epc:id:gdti:([0-9]+)\.([0-9]*)\.({_VALUE}{{0,17}})"), _keyed("253", 12)),
    (re.compile(r"urn:epc:idpat:gdti:([0-9]+)\.([0-9]*)\.\*"), _keyed("253", 12)),
    (re.compile(r"urn:epc:id:sgcn:([0-9]+)\.([0-9]*)\.([0-9]{1,12})"), _keyed("255", 12)),
    (re.compile(r"urn:epc:idpat:sgcn:([0-9]+)\.([0-9]*)\.\*"), _keyed("255", 12)),
    (re.compile(r"urn:epc:id:gsrn:([0-9]+)\.([0-9]+)"), _keyed("8018", 17)),
    (re.compile(r"urn:epc:id:gsrnp:([0-9]+)\.([0-9]+)"), _keyed("8017", 17)),
    (re.compile(r"urn:epc:id:gsin:([0-9]+)\.([0-9]+)"), _keyed("402", 16)),
    (re.compile(rf"urn:epc:id:ginc:([0-9]+)\.({_VALUE}+)"), _ginc),
)
_HTTP: Final = re.compile(r"https?://[^/?#]+(/[^?#]*)(?:\?[^#]*)?(?:#.*)?")
_GTIN_LENGTHS: Final = frozenset({8, 12, 13, 14})


def normalise_gs1_uri(value: str) -> str:
    """The constrained canonical Digital Link of a GS1 key, or ``value`` unchanged."""
    if value.startswith("urn:epc:"):
        for pattern, convert in _EPC_URIS:
            match = pattern.fullmatch(value)
            if match is not None:
                return convert(match) or value
        return value
    if value.startswith(("http://", "https://")):
        return _digital_link(value) or value
    return value


def _digital_link(value: str) -> str | None:
    match = _HTTP.fullmatch(value)
    if match is None:
        return None
    segments = [_SHORT_NAMES.get(s, s) for s in match.group(1).split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()
    start = next(
        (
            i
            for i in range(len(segments) - 1)
            if segments[i] in _PRIMARY_KEYS and re.match(r"[0-9]{4}", segments[i + 1])
        ),
        None,
    )
    if start is None:
        return None
    key, key_value = segments[start], segments[start + 1]
    if key == "01":
        if not is_decimal(key_value) or len(key_value) not in _GTIN_LENGTHS:
            return None
        key_value = key_value.zfill(14)
    rest = segments[start + 2 :]
    pairs = dict(zip(rest[::2], rest[1::2], strict=False))
    allowed = {*_QUALIFIERS.get(key, ()), _PAIRED_QUALIFIERS.get(key), "22"}
    if len(rest) % 2 or not set(pairs) <= allowed:
        return None  # data attributes or foreign segments in the path: not a canonical key
    path = f"/{key}/{key_value}"
    for qualifier in _QUALIFIERS.get(key, ()):
        if pairs.get(qualifier):
            path += f"/{qualifier}/{pairs[qualifier]}"
            break
    paired = _PAIRED_QUALIFIERS.get(key)
    if paired is not None and pairs.get(paired):
        path += f"/{paired}/{pairs[paired]}"
    return RESOLVER + path
