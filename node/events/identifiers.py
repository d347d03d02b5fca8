"""Batch identifiers: every spelling of a lot maps to one canonical string and one batch id.

``batchId = keccak256(utf8(canonical))``. The spellings accepted, and their canonical forms:

- **GS1 Digital Link** ``http(s)://{any host}/{optional path}/01/{gtin}/10/{lot}``. The
  GTIN may be 8, 12, 13 or 14 digits (zero-padded to GTIN-14) and its check digit must be
  right. The lot (AI 10) is percent-decoded and must be 1-20 characters of GS1's CSET 82.
  The query string, the fragment and non-key AIs in the path are data attributes: they
  never change identity. The primary key is the first ``/01/{8, 12, 13 or 14 digits}``
  of the path; key qualifiers follow it in GS1's order (22, 10, 21).
  Canonical: ``https://id.gs1.org/01/{GTIN-14}/10/{lot}``, every lot character outside
  RFC 3986's unreserved set percent-encoded in uppercase hex.
- **Items.** A serial (AI 21) makes the link an SGTIN, one trade item. An SGTIN holds no
  lot, so an item cannot be mapped to its lot: it is its own batch, canonically
  ``https://id.gs1.org/01/{GTIN-14}/21/{serial}``. A lot written next to the serial
  (``/10/{lot}/21/{serial}``) is dropped: GTIN and serial alone name the item.
- **EPC URNs** ``urn:epc:class:lgtin:{company prefix}.{indicator + item ref}.{lot}`` and
  ``urn:epc:id:sgtin:...{serial}`` (prefix 6-12 digits, 13 digits together): the same
  identifiers, hence the same canonical forms, as the Digital Links above. ``urn:epc:`` is
  case-insensitive, the rest is not; ``%xx`` escapes in the lot or serial are decoded.
- **Handles** (industrial-internet identifiers) ``{prefix}/{suffix}``: the prefix is
  dot-separated digits (``88.123.45``), the suffix 1-128 printable characters without
  whitespace. Both are kept exactly as written: no case folding, no Unicode
  normalisation, no leading zeros stripped, so ``88.123.45/Lot-1`` and
  ``88.0123.45/lot-1`` are different batches. ``hdl:`` may precede the handle (taken
  literally); so may a resolver URL (``https://hdl.handle.net/`` or any http(s) host),
  whose suffix is percent-decoded. Canonical: ``{prefix}/{suffix}``.
- **Batch ids** ``0x`` + 64 hex digits are the batch id itself, canonically in lowercase,
  and are not hashed again.
- **Open identifiers** (:attr:`IdentifierKind.OPEN`): any other absolute URI, a scheme
  then ``:`` then no whitespace or control character (``urn:acme:lot:7``, a node-local
  ``acme:lot:7``). Kept as written, as records are (:func:`parse_record`). Not GS1, not a
  handle: no prefix, so no licence covers one, and a batch is created under one only where
  the producer's node allows it (ParticipantRegistry's open-identifier policy, read from
  the chain). A name, not a locator: never ``{scheme}://…`` (an ``ftp://`` or ``ni:///``
  URI stays a record key at most), and never an ``http(s)`` URL (a URL is a Digital Link
  or a handle's resolver URL, and a malformed one stays an error: a mistyped GTIN never
  becomes a node-local lot) and never ``urn:epc:`` (GS1's EPC keys: an SSCC or an asset
  is a record, a malformed lot an error). A scheme starts with a letter, so an open identifier never
  starts with a digit or the GS1 head, and never shares a batch id with a GS1 or handle
  batch. Whether one names a batch or a record is the node's one rule
  (:func:`names_open_batch`).

- **GS1 element strings** as printed under a barcode, ``(01)09506000134352(10)LOT-7``:
  each AI in brackets, then its value. Whitespace is layout (``(01) 09506000134352
  (10) LOT-7``) and dropped, since no GS1 value may hold it. The same rules as a
  Digital Link's path apply (further AIs are data attributes), hence the same canonical
  forms. A value holding a bracketed number of 2-4 digits (a lot ``A(12)``) cannot be
  told from the next AI: write such a lot as a Digital Link.

Refused by :func:`parse_identifier`, each with an
:class:`~node.exceptions.InvalidIdentifierError` that says why: a GTIN alone (it names a
product, not a batch), a consumer product variant (AI 22: no EPC URN can carry it),
other GS1 keys and EPC schemes, empty input and input over 512 characters.

**Who may create a batch** (the contracts check it: docs/contracts.md, "Identifier
authority"): a batch is created only under an identifier prefix its producer is licensed.
:func:`identifier_split` is the one definition, on this side, of where a canonical
identifier's prefix sits (``contracts/src/libraries/Identifiers.sol`` is the other, and
a test holds them together): GS1 identifiers ``https://id.gs1.org/01/{indicator}`` +
company prefix (4-12 digits) + the rest of the GTIN; handles: the handle prefix or one of
its dot-ancestors, then ``/`` or ``.``; anything else (an open identifier) has no prefix
(allowed only by a node's policy). A bare batch id names no identifier (no preimage
is known) and so can never create a batch, not even under an open policy.

Five entry points, one set of rules:

- :func:`parse_identifier`: a batch (what events, the store and the API's ``{id}`` take);
- :func:`parse_key`: a batch, or a :class:`Product` for a GTIN alone (a Digital Link
  without lot or serial, ``(01){gtin}``, or the bare GTIN): what resolution takes;
- :func:`parse_lookup`: what a person typed, pasted or scanned into a lookup box. On top
  of :func:`parse_key` it drops whitespace inside a URL (where a line was wrapped), reads
  the identifier a TraceNode page URL carries (``/?id=...``), reads raw barcode data
  (``01{gtin}10{lot}``, with a symbology identifier such as ``]d2`` and GS separators),
  and takes anything else that is a GS1 lot code (1-20 characters of CSET 82) as a
  :class:`LotCode`: the lots of that code, of any product.
- :func:`parse_record`: what names no batch (an SSCC, an asset, any other URI) as the key
  of anchored-only records, by the same ``keccak256(utf8(canonical))`` rule;
- :func:`parse_identifier_prefix`: a family of batches by the start of their identifiers
  (a GS1 company prefix, a product, a handle prefix), as webhook subscriptions name them.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum, auto
from typing import Any, Final
from urllib.parse import parse_qs, quote, unquote

from node.events.hashing import keccak
from node.events.typed_data import BatchId
from node.exceptions import InvalidIdentifierError

MAX_IDENTIFIER_LENGTH: Final = 512
MAX_GS1_VALUE_LENGTH: Final = 20
MAX_HANDLE_SUFFIX_LENGTH: Final = 128
GS1_RESOLVER: Final = "https://id.gs1.org"

#: GS1's "CSET 82": the characters allowed in a lot (AI 10) or serial (AI 21).
CSET82: Final = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
_UNRESERVED: Final = frozenset(string.ascii_letters + string.digits + "-._~")
_DIGITAL_LINK_ESCAPES: Final = str.maketrans(
    {c: f"%{ord(c):02X}" for c in CSET82 if c not in _UNRESERVED}
)
_EPC_ESCAPES: Final = str.maketrans({c: f"%{ord(c):02X}" for c in '"%&/<>?'})

_CSET82_VALUE: Final = re.compile(r"[!\"%-?A-Z_a-z]+")
_DIGITS: Final = re.compile(r"[0-9]+")
_GTIN_SHAPE: Final = re.compile(r"[0-9]{8}|[0-9]{12,14}")
_AI: Final = re.compile(r"[0-9]{2,4}")
_BATCH_ID: Final = re.compile(r"0[xX][0-9a-fA-F]{64}")
_HTTP_URL: Final = re.compile(r"(https?)://([^/?#]+)([^?#]*)(?:\?[^#]*)?(?:#.*)?", re.IGNORECASE)
_URL_FORBIDDEN: Final = re.compile(r"[\s\x00-\x1f\x7f]")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HANDLE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)+)/(.*)", re.DOTALL)
_HANDLE_PREFIX: Final = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_EPC_BODY: Final = re.compile(r"([0-9]+)\.([0-9]+)\.(.*)", re.DOTALL)
_EPC_SCHEMES: Final = {"class:lgtin:": "lot", "id:sgtin:": "serial"}
_QUALIFIER_RANK: Final = {"22": 1, "10": 2, "21": 3}
#: Whitespace, but not the information separators U+001C-U+001F (str.isspace counts
#: them): GS, U+001D, ends a value in raw barcode data.
_WHITESPACE: Final = re.compile(r"[^\S\x1c-\x1f]+")
_ELEMENT_AI: Final = re.compile(r"\(([0-9]{2,4})\)")
#: Symbology identifiers a scanner may put before GS1 data (DataMatrix, QR, 128, DataBar).
_SYMBOLOGY: Final = re.compile(r"\](?:d2|Q3|C1|e0)")
_GROUP_SEPARATOR: Final = "\x1d"
#: Fixed-length AIs of raw barcode data (dates): their values run 6 digits, no separator.
_DATE_AIS: Final = frozenset({"11", "13", "15", "16", "17"})
_FORMS: Final = (
    "a GS1 Digital Link (https://id.gs1.org/01/{gtin}/10/{lot}), the text under a barcode "
    "((01){gtin}(10){lot}), an EPC URN (urn:epc:class:lgtin:... or urn:epc:id:sgtin:...), "
    "a handle (88.123.45/{suffix}), a 0x batch id, or another absolute URI (urn:acme:lot:7, "
    "where the node's policy allows open identifiers)"
)
_EXPECTED: Final = "expected " + _FORMS
#: What every canonical GS1 identifier starts with: the resolver and AI 01.
GS1_KEY_PREFIX: Final = f"{GS1_RESOLVER}/01/"


class PrefixKind(IntEnum):
    """Kinds of identifier prefix, as the contracts number them (Identifiers.sol)."""

    GS1 = 1  # GS1 company prefixes: licences 4-12 digits
    HANDLE = 2  # handle prefixes: dot-separated digit groups
    OTHER = 3  # identifiers of neither form: no prefix

    @property
    def label(self) -> str:
        """How JSON spells the kind (``gs1``, ``handle``, ``other``)."""
        return self.name.lower()


GS1_MIN_PREFIX: Final = 4
GS1_MAX_PREFIX: Final = 12
MAX_HANDLE_PREFIX: Final = 64


@dataclass(frozen=True, slots=True)
class Licence:
    """One licence of a prefix (ParticipantRegistry.Licence): ``holder`` speaks for the
    identifiers under it at blocks ``valid_from`` .. ``valid_until - 1`` (``valid_until``
    0: no end); ``held`` until revoked. ``holder`` 0: never licensed."""

    holder: int
    valid_from: int
    valid_until: int
    held: bool

    def valid_at(self, block: int) -> bool:
        return (
            self.holder != 0
            and self.valid_from <= block
            and (self.valid_until == 0 or block < self.valid_until)
        )

    @classmethod
    def from_abi(cls, value: Any) -> Licence:
        holder, valid_from, valid_until, held = value
        return cls(int(holder), int(valid_from), int(valid_until), bool(held))


@dataclass(frozen=True, slots=True)
class IdentifierSplit:
    """Where the prefix of a canonical identifier can sit: ``head ‖ prefix ‖ tail``.

    ``candidates`` are the prefixes that could be licensed for it, longest first (licences
    never overlap, so at most one of them is held at any block); the contract takes the
    identifier and the chosen prefix's length (:meth:`proof`).
    """

    kind: PrefixKind
    canonical: str
    head: str
    candidates: tuple[str, ...]

    def choose(self, holders: dict[str, int], producer: int) -> str | None:
        """The candidate an ``IdentifierProof`` names for ``producer``, given the holder of
        each candidate's current licence (absent or 0: none): the one the producer holds,
        else the first held by anyone, else the longest, so that the contract names the
        refusal. None for an identifier of no prefix kind."""
        if self.kind is PrefixKind.OTHER:
            return None
        fallback = None
        for candidate in self.candidates:
            holder = holders.get(candidate, 0)
            if holder == producer:
                return candidate
            if fallback is None and holder != 0:
                fallback = candidate
        return fallback or self.candidates[0]

    def proof(self, prefix: str | None) -> tuple[bytes, int]:
        """The ``IdentifierProof`` (identifier bytes, prefix length) naming ``prefix``, one
        of :attr:`candidates` (None for an identifier of no prefix kind)."""
        if prefix is None:
            if self.kind is not PrefixKind.OTHER:
                raise InvalidIdentifierError(f"{_show(self.canonical)} needs its prefix")
            return self.canonical.encode(), 0
        if prefix not in self.candidates:
            raise InvalidIdentifierError(
                f"{_show(prefix)} is not where the prefix of {_show(self.canonical)} sits"
            )
        return self.canonical.encode(), len(prefix)


def identifier_split(identifier: Identifier) -> IdentifierSplit:
    """The prefix candidates of a batch identifier (see the module docstring)."""
    canonical = identifier.canonical
    if identifier.kind is IdentifierKind.BATCH_ID:
        raise InvalidIdentifierError(
            f"a bare batch id ({canonical}) names no identifier, so no licence can cover it: "
            f"create the batch under its identifier ({_FORMS})"
        )
    if identifier.gtin is not None:
        gtin = identifier.gtin
        candidates = tuple(
            gtin[1 : 1 + length] for length in range(GS1_MAX_PREFIX, GS1_MIN_PREFIX - 1, -1)
        )
        return IdentifierSplit(PrefixKind.GS1, canonical, GS1_KEY_PREFIX + gtin[0], candidates)
    if identifier.prefix is not None:
        groups = identifier.prefix.split(".")
        candidates = tuple(
            ".".join(groups[:count])
            for count in range(len(groups), 0, -1)
            if len(".".join(groups[:count])) <= MAX_HANDLE_PREFIX
        )
        return IdentifierSplit(PrefixKind.HANDLE, canonical, "", candidates)
    return IdentifierSplit(PrefixKind.OTHER, canonical, "", ())


def identifier_kind(canonical: str | None) -> PrefixKind | None:
    """The prefix kind of a stored batch's canonical identifier (``OTHER``: an open
    identifier, no prefix, no brand owner); None when it has none (no identifier, or a
    bare batch id)."""
    if canonical is None:
        return None
    try:
        return identifier_split(parse_identifier(canonical)).kind
    except InvalidIdentifierError:
        return None


def prefix_kind(prefix: str) -> PrefixKind:
    """The kind of a licence prefix as ParticipantRegistry.register reads it: a handle
    when it holds a dot, a GS1 company prefix otherwise."""
    return PrefixKind.HANDLE if "." in prefix else PrefixKind.GS1


def prefix_key(kind: PrefixKind, prefix: str) -> bytes:
    """The key under which ParticipantRegistry stores a prefix: keccak256(kind ‖ prefix)."""
    return keccak(bytes([int(kind)]) + prefix.encode())


class IdentifierKind(StrEnum):
    """What an identifier names."""

    DIGITAL_LINK_LOT = auto()  # GTIN + lot (LGTIN)
    DIGITAL_LINK_ITEM = auto()  # GTIN + serial (SGTIN): one item, its own batch
    HANDLE = auto()  # industrial-internet handle
    BATCH_ID = auto()  # a bare 0x batch id
    OPEN = auto()  # any other absolute URI: no prefix kind, a node's policy allows it
    LOGISTIC_UNIT = auto()  # an SSCC: a pallet or case (parse_logistic_unit only)
    RECORD = auto()  # no batch: the key of anchored-only records (parse_record only)


@dataclass(frozen=True, slots=True)
class Identifier:
    """A parsed batch identifier: its canonical string, its batch id and its parts.

    Two identifiers are equal when they name the same batch: ``company_prefix_length``
    only remembers how an EPC URN split the GTIN and takes no part in equality.
    """

    kind: IdentifierKind
    canonical: str
    batch_id: BatchId
    gtin: str | None = None  # GTIN-14, for GS1 kinds
    lot: str | None = None
    serial: str | None = None
    prefix: str | None = None  # handle prefix, e.g. "88.123.45"
    suffix: str | None = None
    company_prefix_length: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if len(self.batch_id) != 32:
            raise InvalidIdentifierError("a batch id must be 32 bytes")

    @property
    def batch_id_hex(self) -> str:
        return "0x" + self.batch_id.hex()

    @property
    def epc_urn(self) -> str | None:
        """The lgtin / sgtin EPC URN, when known: a Digital Link does not say where the
        company prefix ends, so only identifiers parsed from a URN have one."""
        if self.gtin is None or self.company_prefix_length is None:
            return None
        cut = 1 + self.company_prefix_length
        head = f"{self.gtin[1:cut]}.{self.gtin[0]}{self.gtin[cut:13]}"
        if self.lot is not None:
            return f"urn:epc:class:lgtin:{head}.{self.lot.translate(_EPC_ESCAPES)}"
        if self.serial is not None:
            return f"urn:epc:id:sgtin:{head}.{self.serial.translate(_EPC_ESCAPES)}"
        return None


@dataclass(frozen=True, slots=True)
class Product:
    """A GTIN alone: it names a product (a trade item), not a batch. Resolution lists the
    product's lots and items this node holds."""

    gtin: str  # GTIN-14

    @property
    def canonical(self) -> str:
        """The product's Digital Link, ``https://id.gs1.org/01/{GTIN-14}``."""
        return GS1_KEY_PREFIX + self.gtin

    @property
    def batch_prefix(self) -> str:
        """What the canonical identifier of each of its lots and items starts with."""
        return self.canonical + "/"

    def not_a_batch(self) -> InvalidIdentifierError:
        return InvalidIdentifierError(
            f"GTIN {self.gtin} alone names a product, not a batch: add its lot or serial "
            "(/10/{lot} or /21/{serial} in a Digital Link)"
        )


