"""The API's pages for people: the docs (Swagger UI, served from local static files
under the strict CSP) and each user's API tokens (made, shown once, revoked)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hippo_pcn.accounts.middleware import second_factor_owed
from hippo_pcn.organisations.selectors import (
    organisations_for_user,
    user_has_staff_access,
    user_is_support,
)

from . import services
from .errors import problem_responses
from .forms import ApiTokenForm
from .models import ApiToken
from .selectors import api_tokens_for_user
from .serializers import MeSerializer


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI. The page loads its settings as a script from this same address
    (?script), so nothing is inline: script-src 'self' is enough."""

    template_name = "api/swagger_ui.html"
    title = "hippo-pcn API"
    permission_classes = [AllowAny]


class MeView(APIView):
    """GET /api/v1/me/: who the token (or session) acts as, and the organisations
    whose data it can see."""

    @extend_schema(
        operation_id="me_retrieve",
        summary="Who am I",
        description="The user the request acts as and the organisations it can see.",
        responses={200: MeSerializer, **problem_responses(401, 403, 429)},
        tags=["me"],
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user
        support = user_is_support(user=user)
        organisations = [] if support else organisations_for_user(user=user).order_by("name", "pk")
        token = request.auth if isinstance(request.auth, ApiToken) else None
        data = {
            "username": user.get_username(),
            "is_support": support,
            "organisations": organisations,
            "token": token,
        }
        return Response(MeSerializer(data).data)


def _owed_redirect(request: HttpRequest) -> HttpResponse | None:
    """The user's second-factor rule applies to tokens: a session that still owes
    its second factor gives it first."""
    if second_factor_owed(request):
        query = urlencode({"next": reverse("api_tokens")})
        return HttpResponseRedirect(f"{reverse('mfa_verify')}?{query}")
    return None


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens, and a form to make one. A new token is shown once, on
    the page that answers the form, and never again."""
    owed = _owed_redirect(request)
    if owed is not None:
        return owed
    user: Any = request.user
    can_make = user_has_staff_access(user=user)
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and can_make and form.is_valid():
        issued = services.api_token_create(
            user=user, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
        )
        response = render(
            request,
            "accounts/api_token_created.html",
            {"token": issued.token, "secret": issued.secret},
        )
        add_never_cache_headers(response)
        return response
    context = {
        "form": form,
        "can_make": can_make,
        "tokens": api_tokens_for_user(user=user)[:50],
        "docs_url": reverse("api-docs"),
    }
    return render(request, "accounts/api_tokens.html", context)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    owed = _owed_redirect(request)
    if owed is not None:
        return owed
    token = api_tokens_for_user(user=request.user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    if services.api_token_revoke(token=token, actor=request.user):
        messages.success(request, f"“{token.name}” is revoked: it no longer works.")
    else:
        messages.info(request, f"“{token.name}” was already revoked.")
    return redirect("api_tokens")
