"""Invitation link tokens.

A token is HMAC-SHA256(INVITE_TOKEN_KEY, salt), URL-safe base64 (43 characters,
256 bits); the salt is 128 random bits from `secrets`. The database keeps the
salt and SHA-256(token) for look-up, never the token, so a copy of the database
alone cannot open any link; the sender re-derives the token from the salt when
it writes a message. Changing INVITE_TOKEN_KEY invalidates every link."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

TOKEN_LENGTH = 43


def _key() -> bytes:
    configured = getattr(settings, "INVITE_TOKEN_KEY", "") or ""
    if configured:
        return configured.encode()
    return hashlib.sha256(f"invite-token:{settings.SECRET_KEY}".encode()).digest()


def token_for_salt(salt: str) -> str:
    digest = hmac.new(_key(), salt.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_fields() -> dict[str, str]:
    salt = secrets.token_hex(16)
    return {"token_salt": salt, "token_hash": hash_token(token_for_salt(salt))}


def looks_like_token(value: str) -> bool:
    return len(value) == TOKEN_LENGTH and all(c.isalnum() or c in "-_" for c in value)
