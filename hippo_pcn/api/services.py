"""Writes for API tokens: made by their user (shown once), revoked by the user or
support, and their last use recorded. Every change is audited."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from hippo_pcn.audit.services import Actor, audit_record

from .models import ApiToken

TOKEN_PREFIX = "hpcn_"  # noqa: S105 - a label, not a secret
# How long a token may live: the choices on the page.
LIFETIME_DAYS = (7, 30, 90)
# last_used_at is written at most this often per token (a busy integration would
# otherwise write the row on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown to the user once, never stored


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(*, user: Any, name: str, days: int) -> IssuedToken:
    """Make a token for `user`, valid for `days` (7, 30 or 90). Returns it with its
    secret, which is not kept anywhere: the caller shows it once."""
    if days not in LIFETIME_DAYS:
        raise ValueError(f"A token lasts {', '.join(map(str, LIFETIME_DAYS))} days, not {days}.")
    name = name.strip()
    if not name:
        raise ValueError("A token needs a name.")
    now = timezone.now()
    for _attempt in range(5):
        key_id = secrets.token_hex(6)
        # 43 URL-safe characters after a dot: hippo_pcn.logging redacts them in logs.
        secret = f"{TOKEN_PREFIX}{key_id}.{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name[:100],
                    key_id=key_id,
                    digest=token_digest(secret),
                    created_at=now,
                    expires_at=now + timedelta(days=days),
                )
                audit_record(
                    actor=user,
                    action="api.token_created",
                    target=token,
                    details={"name": token.name, "days": days, "expires_at": token.expires_at},
                )
        except IntegrityError:  # the same key_id twice: 48 random bits, but be sure
            continue
        return IssuedToken(token=token, secret=secret)
    raise RuntimeError("Could not make a unique API token.")


def api_token_revoke(*, token: ApiToken, actor: Actor) -> bool:
    """Revoke a token (its user, or support): it stops working at once. Returns
    False when it was already revoked."""
    now = timezone.now()
    revoked_by: Any = actor if not isinstance(actor, str) and actor.is_authenticated else None
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=revoked_by
        )
        if not changed:
            return False
        audit_record(
            actor=actor,
            action="api.token_revoked",
            target=token,
            details={"name": token.name, "user": token.user.get_username()},
        )
    token.revoked_at, token.revoked_by = now, revoked_by
    return True


def api_token_mark_used(*, token: ApiToken) -> None:
    """Record that the token was just used, at most once a minute (one UPDATE that
    matches nothing when another request got there first)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION),
        pk=token.pk,
    ).update(last_used_at=now)
    token.last_used_at = now
