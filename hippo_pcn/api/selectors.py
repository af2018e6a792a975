"""Reads about API tokens."""

from __future__ import annotations

import hmac
from typing import Any

from django.db.models import QuerySet

from .models import ApiToken
from .services import TOKEN_PREFIX, token_digest


def api_tokens_for_user(*, user: Any) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (what their tokens page lists)."""
    if not getattr(user, "is_authenticated", False):
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user_id=user.pk).select_related("revoked_by")


def api_token_for_secret(*, secret: str) -> ApiToken | None:
    """The token this secret belongs to (revoked or expired ones too: the caller
    says why it is refused), or None. The row is found by its key id and the
    secret checked against the stored digest in constant time."""
    if not secret.startswith(TOKEN_PREFIX) or "." not in secret or len(secret) > 100:
        return None
    key_id = secret[len(TOKEN_PREFIX) :].split(".", 1)[0]
    if not key_id or len(key_id) > 16:
        return None
    token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    if token is None or not hmac.compare_digest(token.digest, token_digest(secret)):
        return None
    return token
