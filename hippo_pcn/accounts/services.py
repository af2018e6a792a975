"""Writes for staff sign-in security: setting up the second factor, checking a
code, recovery codes, and support's resets (a user's second factor, a lockout).

The second factor is django-otp's: a TOTP device (an authenticator app) and a
static device holding one-time recovery codes. Both devices throttle wrong codes
with an exponential back-off (1, 2, 4, 8... seconds after each wrong code in a
row), which is what makes codes impossible to guess by trying them all; every
check locks the device row first, so concurrent guesses are all counted.
"""

from __future__ import annotations

import hashlib
from base64 import b32encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from axes.models import AccessAttempt
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from hippo_pcn.audit.services import Actor, audit_record

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"


@contextmanager
def signin_attempts_serialised(*, username: str, ip_address: str) -> Iterator[None]:
    """One password check at a time per username and client address, in a
    transaction. django-axes checks the failure count before the password and
    records the failure after it: concurrent guesses would all see the old count
    and all be checked. Holding a PostgreSQL advisory lock until the failure is
    committed makes the limit exact. (The demo's SQLite starts every transaction
    IMMEDIATE, which takes one at a time anyway.)"""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            digest = hashlib.blake2b(
                f"signin:{username}:{ip_address}".encode(), digest_size=8
            ).digest()
            key = int.from_bytes(digest, "big", signed=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        yield


def normalise_code(code: str) -> str:
    """What a person types, as the devices store it: no spaces or dashes, lower case."""
    return "".join(ch for ch in code if ch not in " -\t").lower()


def is_authenticator_code(code: str) -> bool:
    """Authenticator codes are 6 digits; recovery codes are 8 letters and digits."""
    return len(code) == 6 and code.isdigit()


def totp_secret_for_display(device: TOTPDevice) -> str:
    """The secret as people type it into an authenticator app: base32, in fours."""
    secret = b32encode(device.bin_key).decode("ascii")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_device_for_enrolment(*, user: AbstractBaseUser) -> TOTPDevice:
    """The user's authenticator being set up (not yet confirmed), made if needed."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def _recovery_codes_replace(*, user: AbstractBaseUser) -> list[str]:
    device = StaticDevice.objects.filter(user_id=user.pk).order_by("pk").first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    StaticToken.objects.filter(device__user_id=user.pk).delete()
    # Any other static device (there should be none) would hold codes nobody has seen.
    StaticDevice.objects.filter(user_id=user.pk).exclude(pk=device.pk).delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    device.throttle_reset(commit=False)
    device.confirmed = True
    device.save()
    return codes


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a code: the device that accepted it, or why not."""

    device: Device | None = None
    locked_until: datetime | None = None
    used_recovery_code: bool = False
    recovery_codes_left: int = 0

    @property
    def accepted(self) -> bool:
        return self.device is not None


def _check_on_device(device: Any, token: str) -> CodeCheck:
    """Check one code on one (row-locked) throttled device."""
    allowed, info = device.verify_is_allowed()
    if not allowed:
        return CodeCheck(locked_until=(info or {}).get("locked_until"))
    if device.verify_token(token):
        return CodeCheck(device=device)
    return CodeCheck()


def _locked(model: Any, user: AbstractBaseUser) -> Any:
    """The user's confirmed device of this kind, locked for the check."""
    return (
        model.objects.select_for_update()
        .filter(user_id=user.pk, confirmed=True)
        .order_by("pk")
        .first()
    )


def mfa_enrolment_confirm(
    *, user: AbstractBaseUser, device_id: int, code: str
) -> tuple[CodeCheck, list[str]]:
    """Confirm the authenticator being set up with a code from it. On success the
    device is confirmed, any other authenticator of the user's is removed, and a
    fresh set of recovery codes is made and returned (to be shown once)."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=device_id, user_id=user.pk, confirmed=False)
            .first()
        )
        if device is None:
            return CodeCheck(), []
        check = _check_on_device(device, normalise_code(code))
        if not check.accepted:
            return check, []
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user_id=user.pk).exclude(pk=device.pk).delete()
        codes = _recovery_codes_replace(user=user)
        audit_record(actor=user, action="accounts.mfa_set_up", target=user)
    return check, codes


def mfa_check(*, user: AbstractBaseUser, code: str, allow_recovery: bool = True) -> CodeCheck:
    """Check a second-factor code: 6 digits from the authenticator app, or (when
    allowed) one of the recovery codes, which is used up by the check. Anything
    else counts as a wrong authenticator code."""
    token = normalise_code(code)
    with transaction.atomic():
        static = None
        if allow_recovery and not is_authenticator_code(token):
            static = _locked(StaticDevice, user)
        if static is None:
            totp = _locked(TOTPDevice, user)
            return _check_on_device(totp, token) if totp is not None else CodeCheck()
        check = _check_on_device(static, token)
        if not check.accepted:
            return check
        left = StaticToken.objects.filter(device=static).count()
        audit_record(
            actor=user,
            action="accounts.recovery_code_used",
            target=user,
            details={"recovery_codes_left": left},
        )
        return CodeCheck(device=static, used_recovery_code=True, recovery_codes_left=left)


def recovery_codes_regenerate(*, user: AbstractBaseUser, code: str) -> tuple[CodeCheck, list[str]]:
    """New recovery codes in place of the old ones, after a fresh authenticator code."""
    with transaction.atomic():
        check = mfa_check(user=user, code=code, allow_recovery=False)
        if not check.accepted:
            return check, []
        codes = _recovery_codes_replace(user=user)
        audit_record(actor=user, action="accounts.recovery_codes_replaced", target=user)
    return check, codes


@transaction.atomic
def mfa_reset(*, actor: Actor, user: AbstractBaseUser) -> bool:
    """Support: remove a user's authenticator and recovery codes (a lost phone).
    They set up a new authenticator at their next sign-in. Returns whether they
    had one."""
    had = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()
    TOTPDevice.objects.filter(user_id=user.pk).delete()
    StaticDevice.objects.filter(user_id=user.pk).delete()
    audit_record(actor=actor, action="accounts.mfa_reset", target=user, details={"had_mfa": had})
    return had


@transaction.atomic
def signin_unlock(
    *, actor: Actor, username: str | None, ip_address: str | None = None, user: Any = None
) -> int:
    """Support: clear the failed sign-ins (django-axes' records) that lock `username`
    out, from one address, or from every address when `ip_address` is None.
    Returns how many records went."""
    attempts = AccessAttempt.objects.filter(username=username)
    if ip_address is not None:
        attempts = attempts.filter(ip_address=ip_address)
    cleared = attempts.count()
    attempts.delete()
    audit_record(
        actor=actor,
        action="accounts.signin_unlocked",
        target=user,
        details={"username": username, "ip_address": ip_address or "any", "cleared": cleared},
    )
    return cleared