@dataclass(frozen=True, slots=True)
class LotCode:
    """A lot code on its own (``LOT-7``, as printed on a pack): it names the lots of that
    code, of any product (GS1 lots, AI 10; not serials, not handles)."""

    lot: str

    @property
    def canonical_suffix(self) -> str:
        """How every canonical identifier of such a lot ends: ``/10/{lot}``, escaped."""
        return "/10/" + self.lot.translate(_DIGITAL_LINK_ESCAPES)


class PrefixFamily(StrEnum):
    """What family of batches an :class:`IdentifierPrefix` names."""

    COMPANY = auto()  # a GS1 company prefix: every GTIN it allocated
    PRODUCT = auto()  # a GTIN: its lots and items
    HANDLE = auto()  # a handle prefix: its handles and those of its sub-prefixes


@dataclass(frozen=True, slots=True)
class IdentifierPrefix:
    """The start of a family of batch identifiers (what a webhook subscription names):

    - a GS1 **company prefix**, 6 to 12 digits (``9506000``): every lot and item of a GTIN
      that prefix allocated, i.e. whose GTIN-14 holds it after the indicator digit;
    - a **product**, as a GTIN's Digital Link or element string
      (``https://id.gs1.org/01/09506000134352``, ``(01)09506000134352``): its lots and items
      (a bare GTIN is read as digits, so as a company prefix: spell the product as a link);
    - a **handle prefix**, dot-separated digits (``88.123``, ``hdl:`` allowed): its handles
      and those of the prefixes under it (``88.123.45/x``), segment by segment, so
      ``88.123`` does not take ``88.1234/x``.

    ``text`` is the canonical spelling (what :func:`parse_identifier_prefix` reads back).
    """

    kind: PrefixFamily
    text: str

    def matches(self, canonical: str) -> bool:
        """Whether the batch whose canonical identifier is ``canonical`` is in the family."""
        if self.kind is PrefixFamily.HANDLE:
            return canonical.startswith((self.text + "/", self.text + "."))
        if self.kind is PrefixFamily.PRODUCT:
            return canonical.startswith(self.text + "/")
        gtin = canonical[len(GS1_KEY_PREFIX) : len(GS1_KEY_PREFIX) + 14]
        return canonical.startswith(GS1_KEY_PREFIX) and gtin[1:].startswith(self.text)


