"""Two-step verification (django-otp): set up on first sign-in, a code at each sign-in,
recovery codes, throttled wrong codes, and every staff page and the admin closed
until the second step is done when STAFF_MFA_REQUIRED is on."""

import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from hippo_pcn.audit.models import AuditEntry

from .conftest import authenticator_code

VERIFY = reverse("mfa_verify")


@pytest.fixture
def mfa_required(settings):
    settings.STAFF_MFA_REQUIRED = True


def _verify_url(next_url="/"):
    return f"{VERIFY}?{urlencode({'next': next_url})}"


def test_first_sign_in_sets_up_an_authenticator_then_shows_recovery_codes_once(
    client, sign_in, mfa_required, practice_staff
):
    response = sign_in(client, practice_staff.username)
    assert response.status_code == 302
    assert response["Location"] == _verify_url("/")
    # No authenticator yet: the code page sends the user to set one up.
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('mfa_setup')}?{urlencode({'next': '/'})}"

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Set up two-step verification" in html
    assert re.search(r'<img class="hippo-qr" src="data:image/svg\+xml;charset=utf-8,%3Csvg', html)
    device = TOTPDevice.objects.get(user=practice_staff, confirmed=False)
    secret = re.search(r'data-testid="mfa-secret">([A-Z2-7 ]+)<', html).group(1)
    from base64 import b32decode

    assert b32decode(secret.replace(" ", "")) == device.bin_key
    # A strict CSP is coming: nothing inline.
    assert "style=" not in html
    assert "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)

    wrong = client.post(reverse("mfa_setup"), {"code": "000000", "next": "/"})
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()

    done = client.post(reverse("mfa_setup"), {"code": authenticator_code(device), "next": "/"})
    assert done.status_code == 302
    assert done["Location"] == reverse("mfa_recovery_codes")
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEntry.objects.filter(action="accounts.mfa_set_up", actor=practice_staff).exists()

    codes_page = client.get(reverse("mfa_recovery_codes"))
    assert codes_page.status_code == 200
    shown = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", codes_page.content.decode())
    assert len(shown) == 10
    assert sorted(shown) == sorted(
        StaticToken.objects.filter(device__user=practice_staff).values_list("token", flat=True)
    )
    saved = client.post(reverse("mfa_recovery_codes"))
    assert saved.status_code == 302
    assert saved["Location"] == "/"
    # Shown once: the page does not show them again.
    assert client.get(reverse("mfa_recovery_codes"))["Location"] == reverse("account_security")
    assert client.get(reverse("home")).status_code == 200


def test_sign_in_asks_for_the_authenticator_code(
    client, sign_in, mfa_required, practice_staff, with_mfa
):
    device, _ = with_mfa(practice_staff)
    response = sign_in(client, practice_staff.username)
    assert response["Location"] == _verify_url("/")
    assert client.get(reverse("home"))["Location"] == _verify_url("/")
    page = client.get(_verify_url("/"))
    assert page.status_code == 200
    assert "Enter your security code" in page.content.decode()

    response = client.post(VERIFY, {"code": authenticator_code(device), "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 200
    device.refresh_from_db()
    assert device.last_used_at is not None


def test_a_recovery_code_signs_in_once(client, sign_in, mfa_required, practice_staff, with_mfa):
    _, codes = with_mfa(practice_staff)
    sign_in(client, practice_staff.username)
    response = client.post(VERIFY, {"code": codes[0].upper(), "next": "/"}, follow=True)
    assert response.status_code == 200
    assert "You signed in with a recovery code" in response.content.decode()
    assert "You have 2 left" in response.content.decode()
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    assert AuditEntry.objects.filter(action="accounts.recovery_code_used").exists()

    client.post(reverse("logout"))
    sign_in(client, practice_staff.username)
    again = client.post(VERIFY, {"code": codes[0], "next": "/"})
    assert again.status_code == 200
    assert "That code is not right" in again.content.decode()
    assert client.get(reverse("home"))["Location"] == _verify_url("/")


def test_wrong_codes_are_throttled(
    client, sign_in, settings, mfa_required, practice_staff, with_mfa
):
    # A wrong code makes the next try wait (1, 2, 4... seconds by default); made
    # long here so the test does not depend on how fast it runs.
    settings.OTP_TOTP_THROTTLE_FACTOR = 600
    device, _ = with_mfa(practice_staff)
    sign_in(client, practice_staff.username)
    wrong = client.post(VERIFY, {"code": "123456", "next": "/"})
    assert "That code is not right" in wrong.content.decode()

    right = client.post(VERIFY, {"code": authenticator_code(device), "next": "/"})
    assert right.status_code == 200
    assert "You have entered too many wrong codes" in right.content.decode()
    assert "wait until" in right.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert client.get(reverse("home"))["Location"] == _verify_url("/")


def test_text_that_is_not_a_code_counts_as_a_wrong_code(
    client, sign_in, mfa_required, practice_staff, with_mfa
):
    device, _ = with_mfa(practice_staff)
    StaticDevice.objects.filter(user=practice_staff).delete()
    sign_in(client, practice_staff.username)
    response = client.post(VERIFY, {"code": "abcdefgh", "next": "/"})
    assert "That code is not right" in response.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/admin/",
        "/admin/organisations/organisation/",
        "/booking/patients/",
        "/emis/pcn-connection/",
        "/accounts/security/",
    ],
)
def test_staff_pages_and_admin_redirect_until_the_second_step(
    client_for, mfa_required, practice_admin, url
):
    client = client_for(practice_admin)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == _verify_url(url)


