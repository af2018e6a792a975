"""Helpers for the sign-in tests: authenticator codes computed the way an app does."""

from __future__ import annotations

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import TEST_PASSWORD


def authenticator_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or `steps_ahead` 30-second steps on:
    a code is accepted once, so a second sign-in within a step uses the next one)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def with_mfa():
    """with_mfa(user) -> (authenticator device, recovery codes): a user who has set
    up two-step verification."""

    def make(user):
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
        static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(3)]
        for code in codes:
            StaticToken.objects.create(device=static, token=code)
        return device, codes

    return make


@pytest.fixture
def sign_in():
    """sign_in(client, username, password=...) -> the response to the password step."""

    def post(client, username, password=TEST_PASSWORD, **extra):
        return client.post(
            "/accounts/login/", {"username": username, "password": password}, **extra
        )

    return post
