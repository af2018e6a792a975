"""API token authentication: `Authorization: Bearer hpcn_...`. The request acts as
the token's user, so it sees what that user sees through organisations_for_user,
no more. Expired and revoked tokens are refused with a 401 that says which."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from .selectors import api_token_for_secret
from .services import api_token_mark_used

NOT_VALID = (
    "This API token is not valid. Check you copied all of it, or make a new one on your "
    "Sign-in security page."
)


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as one word after Bearer: Authorization: Bearer <token>."
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(NOT_VALID) from None
        token = api_token_for_secret(secret=secret)
        if token is None:
            raise exceptions.AuthenticationFailed(NOT_VALID)
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                "This API token was revoked. Make a new one on your Sign-in security page."
            )
        if token.expires_at <= timezone.now():
            when = timezone.localtime(token.expires_at)
            raise exceptions.AuthenticationFailed(
                f"This API token expired on {when.day} {when:%B %Y} at {when:%H:%M}. Make a "
                "new one on your Sign-in security page."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This account is switched off.")
        api_token_mark_used(token=token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