def parse_identifier_prefix(text: str) -> IdentifierPrefix:
    """Parse a company prefix, a product or a handle prefix (:class:`IdentifierPrefix`);
    :class:`InvalidIdentifierError` naming what is wrong otherwise, a whole batch
    identifier included (it names one batch, not a family)."""
    text = _bounded(text)
    if _DIGITS.fullmatch(text):
        if not 6 <= len(text) <= 12:
            raise InvalidIdentifierError(
                f"a GS1 company prefix is 6 to 12 digits, got {len(text)}; spell a product "
                "as its Digital Link (https://id.gs1.org/01/{gtin})"
            )
        return IdentifierPrefix(PrefixFamily.COMPANY, text)
    handle = text[4:] if text[:4].lower() == "hdl:" else text
    if _HANDLE_PREFIX.fullmatch(handle):
        return IdentifierPrefix(PrefixFamily.HANDLE, handle)
    key = parse_key(text)
    if isinstance(key, Identifier):
        raise InvalidIdentifierError(
            f"{_show(text)} names one batch, not a family of them: subscribe to the batch "
            "itself, or give a company prefix (digits), a product (its GTIN's Digital Link) "
            "or a handle prefix (88.123)"
        )
    return IdentifierPrefix(PrefixFamily.PRODUCT, key.canonical)


