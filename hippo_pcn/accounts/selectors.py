"""Reads about a user's sign-in security."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Sum
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice


def mfa_required() -> bool:
    """Is a second factor required of every staff account (STAFF_MFA_REQUIRED)?"""
    return bool(getattr(settings, "STAFF_MFA_REQUIRED", False))


def user_has_mfa(*, user: AbstractBaseUser) -> bool:
    """Has the user set up an authenticator app?"""
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


@dataclass(frozen=True)
class MfaStatus:
    set_up: bool
    set_up_at: datetime | None
    last_used_at: datetime | None
    recovery_codes_left: int


def mfa_status_for_user(*, user: AbstractBaseUser) -> MfaStatus:
    device = (
        TOTPDevice.objects.filter(user_id=user.pk, confirmed=True)
        .only("created_at", "last_used_at")
        .order_by("pk")
        .first()
    )
    if device is None:
        return MfaStatus(set_up=False, set_up_at=None, last_used_at=None, recovery_codes_left=0)
    left = StaticToken.objects.filter(device__user_id=user.pk, device__confirmed=True).count()
    return MfaStatus(
        set_up=True,
        set_up_at=device.created_at,
        last_used_at=device.last_used_at,
        recovery_codes_left=left,
    )


def signin_failures_for_username(*, username: str) -> int:
    """The most failed passwords in a row for this username from any one address
    (what django-axes compares with AXES_FAILURE_LIMIT)."""
    per_address = (
        AccessAttempt.objects.filter(username=username)
        .values("ip_address")
        .annotate(failures=Sum("failures_since_start"))
        .values_list("failures", flat=True)
    )
    return max(per_address, default=0) or 0


def sign_in_security_summary(*, user: AbstractBaseUser) -> str:
    """One line for support: the user's second factor and any lockout."""
    status = mfa_status_for_user(user=user)
    if status.set_up and status.set_up_at is not None:
        since = timezone.localtime(status.set_up_at)
        parts = [
            f"Two-step verification on since {since.day} {since:%B %Y}, "
            f"{status.recovery_codes_left} recovery code(s) left."
        ]
    else:
        parts = ["Two-step verification not set up."]
    failures = signin_failures_for_username(username=user.get_username())
    if failures >= settings.AXES_FAILURE_LIMIT:
        parts.append(f"Locked out after {failures} wrong passwords: use “Unlock sign-in”.")
    elif failures:
        parts.append(f"{failures} wrong password(s) since the last sign-in.")
    return " ".join(parts)
