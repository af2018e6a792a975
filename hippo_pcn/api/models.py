"""Per-user API tokens. Only a SHA-256 digest of each token is stored; the token
itself is shown once, when it is made (docs/adr/0006-api-tokens-and-errors.md)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self, *, now: datetime | None = None) -> ApiTokenQuerySet:
        """Not revoked and not expired: the tokens that authenticate."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class ApiToken(models.Model):
    """A token a user made for a system of theirs (a rota, a dashboard). It acts as
    that user: it sees exactly what the user sees, no more."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, in the user's words.")
    # The token is "hpcn_<key_id>.<secret>": key_id finds the row, the digest of the
    # whole token checks it.
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user_created")]

    def __str__(self) -> str:
        return f"{self.name} (hpcn_{self.key_id})"

    def status(self, *, now: datetime | None = None) -> str:
        """ "Revoked", "Expired" or "Active"."""
        if self.revoked_at is not None:
            return "Revoked"
        if self.expires_at <= (now or timezone.now()):
            return "Expired"
        return "Active"

    @property
    def is_usable(self) -> bool:
        return self.status() == "Active"