def parse_identifier(text: str) -> Identifier:
    """Parse any accepted spelling of a batch identifier (see the module docstring)."""
    key = parse_key(text)
    if isinstance(key, Product):
        raise key.not_a_batch()
    return key


def parse_key(text: str) -> Identifier | Product:
    """A batch identifier (:func:`parse_identifier`'s spellings), or a GTIN alone (a Digital
    Link without lot or serial, ``(01){gtin}``, or the bare GTIN) as its :class:`Product`."""
    text = _bounded(text)
    head = text[:8].lower()
    if head.startswith(("http://", "https://")):
        return _parse_url(text)
    if head.startswith("urn:epc:"):
        return _parse_epc_urn(text)
    if head.startswith("hdl:"):
        return _parse_handle(text[4:])
    if head.startswith("0x"):
        return _parse_batch_id(text)
    if text.startswith("("):
        return _parse_element_string(text)
    if _DIGITS.fullmatch(text):
        if _GTIN_SHAPE.fullmatch(text):
            return Product(_gtin14(text))
        raise InvalidIdentifierError(f"a number alone ({_show(text)}) names no batch: {_EXPECTED}")
    if "0" <= text[0] <= "9":
        return _parse_handle(text)
    if _RECORD_URI.fullmatch(text) and not _LOCATOR.match(text):
        return _open(text)
    raise InvalidIdentifierError(f"{_show(text)} is in none of the accepted forms: {_FORMS}")


