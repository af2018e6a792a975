"""Every request under /api/: its audit entries say "via API", its responses are not
cached, and control characters in its address are a 400 problem (not the HTML
page hippo_pcn.middleware answers elsewhere)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from hippo_pcn.audit.context import audit_channel
from hippo_pcn.middleware import has_control_characters

from .errors import problem_response

API_PREFIX = "/api/"
CHANNEL = "API"


def _clean(request: HttpRequest) -> bool:
    if has_control_characters(request.path):
        return False
    return not any(
        has_control_characters(name) or any(has_control_characters(v) for v in values)
        for name, values in request.GET.lists()
    )


class ApiChannelMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if not _clean(request):
            return problem_response(
                status=400,
                detail="The address holds control characters (such as NUL) that no "
                "client should send.",
            )
        with audit_channel(CHANNEL):
            response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response
