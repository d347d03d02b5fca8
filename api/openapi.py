"""The OpenAPI document (``GET /openapi.json``): FastAPI's, completed with what routes do
not declare one by one.

- Components no route declares as its response model: the Problem document, JSON-RPC 2.0
  objects, the RFC 9264 linkset, and the proof bundle's JSON Schema
  (node/proofs/bundle.schema.json, the one definition).
- Problems every operation may answer: 401 (a request carrying an invalid key is refused
  on every route), 429 (every caller is rate-limited) and 503 (the key is checked in the
  store, which may be unreachable), and for requests with a body 400, 408 and 413 (the
  body limits run before any route), and 415 where the operation takes a JSON body
  (api/body.py reads every one).
- 422 as a Problem, not FastAPI's own validation body.
- The API key as an HTTP bearer security scheme, required by the operations whose
  dependencies demand a key (admin, participant, or reads when they are not public).

tests/api/test_schemathesis.py checks the running app against this document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from api.deps import Gateway, require_admin, require_participant, require_reader
from api.problems import Problem, problem_response_doc
from api.schemas import ElsewhereOut, Linkset, bundle_components, json_rpc_components

API_KEY: Final = "apiKey"
#: Answered by every operation: a bad key is refused everywhere, every caller is
#: rate-limited, and a key is looked up in a store that may be unreachable.
EVERY_OPERATION: Final = (401, 429, 503)
#: Answered by every operation with a request body (the body limits run before routes).
WITH_BODY: Final = (400, 408, 413)
_BODY_METHODS: Final = frozenset({"post", "put", "patch", "delete"})
#: Answered by every operation that takes a JSON body, for a body of another media type.
UNSUPPORTED_MEDIA_TYPE: Final = 415


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.setdefault("Problem", Problem.model_json_schema())
        schemas.update(json_rpc_components())
        schemas.update(bundle_components())
        # Answered as application/linkset+json by the resolution routes (not a response_model).
        schemas.update(_model_components(Linkset))
        # Answered by the resolution routes for a batch another node holds (docs/network.md).
        schemas.update(_model_components(ElsewhereOut))
        components["securitySchemes"] = {
            API_KEY: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "tn_<keyId>_<secret>",
                "description": "An API key: a participant's (submits its events) or an "
                "admin key (participants and keys). docs/api.md, Authentication.",
            }
        }
        _problem_for_validation(schema)
        _common_problems(schema)
        _security(app, schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _model_components(*models: type[BaseModel]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="serialization"
        )
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in schema.get("paths", {}).values():
        for method, operation in path.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method, operation


def _problem_for_validation(schema: dict[str, Any]) -> None:
    """FastAPI documents its own 422 body; this gateway answers 422 with a Problem."""
    for _, operation in _operations(schema):
        responses = operation["responses"]
        if "422" in responses:
            responses["422"] = problem_response_doc(422)
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)


def _common_problems(schema: dict[str, Any]) -> None:
    for method, operation in _operations(schema):
        statuses = EVERY_OPERATION + (WITH_BODY if method in _BODY_METHODS else ())
        responses = operation["responses"]
        if "requestBody" in operation:  # every JSON body is read by api.body.read_json
            statuses += (UNSUPPORTED_MEDIA_TYPE,)
        for status in statuses:
            responses.setdefault(str(status), problem_response_doc(status))


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _security(app: FastAPI, schema: dict[str, Any]) -> None:
    """``security`` on every operation that needs an API key."""
    gateway: Gateway | None = getattr(app.state, "gateway", None)
    public_reads = gateway.settings.public_reads if gateway is not None else True
    needs_key: set[Callable[..., Any]] = {require_admin, require_participant}
    if not public_reads:
        needs_key.add(require_reader)
    paths = schema.get("paths", {})
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant) or not needs_key.intersection(_calls(dependant)):
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{API_KEY: []}]