def _open(text: str) -> Identifier:
    """An open identifier (see the module docstring): kept as written."""
    return Identifier(IdentifierKind.OPEN, text, BatchId(keccak(text.encode())))


def names_open_batch(*, exists: bool, creates: bool) -> bool:
    """The one rule for an open identifier (``urn:acme:lot:7``), which may name a batch or
    the key of anchored-only records under the same ``keccak256(utf8(canonical))``: it
    names a batch when a batch of that id exists (this node's store, or the chain) or the
    event creates it (a COMMISSION, a TRANSFORM's output, a lot adopted from outside),
    and a record otherwise. A batch is never created under a key that already holds
    records (:class:`~node.exceptions.IdentifierIsRecordError`), so once either exists the
    answer never changes (docs/events.md, "Open identifiers")."""
    return exists or creates


def parse_lookup(text: str) -> Identifier | Product | LotCode:
    """What a person typed, pasted or scanned into a lookup box (see the module
    docstring): a batch, a product, or a lot code to search for."""
    text = _bounded(text)
    compact = _WHITESPACE.sub("", text)
    if compact[:8].lower().startswith(("http://", "https://")):
        carried = _page_identifier(compact)
        return parse_lookup(carried) if carried is not None else parse_key(compact)
    if compact.startswith("("):
        return _parse_element_string(compact)
    scanned = _parse_barcode_data(compact)
    if scanned is not None:
        return scanned
    if _DIGITS.fullmatch(compact):  # a GTIN as printed under an EAN-13: 5 012345 678900
        if _GTIN_SHAPE.fullmatch(compact) and int(compact[-1]) == gs1_check_digit(compact[:-1]):
            return Product(compact.zfill(14))
    elif text[:4].lower() in ("urn:", "hdl:") or text[:2].lower() == "0x" or _HANDLE.match(text):
        return parse_key(text)
    if len(text) <= MAX_GS1_VALUE_LENGTH and _CSET82_VALUE.fullmatch(text):
        return LotCode(text)  # ``LOT:7`` is read as a lot code first: GS1 lots may hold ':'
    if _RECORD_URI.fullmatch(text):
        return parse_key(text)
    raise InvalidIdentifierError(
        f"{_show(text)} is neither an identifier nor a lot code (1 to {MAX_GS1_VALUE_LENGTH} "
        f"of GS1's characters, no spaces); identifiers are {_FORMS}"
    )