def test_exempt_pages_stay_open_before_the_second_step(client_for, mfa_required, practice_staff):
    client = client_for(practice_staff)
    assert client.get(reverse("healthz")).status_code in (200, 503)
    assert client.get("/book/not-a-real-link/").status_code != 302
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get(reverse("mfa_setup")).status_code == 200
    logout = client.post(reverse("logout"))
    assert logout.status_code == 302
    assert SESSION_KEY not in client.session


def test_not_required_means_no_second_step(client, sign_in, client_for, practice_staff):
    response = sign_in(client, practice_staff.username)
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200
    assert client_for(practice_staff).get(reverse("admin:index")).status_code == 200


def test_someone_who_set_it_up_is_asked_even_when_not_required(
    client, sign_in, practice_staff, with_mfa
):
    device, _ = with_mfa(practice_staff)
    response = sign_in(client, practice_staff.username)
    assert response["Location"] == _verify_url("/")
    assert client.get(reverse("home"))["Location"] == _verify_url("/")
    client.post(VERIFY, {"code": authenticator_code(device), "next": "/"})
    assert client.get(reverse("home")).status_code == 200


def test_a_password_alone_cannot_link_a_new_authenticator(
    client, sign_in, mfa_required, practice_staff, with_mfa
):
    with_mfa(practice_staff)
    sign_in(client, practice_staff.username)
    response = client.get(reverse("mfa_setup"))
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    client.post(reverse("mfa_setup"), {"code": "123456"})
    assert TOTPDevice.objects.filter(user=practice_staff).count() == 1


def test_next_must_stay_on_this_site(client, sign_in, mfa_required, practice_staff, with_mfa):
    device, _ = with_mfa(practice_staff)
    sign_in(client, practice_staff.username)
    response = client.post(
        VERIFY, {"code": authenticator_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_new_recovery_codes_need_a_fresh_authenticator_code(
    client, sign_in, mfa_required, practice_staff, with_mfa
):
    device, old_codes = with_mfa(practice_staff)
    sign_in(client, practice_staff.username)
    client.post(VERIFY, {"code": authenticator_code(device), "next": "/"})

    page = client.get(reverse("account_security"))
    assert page.status_code == 200
    assert "On: set up" in page.content.decode()
    assert "Recovery codes left" in page.content.decode()

    # A recovery code is not enough to replace the recovery codes.
    refused = client.post(reverse("account_security"), {"code": old_codes[1]})
    assert refused.status_code == 200
    assert StaticToken.objects.filter(token=old_codes[1]).exists()

    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    response = client.post(
        reverse("account_security"), {"code": authenticator_code(device, steps_ahead=1)}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_recovery_codes")
    codes = client.get(reverse("mfa_recovery_codes")).content.decode()
    assert len(re.findall(r"<li><code>[a-z2-7]{8}</code></li>", codes)) == 10
    assert not StaticToken.objects.filter(token__in=old_codes).exists()
    assert AuditEntry.objects.filter(action="accounts.recovery_codes_replaced").exists()


def test_support_resets_a_users_second_factor_and_it_is_audited(
    client, sign_in, client_for, mfa_required, practice_staff, support_user, with_mfa
):
    with_mfa(practice_staff)
    # Support gives its own second factor first.
    device, _ = with_mfa(support_user)
    admin = client
    sign_in(admin, support_user.username)
    admin.post(VERIFY, {"code": authenticator_code(device), "next": "/"})

    changelist = admin.get(reverse("admin:auth_user_changelist"))
    assert changelist.status_code == 200
    response = admin.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_two_step_verification", "_selected_action": [practice_staff.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=practice_staff).exists()
    assert not StaticDevice.objects.filter(user=practice_staff).exists()
    entry = AuditEntry.objects.get(action="accounts.mfa_reset")
    assert entry.actor == support_user
    assert entry.object_id == str(practice_staff.pk)

    # At their next sign-in they set up a new authenticator.
    staff = client_for(practice_staff)
    assert staff.get(VERIFY)["Location"].startswith(reverse("mfa_setup"))


def test_the_header_offers_no_staff_links_while_the_second_step_is_owed(
    client, sign_in, mfa_required, practice_staff
):
    """Every staff link would only lead back to the code page: the header shows
    the name and "Sign out" alone until the second step is done."""
    sign_in(client, practice_staff.username)
    page = client.get(f"{reverse('mfa_setup')}?{urlencode({'next': '/'})}").content.decode()
    assert "Sign out" in page
    assert 'class="nhsuk-header__navigation"' not in page
    assert f'href="{reverse("account_security")}"' not in page
    assert f'href="{reverse("admin:index")}"' not in page

    device = TOTPDevice.objects.get(user=practice_staff, confirmed=False)
    client.post(reverse("mfa_setup"), {"code": authenticator_code(device), "next": "/"})
    home = client.get("/").content.decode()
    assert 'class="nhsuk-header__navigation"' in home
    assert f'href="{reverse("account_security")}"' in home
