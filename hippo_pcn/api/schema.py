"""OpenAPI: the API token's security scheme, and a postprocessing hook that gives
every operation the error responses it can answer, as application/problem+json, and
links from a created object to its own operations."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .errors import _DESCRIPTIONS, PROBLEM_CONTENT_TYPE


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "hippo_pcn.api.auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "hpcn_<key>.<secret>",
            "description": (
                "A personal API token, made on the Sign-in security page "
                "(Authorization: Bearer hpcn_...). It acts as its user and sees exactly "
                "what they see."
            ),
        }


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string", "description": "A short summary of the kind of problem."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, in plain English."},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Validation problems only: the messages for each field.",
        },
    },
    "required": ["type", "title", "status", "detail"],
}
METHODS = ("get", "put", "patch", "post", "delete", "head", "options", "trace")


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}},
    }


def _expected_errors(path: str, operation: dict[str, Any]) -> list[int]:
    statuses = [401, 403, 429]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append(400)
    if "{" in path:
        statuses.append(404)
    if operation.get("requestBody"):
        statuses.append(415)
    return statuses


def _id_links(paths: dict[str, Any]) -> None:
    """OpenAPI links from what a POST to a collection creates (its `id`) to that
    object's own operations: create a booking → get it → cancel it. Clients and
    schemathesis follow them."""
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if "{" in path or created is None:
            continue
        links = created.setdefault("links", {})
        for other, other_item in paths.items():
            if not other.startswith(f"{path}{{id}}/"):
                continue
            for method in METHODS:
                operation = other_item.get(method)
                if operation is None or "operationId" not in operation:
                    continue
                name = "".join(part.title() for part in operation["operationId"].split("_"))
                links.setdefault(
                    name,
                    {
                        "operationId": operation["operationId"],
                        "parameters": {"id": "$response.body#/id"},
                    },
                )
        if not links:
            del created["links"]


def problem_responses_hook(
    result: dict[str, Any], generator: Any, request: Any, public: Any
) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: the Problem schema; the 400, 401,
    403, 404, 415 and 429 problems an operation can answer where its view did not
    list them; and problem+json as the media type of every error response that
    returns a Problem."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", PROBLEM_SCHEMA)
    for path, item in result.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in _expected_errors(path, operation):
                responses.setdefault(str(status), _problem(status))
            for status, response in responses.items():
                if not str(status).isdigit() or int(status) < 400:
                    continue
                content = response.get("content", {})
                body = content.get("application/json")
                if body is not None and body.get("schema") == PROBLEM_REF:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
    _id_links(result.get("paths", {}))
    return result