def _bounded(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidIdentifierError("empty identifier")
    if len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidIdentifierError(
            f"identifier too long: {len(text)} characters (at most {MAX_IDENTIFIER_LENGTH})"
        )
    return text


def _page_identifier(url: str) -> str | None:
    """What a TraceNode page URL (``https://{node}/?id=...`` or ``?q=...``) carries."""
    match = _HTTP_URL.fullmatch(url)
    if match is None or match.group(3) not in ("", "/") or "?" not in url:
        return None
    query = parse_qs(url.split("?", 1)[1].split("#", 1)[0])
    for name in ("id", "q"):
        values = query.get(name)
        if values and values[0].strip():
            return values[0]
    return None


def _parse_element_string(text: str) -> Identifier | Product:
    """``(01){gtin}(10){lot}...``: read as the Digital Link path with the same AIs."""
    parts = _ELEMENT_AI.split(_WHITESPACE.sub("", text))
    if parts[0]:
        raise InvalidIdentifierError(
            f"a GS1 element string starts with an AI in brackets, (01), not {_show(parts[0])}"
        )
    return _from_elements(list(zip(parts[1::2], parts[2::2], strict=True)))


def _parse_barcode_data(text: str) -> Identifier | Product | None:
    """Raw GS1 barcode data, as a scanner reads a DataMatrix or a GS1 QR code: an optional
    symbology identifier, ``01`` and 14 digits, then lots (10), serials (21) and dates
    (11, 13, 15, 16, 17); a lot or serial runs to a GS separator or the end. None when
    ``text`` does not start that way."""
    data = text[3:] if _SYMBOLOGY.match(text) else text
    if not re.match(r"01[0-9]{14}", data):
        return None
    pairs = [("01", data[2:16])]
    at = 16
    while at < len(data):
        if data[at] == _GROUP_SEPARATOR:
            at += 1
            continue
        ai = data[at : at + 2]
        if ai in _DATE_AIS:
            pairs.append((ai, data[at + 2 : at + 8]))
            at += 8
        elif ai in ("10", "21"):
            end = data.find(_GROUP_SEPARATOR, at)
            end = len(data) if end < 0 else end
            pairs.append((ai, data[at + 2 : end]))
            at = end
        else:
            raise InvalidIdentifierError(
                f"barcode data with AI {_show(ai)} after the GTIN: only lots (10), serials "
                "(21) and dates are read here; use the label's Digital Link"
            )
    return _from_elements(pairs)


def _from_elements(pairs: list[tuple[str, str]]) -> Identifier | Product:
    """(AI, value) pairs of an element string, as the Digital Link path of the same AIs:
    key qualifiers in GS1's order, values percent-encoded for the path's decoder."""
    gtins = [value for ai, value in pairs if ai == "01"]
    if len(gtins) != 1:
        raise InvalidIdentifierError(
            "a GS1 element string needs one GTIN, (01) and 14 digits"
            if not gtins
            else "more than one GTIN (AI 01) in the element string"
        )
    rest = sorted(
        ((ai, value) for ai, value in pairs if ai != "01"),
        key=lambda pair: _QUALIFIER_RANK.get(pair[0], 9),
    )
    segments = ["01", gtins[0]]
    for ai, value in rest:
        segments += [ai, quote(value, safe="")]
    return _parse_digital_link(segments)


_SSCC_URN: Final = re.compile(r"urn:epc:id:sscc:([0-9]{6,12})\.([0-9]+)", re.IGNORECASE)
_SSCC_PATH: Final = re.compile(r"/00/([0-9]{18})/?")


def parse_logistic_unit(text: str) -> Identifier:
    """An SSCC (a pallet, a case: what AGGREGATE events name as the parent), from
    ``urn:epc:id:sscc:{company prefix}.{extension + serial reference}`` or a Digital Link
    ``https://{host}/00/{SSCC-18}``; check digit validated. Canonical:
    ``https://id.gs1.org/00/{SSCC-18}``. SSCCs are not batches: custody is tracked per lot,
    so :func:`parse_identifier` refuses them."""
    text = text.strip()
    if len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidIdentifierError("identifier too long")
    urn = _SSCC_URN.fullmatch(text)
    if urn is not None:
        company_prefix, reference = urn.groups()
        if len(company_prefix) + len(reference) != 17:
            raise InvalidIdentifierError(
                "an SSCC URN's company prefix and serial reference must be 17 digits together"
            )
        body = reference[0] + company_prefix + reference[1:]
        sscc = body + str(gs1_check_digit(body))
    else:
        match = _HTTP_URL.fullmatch(text)
        path = _SSCC_PATH.fullmatch(match.group(3)) if match is not None else None
        if path is None:
            raise InvalidIdentifierError(
                f"not an SSCC: {_show(text)}; expected urn:epc:id:sscc:... or .../00/{{SSCC-18}}"
            )
        sscc = path.group(1)
        expected = gs1_check_digit(sscc[:17])
        if int(sscc[17]) != expected:
            raise InvalidIdentifierError(
                f"bad check digit in SSCC {sscc}: expected {expected}, found {sscc[17]}"
            )
    canonical = f"{GS1_RESOLVER}/00/{sscc}"
    return Identifier(IdentifierKind.LOGISTIC_UNIT, canonical, BatchId(keccak(canonical.encode())))


#: EPC URN schemes of GTIN-based batches (lots, items).
GTIN_BATCH_URNS: Final = ("urn:epc:id:sgtin:", "urn:epc:class:lgtin:")
_GTIN_BATCH_LINK: Final = re.compile(r"https?://[^/?#]+(?:/[^?#]*)?/01/[0-9]+/(?:10|21)/.+")


def looks_like_gtin_batch(text: str) -> bool:
    """Whether ``text`` is written as a GTIN-based lot or item (an LGTIN / SGTIN URN, a
    Digital Link with AI 10 or 21), well-formed or not: a malformed one is an error, not
    something else that names no batch."""
    stripped = text.strip()
    return stripped.lower().startswith(GTIN_BATCH_URNS) or bool(
        _GTIN_BATCH_LINK.fullmatch(stripped)
    )


#: An absolute URI as a record key: a scheme, a colon, then no whitespace or control
#: character (``urn:…``, ``https://…``, ``ni:///sha-256;…``).
_RECORD_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+")
#: A URI with an authority or a path from the root (``ftp://``, ``ni:///``): a locator or
#: a hash, never an open identifier.
_LOCATOR: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")


def parse_record(text: str) -> Identifier:
    """The key of an *anchored-only record*: an identifier an event names that is no
    batch — an SSCC, an asset (GRAI, GIAI), a service relation (GSRN), a product class, a
    URI of another scheme, or an EPCIS event's own hash ID — under which observations are
    signed and anchored without ever creating or moving custody (docs/epcis.md).

    ``batchId = keccak256(utf8(canonical))``, the batches' own rule, so a pallet's SSCC
    has one id as an AGGREGATE's pallet and as a record, and an open identifier one id as
    a record key and as a batch (which of the two it names: :func:`names_open_batch`).
    An SSCC in any spelling is canonically its Digital Link (:func:`parse_logistic_unit`);
    any other URI is kept as written, so callers write GS1 keys as their canonical Digital
    Link first (EPCIS capture does, with the CBV 2.0 hash ID's rules). Refused with an
    :class:`~node.exceptions.InvalidIdentifierError`: a batch identifier (a lot, an item,
    a handle or a 0x id: its events are the batch's; an open identifier is read as a
    record key here), empty input, input over 512
    characters, and anything that is not an absolute URI."""
    text = _bounded(text)
    try:
        key = parse_key(text)
    except InvalidIdentifierError:
        if looks_like_gtin_batch(text):
            raise  # a lot or an item, malformed: never a record in its place
        key = None
    if isinstance(key, Identifier) and key.kind is not IdentifierKind.OPEN:
        raise InvalidIdentifierError(
            f"{_show(text)} names a batch, whose events are the batch's, not a record's"
        )
    try:
        canonical = parse_logistic_unit(text).canonical
    except InvalidIdentifierError:
        if not _RECORD_URI.fullmatch(text):
            raise InvalidIdentifierError(
                f"{_show(text)} is not an absolute URI (urn:…, https://…), so it cannot "
                "name a record"
            ) from None
        canonical = text
    return Identifier(IdentifierKind.RECORD, canonical, BatchId(keccak(canonical.encode())))


def batch_id_of(text: str) -> BatchId:
    """The batch id named by any accepted spelling of a batch identifier."""
    return parse_identifier(text).batch_id


def gtin_check_digit(digits13: str) -> int:
    """GS1's mod-10 check digit over the first 13 digits of a GTIN-14."""
    if len(digits13) != 13 or not _DIGITS.fullmatch(digits13):
        raise InvalidIdentifierError(f"a GTIN check digit needs 13 digits, got {_show(digits13)}")
    return gs1_check_digit(digits13)


def gs1_check_digit(digits: str) -> int:
    """GS1's mod-10 check digit (GTIN, GLN, SSCC, GRAI, GDTI, GSRN, ...): weights 3 and 1
    alternating from the rightmost digit. ``digits`` are the key without its check digit."""
    if not digits or not _DIGITS.fullmatch(digits):
        raise InvalidIdentifierError(f"a GS1 check digit needs digits, got {_show(digits)}")
    reverse = digits[::-1]
    total = 3 * sum(map(int, reverse[0::2])) + sum(map(int, reverse[1::2]))
    return -total % 10


def _gs1(gtin: str, *, lot: str | None, serial: str | None, cp_length: int | None) -> Identifier:
    if serial is not None:
        canonical = f"{GS1_RESOLVER}/01/{gtin}/21/{serial.translate(_DIGITAL_LINK_ESCAPES)}"
        kind, lot = IdentifierKind.DIGITAL_LINK_ITEM, None
    elif lot is not None:
        canonical = f"{GS1_RESOLVER}/01/{gtin}/10/{lot.translate(_DIGITAL_LINK_ESCAPES)}"
        kind = IdentifierKind.DIGITAL_LINK_LOT
    else:
        raise Product(gtin).not_a_batch()
    return Identifier(
        kind,
        canonical,
        BatchId(keccak(canonical.encode())),
        gtin=gtin,
        lot=lot,
        serial=serial,
        company_prefix_length=cp_length,
    )


def _parse_url(text: str) -> Identifier | Product:
    bad = _URL_FORBIDDEN.search(text)
    if bad is not None:
        raise InvalidIdentifierError(
            f"URL contains whitespace or a control character (U+{ord(bad.group()):04X})"
        )
    match = _HTTP_URL.fullmatch(text)
    if match is None:
        raise InvalidIdentifierError(f"malformed URL {_show(text)}: expected http(s)://host/path")
    segments = match.group(3).split("/")[1:]
    if segments and _HANDLE_PREFIX.fullmatch(segments[0]):
        suffix = _percent_decode("/".join(segments[1:]), "handle suffix")
        return _handle(segments[0], suffix)
    return _parse_digital_link(segments)


def _parse_digital_link(segments: list[str]) -> Identifier | Product:
    start = _primary_key_index(segments)
    gtin = _gtin14(segments[start + 1])
    rest = segments[start + 2 :]
    if len(rest) % 2 and rest[-1] == "":
        rest.pop()  # a trailing slash
    values: dict[str, str] = {}
    last_rank = 0
    for i in range(0, len(rest), 2):
        ai = rest[i]
        if not _AI.fullmatch(ai):
            raise InvalidIdentifierError(
                f"unexpected path segment {_show(ai)} in a Digital Link: expected an AI number"
            )
        if i + 1 == len(rest):
            raise InvalidIdentifierError(f"AI {ai} has no value in the Digital Link path")
        if ai == "01":
            raise InvalidIdentifierError("more than one GTIN (AI 01) in the Digital Link path")
        if ai == "22":
            raise InvalidIdentifierError(
                "consumer product variant (AI 22) is not supported in batch identifiers"
            )
        rank = _QUALIFIER_RANK.get(ai)
        if rank is None:
            continue  # a data attribute: not part of identity
        if rank <= last_rank:
            raise InvalidIdentifierError(
                "key qualifiers must appear once each, in the order 22, 10, 21"
            )
        last_rank = rank
        what = "lot" if ai == "10" else "serial"
        values[ai] = _gs1_value(_percent_decode(rest[i + 1], what), what)
    if not values:
        return Product(gtin)  # no lot, no serial: the product itself
    return _gs1(gtin, lot=values.get("10"), serial=values.get("21"), cp_length=None)


def _primary_key_index(segments: list[str]) -> int:
    first = None
    for i in range(len(segments) - 1):
        if segments[i] == "01":
            if _GTIN_SHAPE.fullmatch(segments[i + 1]):
                return i
            if first is None:
                first = i
    if first is None:
        raise InvalidIdentifierError(
            f"no GTIN (/01/{{gtin}}) in the URL path and no handle prefix: {_EXPECTED}"
        )
    return first  # _gtin14 says what is wrong with the value


def _gtin14(value: str) -> str:
    if len(value) not in (8, 12, 13, 14) or not _DIGITS.fullmatch(value):
        raise InvalidIdentifierError(f"a GTIN must be 8, 12, 13 or 14 digits, got {_show(value)}")
    gtin = value.zfill(14)
    expected = gtin_check_digit(gtin[:13])
    if int(gtin[13]) != expected:
        raise InvalidIdentifierError(
            f"bad check digit in GTIN {value}: expected {expected}, found {gtin[13]}"
        )
    return gtin


def _gs1_value(value: str, what: str) -> str:
    if not value:
        raise InvalidIdentifierError(f"empty {what}")
    if len(value) > MAX_GS1_VALUE_LENGTH:
        raise InvalidIdentifierError(
            f"{what} too long: {len(value)} characters (GS1 allows at most {MAX_GS1_VALUE_LENGTH})"
        )
    if not _CSET82_VALUE.fullmatch(value):
        char = next(c for c in value if c not in CSET82)
        raise InvalidIdentifierError(
            f"{what} contains {char!r} (U+{ord(char):04X}), outside GS1's CSET 82 character set"
        )
    return value


def _percent_decode(value: str, what: str) -> str:
    if "%" not in value:
        return value
    if _BAD_PERCENT.search(value):
        raise InvalidIdentifierError(
            f"malformed percent-encoding in {what}: '%' must be followed by two hex digits"
        )
    return unquote_strict(value, what)


def unquote_strict(value: str, what: str) -> str:
    """``value`` with its percent-escapes decoded as UTF-8; :class:`InvalidIdentifierError`
    when they spell bytes that are not UTF-8 (``%ff``), never U+FFFD in their place."""
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise InvalidIdentifierError(f"{what} is not UTF-8 once percent-decoded") from None


def _parse_epc_urn(text: str) -> Identifier:
    rest = text[8:]
    scheme = next((scheme for scheme in _EPC_SCHEMES if rest.startswith(scheme)), None)
    if scheme is None:
        raise InvalidIdentifierError(
            f"unsupported EPC URN scheme {_show(':'.join(rest.split(':')[:2]))}: only "
            "urn:epc:class:lgtin and urn:epc:id:sgtin (lowercase) name batches or items"
        )
    what, body = _EPC_SCHEMES[scheme], rest[len(scheme) :]
    match = _EPC_BODY.fullmatch(body)
    if match is None:
        raise InvalidIdentifierError(
            f"EPC URN must end in {{company prefix}}.{{indicator + item reference}}.{{{what}}}"
        )
    company_prefix, reference, value = match.groups()
    if not 6 <= len(company_prefix) <= 12:
        raise InvalidIdentifierError(
            f"a GS1 company prefix must be 6 to 12 digits, got {len(company_prefix)}"
        )
    if len(company_prefix) + len(reference) != 13:
        raise InvalidIdentifierError(
            "company prefix and indicator + item reference must be 13 digits together, "
            f"got {len(company_prefix) + len(reference)}"
        )
    data = reference[0] + company_prefix + reference[1:]
    gtin = data + str(gtin_check_digit(data))
    value = _gs1_value(_percent_decode(value, what), what)
    if what == "lot":
        return _gs1(gtin, lot=value, serial=None, cp_length=len(company_prefix))
    return _gs1(gtin, lot=None, serial=value, cp_length=len(company_prefix))


def _parse_handle(text: str) -> Identifier:
    match = _HANDLE.fullmatch(text)
    if match is None:
        raise InvalidIdentifierError(
            f"not a handle: {_show(text)}; expected {{prefix}}/{{suffix}} with a prefix of "
            "dot-separated digits such as 88.123.45"
        )
    return _handle(match.group(1), match.group(2))


def _handle(prefix: str, suffix: str) -> Identifier:
    if not suffix:
        raise InvalidIdentifierError(f"empty handle suffix after {prefix}/")
    if len(suffix) > MAX_HANDLE_SUFFIX_LENGTH:
        raise InvalidIdentifierError(
            f"handle suffix too long: {len(suffix)} characters (at most {MAX_HANDLE_SUFFIX_LENGTH})"
        )
    # str.isprintable admits one whitespace character, the space.
    if not suffix.isprintable() or " " in suffix:
        char = next(c for c in suffix if c == " " or not c.isprintable())
        raise InvalidIdentifierError(
            f"handle suffix contains {char!r} (U+{ord(char):04X}): "
            "whitespace and control characters are not allowed"
        )
    canonical = f"{prefix}/{suffix}"
    return Identifier(
        IdentifierKind.HANDLE,
        canonical,
        BatchId(keccak(canonical.encode())),
        prefix=prefix,
        suffix=suffix,
    )


def _parse_batch_id(text: str) -> Identifier:
    if not _BATCH_ID.fullmatch(text):
        raise InvalidIdentifierError(
            f"a batch id is 0x followed by 64 hex digits, got {_show(text)}"
        )
    canonical = text.lower()
    return Identifier(IdentifierKind.BATCH_ID, canonical, BatchId(bytes.fromhex(canonical[2:])))


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")
