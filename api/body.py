"""Reading a JSON body: :func:`read_json`, the one reading of every JSON request body, by
hand for routes that parse it with the node's own parsers (one definition of the
submission format: node.events.submission), and through :class:`JsonBodyRoute` for routes
whose body is a pydantic model (FastAPI would read those with Starlette's
``request.json()``: any media type, UTF-16, NaN)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import Request, Response
from fastapi.params import Form
from fastapi.routing import APIRoute

from node.events.identifiers import MAX_IDENTIFIER_LENGTH
from node.events.submission import MAX_IDENTIFIERS, MAX_LIST_ITEMS
from node.events.typed_data import TRACE_EVENT_FIELDS
from node.exceptions import MalformedJsonError, UnsupportedMediaTypeError

JSON_TYPES: Final = ("application/json",)
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string that is not valid Unicode (a lone
    surrogate, which JSON's \\u escapes can spell but UTF-8 cannot encode)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: Request) -> Any:
    """The body as JSON; 415 for another media type, 400 for anything that is not JSON
    (NaN, Infinity and text in another encoding than UTF-8 included). Size and nesting
    were bounded by the middleware."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media.lower() not in JSON_TYPES and not media.lower().endswith("+json"):
        raise UnsupportedMediaTypeError(f"send application/json, not {media!r}")
    body = await request.body()
    try:
        # UTF-8 only (RFC 8259 §8.1): json.loads would detect UTF-16 and UTF-32 in bytes.
        # A leading UTF-8 byte order mark is ignored, as the RFC allows.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedJsonError(f"the request body is not UTF-8: {exc}") from None
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise MalformedJsonError(f"the request body is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(body) and has_lone_surrogate(document):
        raise MalformedJsonError("the request body holds a string that is not valid Unicode")
    return document


class JsonBodyRequest(Request):
    """A request whose ``json()`` is :func:`read_json` (read once)."""

    _document: Any

    async def json(self) -> Any:
        if not hasattr(self, "_document"):
            self._document = await read_json(self)
        return self._document


class JsonBodyRoute(APIRoute):
    """A route whose pydantic body is read by :func:`read_json` before FastAPI validates
    it: 415 for another media type, 400 ``malformed-json`` for what is not JSON, as on the
    routes that read their bodies by hand (docs/api.md). A body the route may go without
    (an optional model) may be left empty. The route class of every router with a body
    model (tests/api/test_json_bodies.py checks that none is missed)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Without Content-Type, read_json reads JSON; so must FastAPI (not the raw bytes).
        super().__init__(path, endpoint, **(kwargs | {"strict_content_type": False}))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field = self.body_field
        if field is None or isinstance(field.field_info, Form):
            return handler
        required = field.field_info.is_required()

        async def read_body_first(request: Request) -> Response:
            request = JsonBodyRequest(request.scope, request.receive)
            if required or await request.body():
                await request.json()
            return await handler(request)

        return read_body_first


_HEX = {
    "bytes32": {"type": "string", "pattern": "^0[xX][0-9a-fA-F]{64}$"},
    "address": {"type": "string", "pattern": "^0[xX][0-9a-fA-F]{40}$"},
}
_UINT = {
    "oneOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": "^[0-9]{1,78}$"},
    ]
}


def _field_schema(kind: str) -> dict[str, Any]:
    if kind.endswith("[]"):
        return {"type": "array", "items": _HEX[kind[:-2]], "maxItems": MAX_LIST_ITEMS}
    if kind.startswith("uint"):
        return _UINT
    return _HEX[kind]


def submission_schema() -> dict[str, Any]:
    """JSON Schema of one submission, built from the EIP-712 field list itself."""
    return {
        "title": "Submission",
        "type": "object",
        "additionalProperties": False,
        "required": ["event", "signature"],
        "properties": {
            "event": {
                "title": "TraceEvent",
                "type": "object",
                "additionalProperties": False,
                "required": [name for name, _ in TRACE_EVENT_FIELDS],
                "properties": {name: _field_schema(kind) for name, kind in TRACE_EVENT_FIELDS},
            },
            "signature": {
                "type": "string",
                "pattern": "^0[xX][0-9a-fA-F]{130}$",
                "description": "r ‖ s ‖ v, as eth_signTypedData_v4 returns it",
            },
            "payload": {"description": "Any JSON whose RFC 8785 form hashes to payloadHash"},
            "identifiers": {
                "type": "array",
                "maxItems": MAX_IDENTIFIERS,
                "items": {"type": "string", "maxLength": MAX_IDENTIFIER_LENGTH},
            },
        },
    }
