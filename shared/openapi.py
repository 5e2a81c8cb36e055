"""The refusals of every operation in a service's OpenAPI document, written once for all routes.

FastAPI documents what a route declares; the answers that come from the shared edge are added here to
every operation, so no route can forget them and the contract fuzzer (tests/contract/test_fuzz.py)
can hold each answer to its schema:
- 401 and 403 on a route that requires a role (shared/auth.py), naming the roles;
- 404 on a route with a path parameter: what it names does not exist, or is not the caller's;
- 422 on a route with parameters or a body, in the one error shape with each field's path (FastAPI's
  own HTTPValidationError is not what the services answer);
- 503 on every /v1 route: the database (shared/app.py) or the identity provider is away;
- every error status a route declares itself (409, 412, 413 ...) gets the one shape as its body.
A route that reads its body itself (`request.body()`) declares it with `raw_body`.
"""
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic.json_schema import models_json_schema

from shared.errors import ErrorOut, InvalidOut

SCHEMAS = "#/components/schemas/"
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")
# FastAPI's own wording for a declared status: replaced by what the status means here.
_GENERIC = {"Unauthorized", "Forbidden", "Not Found", "Conflict", "Precondition Failed", "Content Too Large",
            "Unprocessable Entity", "Unprocessable Content", "Validation Error", "Service Unavailable"}
_MEANINGS = {"401": "no valid bearer token", "403": "the caller may not do this", "404": "not found, or not the caller's",
             "409": "the resource's state does not allow this: the body says what is allowed now",
             "412": "If-Match names a version that is no longer current (`stale`, with the current `version`)",
             "413": "the body is too large", "422": "the input is refused: `detail.errors` names each field by its path"}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
_CHALLENGE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}


# Schemas named by raw_body's callers: complete() puts the ones a document uses into its components.
_BODY_SCHEMAS: dict[str, dict[str, Any]] = {}


def schema_of(name: str, schema: dict[str, Any], *, array: bool = False) -> dict[str, Any]:
    """A reference to a named JSON Schema (or an array of it) for raw_body."""
    if _BODY_SCHEMAS.setdefault(name, schema) != schema:
        raise ValueError(f"two request-body schemas are named {name}")
    ref = {"$ref": SCHEMAS + name}
    return {"type": "array", "items": ref} if array else ref


def raw_body(schemas: dict[str, dict[str, Any]], description: str) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself (`request.body()`, so FastAPI cannot see it):
    the schema of each media type it takes. It documents; it validates nothing."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {media: {"schema": schema} for media, schema in schemas.items()}}}


def _error(description: str, model: str = "ErrorOut", headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = {"description": description, "content": {"application/json": {"schema": {"$ref": SCHEMAS + model}}}}
    return answer | ({"headers": headers} if headers else {})


def _roles(dependant: Dependant) -> Sequence[str] | None:
    """The roles a route's dependencies require (shared.auth.require_role), if any."""
    for dependency in dependant.dependencies:
        roles = getattr(dependency.call, "roles", None) or _roles(dependency)
        if roles:
            return roles
    return None


def _operations(app: FastAPI, paths: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Each documented route (as included, with its router's prefix and dependencies) and its operation."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema and route.path_format in paths:
            for method in sorted(route.methods or ()):
                if method.lower() in paths[route.path_format]:
                    yield route, paths[route.path_format][method.lower()]


def _refusals(route: Any, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the shared edge may answer instead of the route."""
    refusals = {}
    if roles := _roles(route.dependant):
        refusals["401"] = _error("no bearer token (`unauthorized`), or one that is invalid or expired "
                                 "(`invalid_token`)", headers=_CHALLENGE)
        refusals["403"] = _error(f"the token has none of the roles {', '.join(roles)} (`forbidden_role`), or "
                                 "the route's own rule refuses the caller")
    if route.dependant.path_params:
        names = ", ".join(p.name for p in route.dependant.path_params)
        refusals["404"] = _error(f"nothing found for {names}, or nothing the caller may see")
    if operation.get("parameters") or operation.get("requestBody"):
        refusals["422"] = _error("the input is refused: `detail.errors` names each field by its path "
                                 "(`invalid_request`, or the route's own code)", "InvalidOut")
    if route.path_format.startswith("/v1/"):
        refusals["503"] = _error("the database (`database_unavailable`: nothing was stored) or the identity "
                                 "provider (`identity_provider_unavailable`) is away: retry after Retry-After",
                                 headers=_RETRY_AFTER)
    return refusals


def complete(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """The document with every operation's refusals in the one error shape."""
    for route, operation in _operations(app, document.get("paths", {})):
        responses = operation.setdefault("responses", {})
        refusals = _refusals(route, operation)
        for status, answer in refusals.items():
            declared = responses.get(status, {})
            if declared.get("description") not in (None, *_GENERIC):
                answer["description"] = declared["description"]
            responses[status] = answer
        for status, answer in responses.items():
            if status in refusals or not status.isdigit() or int(status) < 400:
                continue
            model = "InvalidOut" if status == "422" else "ErrorOut"
            description = answer.get("description", "")
            if description in _GENERIC:
                description = _MEANINGS.get(status, description)
            if "content" not in answer or not _refs(answer, SCHEMAS + model):
                answer = _error(description, model, answer.get("headers"))
            responses[status] = answer | {"description": description}
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _, top = models_json_schema([(ErrorOut, "serialization"), (InvalidOut, "serialization")],
                                ref_template=SCHEMAS + "{model}")
    components.update(top["$defs"])
    components.update({name: schema for name, schema in _BODY_SCHEMAS.items()
                       if _refs(document["paths"], SCHEMAS + name)})
    for name in _FASTAPI_422:
        if not _refs(document["paths"], SCHEMAS + name) and not _refs(components, SCHEMAS + name):
            components.pop(name, None)
    return document


def _refs(node: Any, ref: str) -> bool:
    """Whether a part of the document points at a schema (by its full $ref, or its name's end)."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and node["$ref"].endswith(ref):
            return True
        return any(_refs(value, ref) for value in node.values())
    if isinstance(node, list):
        return any(_refs(value, ref) for value in node)
    return False


def install(app: FastAPI) -> None:
    """Make the app's /openapi.json (and the committed docs/openapi/*.json) the completed document."""
    generate, completed = app.openapi, list[dict[str, Any]]()

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI's, cached until the routes change
        if not completed or completed[0] is not document:
            completed[:] = [complete(app, document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents replacing it
