"""Sends a signed-in user who still owes a second factor to give it.

Runs after django-otp's OTPMiddleware (which says whether the session has been
verified with a device). A session owes a second factor when STAFF_MFA_REQUIRED
is on, or when its user has set one up (the sign-in view marks the session).
Until it is given, every page except the ones below answers with a redirect to
the code page (which sends users without an authenticator to set one up).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .selectors import mfa_required

# Set on the session by the sign-in view when the user has an authenticator.
MFA_OWED_SESSION_KEY = "hippo_mfa_owed"

# Open without a second factor: the public patient pages, the bundled EMIS
# sandbox (called by the app itself over HTTP), static files and the health check.
EXEMPT_PREFIXES = ("/book/", "/emis-sandbox/", "/healthz")
# And the sign-in steps themselves (URL names).
EXEMPT_URL_NAMES = ("login", "logout", "mfa_verify", "mfa_setup")


def second_factor_owed(request: HttpRequest) -> bool:
    user = request.user
    if not user.is_authenticated:
        return False
    is_verified = getattr(user, "is_verified", None)  # set by django-otp's OTPMiddleware
    if is_verified is not None and is_verified():
        return False
    return mfa_required() or bool(request.session.get(MFA_OWED_SESSION_KEY))


class SecondFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._exempt_paths: frozenset[str] | None = None

    def _is_exempt(self, path: str) -> bool:
        if path.startswith((settings.STATIC_URL, *EXEMPT_PREFIXES)):
            return True
        if self._exempt_paths is None:
            self._exempt_paths = frozenset(reverse(name) for name in EXEMPT_URL_NAMES)
        return path in self._exempt_paths

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._is_exempt(request.path_info) and second_factor_owed(request):
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('mfa_verify')}?{query}")
        return self.get_response(request)
