"""Sign-in lockout (django-axes): after 5 wrong passwords for one username from one
address, sign-in is refused, even with the right password, until support unlocks it
or the cool-off passes."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import Client
from django.urls import reverse

from hippo_pcn.audit.models import AuditEntry
from tests.factories import TEST_PASSWORD

LIMIT = 5


def _fail(client, sign_in, username, times, **extra):
    return [sign_in(client, username, password="not-the-password", **extra) for _ in range(times)]


def _signed_in(client) -> bool:
    return SESSION_KEY in client.session


def test_wrong_passwords_lock_out_and_the_right_password_is_still_refused(
    client, sign_in, practice_staff
):
    responses = _fail(client, sign_in, practice_staff.username, LIMIT)
    for early in responses[:-1]:
        assert early.status_code == 200
        assert b"There is a problem" in early.content
    locked = responses[-1]
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Sign-in is paused for this account" in page
    assert "The wrong password was entered 5 times in a row" in page
    assert "You can try again in 30 minutes" in page
    assert "Contact your hippo-pcn support team" in page
    # The page is the NHS design, not axes' plain text.
    assert "nhsuk-header" in page

    right = sign_in(client, practice_staff.username)
    assert right.status_code == 429
    assert not _signed_in(client)
    assert client.get(reverse("home")).status_code == 302


def test_lockout_is_for_the_username_and_address_together(client, sign_in, practice_staff):
    _fail(client, sign_in, practice_staff.username, LIMIT)
    assert sign_in(client, practice_staff.username).status_code == 429

    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    response = sign_in(elsewhere, practice_staff.username)
    assert response.status_code == 302
    assert _signed_in(elsewhere)


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked_out(
    settings, sign_in, practice_staff
):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"  # every request arrives from the proxy
    attacker = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    colleague = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.50")

    _fail(attacker, sign_in, practice_staff.username, LIMIT)
    assert sign_in(attacker, practice_staff.username).status_code == 429
    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"

    assert sign_in(colleague, practice_staff.username).status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(client, sign_in, practice_staff):
    _fail(client, sign_in, practice_staff.username, LIMIT - 1)
    assert sign_in(client, practice_staff.username).status_code == 302
    client.post(reverse("logout"))
    # The count starts again: four more wrong passwords do not lock out.
    assert [r.status_code for r in _fail(client, sign_in, practice_staff.username, LIMIT - 1)] == [
        200
    ] * (LIMIT - 1)
    assert sign_in(client, practice_staff.username).status_code == 302


def test_support_sees_the_lockout_and_unlocks_it_in_the_admin(
    client, sign_in, client_for, practice_staff, support_user
):
    _fail(client, sign_in, practice_staff.username, LIMIT)
    attempt = AccessAttempt.objects.get(username=practice_staff.username)
    admin = client_for(support_user)

    changelist = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert practice_staff.username in changelist.content.decode()
    assert "Locked Out" in changelist.content.decode()
    detail = admin.get(reverse("admin:axes_accessattempt_change", args=[attempt.pk]))
    assert detail.status_code == 200
    # Passwords are never kept with the attempt.
    assert "not-the-password" not in detail.content.decode()

    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock_selected", "_selected_action": [attempt.pk]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    entry = AuditEntry.objects.get(action="accounts.signin_unlocked")
    assert entry.actor == support_user
    assert entry.details["username"] == practice_staff.username

    assert sign_in(client, practice_staff.username).status_code == 302
    assert _signed_in(client)


def test_support_unlocks_a_user_from_the_user_admin(
    client, sign_in, client_for, practice_staff, support_user
):
    _fail(client, sign_in, practice_staff.username, LIMIT)
    response = client_for(support_user).post(
        reverse("admin:auth_user_changelist"),
        {"action": "unlock_sign_in", "_selected_action": [practice_staff.pk]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username=practice_staff.username).exists()
    entry = AuditEntry.objects.get(action="accounts.signin_unlocked")
    assert entry.object_id == str(practice_staff.pk)
    assert sign_in(client, practice_staff.username).status_code == 302


@pytest.mark.parametrize("page", ["axes_accessattempt_changelist", "axes_accesslog_changelist"])
def test_sign_in_records_are_for_support_only(
    client, sign_in, client_for, practice_admin, pcn_admin, superuser, page
):
    _fail(client, sign_in, "someone", 1)
    url = reverse(f"admin:{page}")
    for user in (practice_admin, pcn_admin):
        assert client_for(user).get(url).status_code == 404
    assert client_for(superuser).get(url).status_code == 200
    index = client_for(practice_admin).get(reverse("admin:index")).content.decode()
    assert "accessattempt" not in index


def test_otp_device_admins_are_not_on_the_site(client_for, superuser):
    admin = client_for(superuser)
    assert admin.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert admin.get("/admin/otp_static/staticdevice/").status_code == 404


class CountingSlowHasher(MD5PasswordHasher):
    """Counts password checks, and makes each one slow enough for concurrent
    sign-ins to overlap."""

    algorithm = "counting-slow-md5"
    checks = 0
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with CountingSlowHasher._lock:
            CountingSlowHasher.checks += 1
        time.sleep(0.2)
        return super().verify(password, encoded)


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_check_the_password_exactly_limit_times(settings, practice_staff):
    """Twelve wrong passwords at once: each waits for the one before it to be
    counted, so the password is checked five times and the other seven are refused
    by the lockout without being checked."""
    settings.PASSWORD_HASHERS = [
        "tests.accounts.test_lockout.CountingSlowHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    practice_staff.set_password(TEST_PASSWORD)
    practice_staff.save(update_fields=["password"])
    CountingSlowHasher.checks = 0

    def guess(_):
        try:
            response = Client().post(
                "/accounts/login/",
                {"username": practice_staff.username, "password": "not-the-password"},
            )
            return response.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = sorted(pool.map(guess, range(12)))
    assert CountingSlowHasher.checks == LIMIT
    assert statuses == [200] * (LIMIT - 1) + [429] * (12 - LIMIT + 1)


def test_the_user_page_tells_support_about_a_lockout_and_two_step_verification(
    client, sign_in, client_for, practice_staff, support_user, with_mfa
):
    with_mfa(practice_staff)
    _fail(client, sign_in, practice_staff.username, LIMIT)
    page = client_for(support_user).get(reverse("admin:auth_user_change", args=[practice_staff.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Two-step verification on since" in html
    assert "3 recovery code(s) left" in html
    assert "Locked out after 5 wrong passwords" in html
