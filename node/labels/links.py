"""The URL printed on a batch's label, on a given node.

- A GS1 Digital Link (lot or item) keeps its GS1 path on the node's host:
  ``{base}/01/{GTIN-14}/10/{lot}`` — the node resolves it like id.gs1.org would
  (a browser lands on the buyer page, a JSON client gets the batch).
- Anything else (a handle, a bare 0x batch id) goes through the node's resolver:
  ``{base}/v1/resolve/{canonical}``, percent-encoded with its slashes kept.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from node.events.identifiers import GS1_RESOLVER, Identifier, IdentifierKind
from node.exceptions import ConfigurationError

MAX_BASE_URL_LENGTH: Final = 256
_BASE_URL: Final = re.compile(
    r"(?i:https?)://(?:[A-Za-z0-9._\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~\-/]*)?"
)
_GS1_KINDS: Final = (IdentifierKind.DIGITAL_LINK_LOT, IdentifierKind.DIGITAL_LINK_ITEM)


def normalise_base_url(text: str) -> str:
    """``text`` as a node's base URL: http(s), a host name or address, an optional port and
    path, no query, fragment, user info or trailing slash; :class:`ConfigurationError`
    otherwise."""
    candidate = text.strip()
    if len(candidate) > MAX_BASE_URL_LENGTH or not _BASE_URL.fullmatch(candidate):
        shown = candidate[:80] + ("…" if len(candidate) > 80 else "")
        raise ConfigurationError(
            f"not a base URL for labels: {shown!r}; expected http(s)://host[:port][/path]"
        )
    scheme, _, rest = candidate.partition("://")
    return f"{scheme.lower()}://{rest}".rstrip("/")


def label_url(identifier: Identifier, base_url: str) -> str:
    """The URL a label (QR code) for ``identifier`` carries on the node at ``base_url``."""
    base = normalise_base_url(base_url)
    canonical = identifier.canonical
    if identifier.kind in _GS1_KINDS and canonical.startswith(GS1_RESOLVER + "/"):
        return base + canonical[len(GS1_RESOLVER) :]
    return f"{base}/v1/resolve/{quote(canonical, safe='/')}"
