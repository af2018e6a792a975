"""Encryption at rest for EMIS credentials (Fernet, with key rotation).

FERNET_KEYS lists keys newest first: the first encrypts, every key may decrypt.
Plaintext never leaves this module except to the client that signs requests."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "FERNET_KEYS is empty: set it to a comma-separated list of Fernet keys."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FERNET_KEYS contains a value that is not a valid Fernet key."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FERNET_KEYS))


def encrypt_credentials(credentials: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "The stored EMIS credentials cannot be decrypted with the configured FERNET_KEYS."
        ) from exc


def rotate_token(token: str) -> str:
    """Re-encrypt with the newest key (no-op content change)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "The stored EMIS credentials cannot be decrypted with the configured FERNET_KEYS."
        ) from exc
