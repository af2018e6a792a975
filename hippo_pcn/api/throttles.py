"""Request limits, counted in the cache (Redis in production, so every web process
shares them): per API token and per user (a user's tokens and session together).
Rates are in settings.API_THROTTLE_RATES ("600/min"), read at each request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from hippo_pcn.client_ip import client_ip

from .models import ApiToken


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)


class ApiTokenRateThrottle(_SettingsRateThrottle):
    scope = "api_token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class ApiUserRateThrottle(_SettingsRateThrottle):
    """Per user; callers not signed in are counted by their address."""

    scope = "api_user"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        user = request.user
        if user is not None and user.is_authenticated:
            ident = f"user-{user.pk}"
        else:
            ident = f"ip-{client_ip(request._request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
