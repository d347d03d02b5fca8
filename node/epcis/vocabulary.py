"""EPCIS 2.0 vocabulary: the JSON-LD context (vendored), bare CBV words, CURIEs and URNs.

Everything here is read from GS1's ratified context (``schema/epcis-context-2.0.0.jsonld``):
which properties take a controlled vocabulary (``"@type": "@vocab"``) and what each bare
word stands for (``"shipping"`` under ``bizStep`` is ``cbv:BizStep-shipping``, i.e.
``https://ref.gs1.org/cbv/BizStep-shipping``). No table is copied by hand, and no context
is ever fetched: a document's ``@context`` may name GS1's context by URL (resolved to the
vendored copy) and declare prefixes inline; other remote contexts are not loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

#: URLs at which GS1 publishes the EPCIS 2.0 context; all resolve to the vendored copy.
GS1_CONTEXT_URLS: Final = frozenset(
    {
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
        "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    }
)
CBV: Final = "https://ref.gs1.org/cbv/"

#: CBV 1.x URN vocabulary prefixes and their CBV 2.0 web URI equivalents.
URN_VOCABULARY: Final = (
    ("urn:epcglobal:cbv:bizstep:", CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV + "ER-"),
)


def schema_text(name: str) -> str:
    """A vendored GS1 file, from the package (never from outside it)."""
    return resources.files("node.epcis").joinpath("schema", name).read_text(encoding="utf-8")


@cache
def gs1_context() -> dict[str, Any]:
    """The ``@context`` object of GS1's EPCIS 2.0 JSON-LD context."""
    context: dict[str, Any] = json.loads(schema_text("epcis-context-2.0.0.jsonld"))["@context"]
    return context


@cache
def gs1_prefixes() -> dict[str, str]:
    """The prefixes GS1's context declares (``epcis``, ``cbv``, ``gs1``, ...)."""
    return {
        key: value
        for key, value in gs1_context().items()
        if isinstance(value, str) and not key.startswith("@") and value.endswith(("/", "#", ":"))
    }


@cache
def _vocabularies() -> dict[tuple[str, ...], dict[str, str]]:
    """Bare words per vocabulary-typed property path, e.g. ``("bizStep",)`` or
    ``("sensorElementList", "sensorReport", "type")``, expanded to full IRIs."""
    found: dict[tuple[str, ...], dict[str, str]] = {}
    prefixes = gs1_prefixes()

    def walk(context: Any, path: tuple[str, ...]) -> None:
        if isinstance(context, list):
            for item in context:
                walk(item, path)
            return
        if not isinstance(context, dict):
            return
        for key, value in context.items():
            if not isinstance(value, dict):
                continue
            scoped = value.get("@context", {})
            if value.get("@type") == "@vocab" and isinstance(scoped, dict):
                found[(*path, key)] = {
                    word: expand_curie(iri, prefixes)
                    for word, iri in scoped.items()
                    if isinstance(iri, str) and not word.startswith("@")
                }
            if "@context" in value:
                walk(scoped, (*path, key))

    walk(gs1_context(), ())
    # persistentDisposition's set / unset lists take disposition values (CBV 2.0 §7.3).
    dispositions = found[("disposition",)]
    for key in (("persistentDisposition", "set"), ("persistentDisposition", "unset")):
        found[key] = {**dispositions, **found.get(key, {})}
    return found


def vocabulary(path: tuple[str, ...]) -> Mapping[str, str]:
    """The bare words allowed at a property path (empty when it takes no vocabulary)."""
    return _vocabularies().get(path, {})


def expand_curie(value: str, prefixes: Mapping[str, str]) -> str:
    """``prefix:rest`` with a declared prefix expanded; anything else unchanged."""
    head, sep, rest = value.partition(":")
    if sep and not rest.startswith("//") and head in prefixes:
        return prefixes[head] + rest
    return value


def web_vocabulary(value: str) -> str:
    """A CBV 1.x URN (``urn:epcglobal:cbv:bizstep:shipping``) as its CBV 2.0 web URI."""
    for urn, web in URN_VOCABULARY:
        if value.startswith(urn):
            return web + value[len(urn) :]
    return value


def inline_prefixes(context: Any) -> dict[str, str]:
    """Prefixes a document's ``@context`` declares inline (``"ex": "https://.../"``).

    A context is a URL, an object, or a list of both; object members whose value is an
    IRI string (or a term definition with ``"@prefix": true``) are prefixes. Later
    declarations win, as in JSON-LD. Remote contexts are never fetched.
    """
    prefixes: dict[str, str] = {}
    items = context if isinstance(context, list) else [context]
    for item in items:
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key.startswith("@"):
                continue
            if isinstance(value, str) and ":" in value:
                prefixes[key] = value
            elif (
                isinstance(value, dict)
                and value.get("@prefix") is True
                and isinstance(value.get("@id"), str)
            ):
                prefixes[key] = value["@id"]
    return prefixes
