"""One error shape for the whole API: RFC 9457 problem details.

Every error a DRF view raises (validation, authentication, permission, not found,
throttled, a service's refusal as `ProblemError`), Django's Http404 and
PermissionDenied, and anything unexpected come back as `application/problem+json`:

    {"type": "urn:hippo-pcn:problem:validation", "title": "...", "status": 400,
     "detail": "...", "errors": {"field": ["message", ...]}}

`errors` is only there for validation problems. An unexpected exception is logged
and answered with a 500 problem that says nothing about it: never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

logger = logging.getLogger("hippo_pcn.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:hippo-pcn:problem:"

NOT_FOUND_DETAIL = "No such record, or it belongs to another organisation."
NOT_SIGNED_IN_DETAIL = (
    "Send an API token in the Authorization header (Authorization: Bearer <token>), or "
    "sign in. You can make a token on your Sign-in security page."
)
SERVER_ERROR_DETAIL = (
    "Something went wrong on our side and nothing was changed. Try again later; if it "
    "keeps happening, contact your hippo-pcn support team."
)

# status -> (type slug, title)
_KINDS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "There is a problem with your request"),
    401: ("not-authenticated", "Not signed in"),
    403: ("forbidden", "You cannot do this"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "This cannot be done now"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("throttled", "Too many requests"),
    500: ("server-error", "Sorry, there is a problem with the service"),
    503: ("unavailable", "Service unavailable"),
}


def _kind(status: int) -> tuple[str, str]:
    return _KINDS.get(status, ("error", "Error"))


class ProblemError(exceptions.APIException):
    """A service's refusal, as the API reports it:

        raise ProblemError(status=409, title="Task already claimed", detail=str(exc))

    `detail` is the service's own plain-English message (the words the pages show)."""

    def __init__(
        self,
        *,
        status: int = 400,
        title: str,
        detail: str,
        type: str | None = None,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        self.status_code = status
        self.title = title
        self.problem_type = type
        self.errors = errors
        super().__init__(detail=detail)


def problem_body(
    *,
    status: int,
    detail: str,
    title: str | None = None,
    type: str | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    slug, default_title = _kind(status)
    body: dict[str, Any] = {
        "type": type or f"{TYPE_PREFIX}{slug}",
        "title": title or default_title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def _messages(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [message for item in value.values() for message in _messages(item)]
    if isinstance(value, list | tuple):
        return [message for item in value for message in _messages(item)]
    return [str(value)]


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as {"field": [...], "items.0.name": [...]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in _flatten(value, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list | tuple) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            if not value:
                continue
            name = f"{prefix}.{index}" if prefix else str(index)
            for field, messages in _flatten(value, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    return {prefix or api_settings.NON_FIELD_ERRORS_KEY: _messages(detail)}


def _validation_problem(exc: exceptions.ValidationError) -> dict[str, Any]:
    errors = _flatten(exc.detail)
    messages = [message for field in errors.values() for message in field]
    detail = messages[0] if len(messages) == 1 else "Check the problems listed in errors."
    return problem_body(status=400, type=f"{TYPE_PREFIX}validation", detail=detail, errors=errors)


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, Http404):
        return exceptions.NotFound(NOT_FOUND_DETAIL)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.messages})
    return exc


def _detail(exc: exceptions.APIException, request: Any) -> str:
    if isinstance(exc, exceptions.NotAuthenticated):
        return NOT_SIGNED_IN_DETAIL
    if isinstance(exc, exceptions.NotFound) and exc.detail == exceptions.NotFound.default_detail:
        return NOT_FOUND_DETAIL
    if isinstance(exc, exceptions.MethodNotAllowed) and request is not None:
        return f"{request.method} is not allowed here."
    if isinstance(exc, exceptions.Throttled):
        wait = exc.wait or 1
        return f"Too many requests. Try again in {int(wait)} second{'s' if wait != 1 else ''}."
    if isinstance(exc.detail, str):
        return str(exc.detail)
    return " ".join(_messages(exc.detail))


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error as problem+json."""
    exc = _as_api_exception(exc)
    request = context.get("request")
    set_rollback()
    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.error(
            "Unexpected error in API view %s", type(view).__name__ if view else "?", exc_info=exc
        )
        return Response(
            problem_body(status=500, detail=SERVER_ERROR_DETAIL),
            status=500,
            content_type=PROBLEM_CONTENT_TYPE,
        )
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(max(int(exc.wait), 1))  # type: ignore[attr-defined]
    status = exc.status_code
    if isinstance(exc, ProblemError):
        body = problem_body(
            status=status,
            title=exc.title,
            type=exc.problem_type,
            detail=_detail(exc, request),
            errors=exc.errors,
        )
    elif isinstance(exc, exceptions.ValidationError):
        body = _validation_problem(exc)
    else:
        body = problem_body(status=status, detail=_detail(exc, request))
    return Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


# --- Outside DRF: Django's own 404 and 500 under /api/ ------------------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def problem_response(*, status: int, detail: str, title: str | None = None) -> HttpResponse:
    return JsonResponse(
        problem_body(status=status, detail=detail, title=title),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: a problem under /api/, the NHS page everywhere else."""
    if _is_api(request):
        return problem_response(status=404, detail="There is no such address in the API.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a problem under /api/, the NHS page everywhere else."""
    if _is_api(request):
        return problem_response(status=500, detail=SERVER_ERROR_DETAIL)
    return defaults.server_error(request)


# --- Schema ------------------------------------------------------------------------------


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="A URI naming the kind of problem.")
    title = serializers.CharField(help_text="A short summary of the kind of problem.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong, in plain English.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation problems only: the messages for each field ("
        "`non_field_errors` for the request as a whole).",
    )


_DESCRIPTIONS = {
    400: "The request has problems: each field's messages are in `errors`.",
    401: "No API token or session, or the token is not valid, has expired or was revoked.",
    403: "Signed in, but not allowed to do this.",
    404: "No such record, or it belongs to another organisation.",
    405: "This method is not allowed here.",
    409: "The record's state does not allow this now (for example, already claimed).",
    415: "The body is not JSON.",
    429: "Too many requests: wait the number of seconds in the Retry-After header.",
}

PROBLEM_RESPONSES: dict[int, OpenApiResponse] = {
    status: OpenApiResponse(response=ProblemSerializer, description=description)
    for status, description in _DESCRIPTIONS.items()
}


def problem_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Some of PROBLEM_RESPONSES: `responses={200: X, **problem_responses(400, 404, 409)}`."""
    return {status: PROBLEM_RESPONSES[status] for status in statuses}
