"""API tokens: made by their user on the sign-in security pages and shown once, kept
only as a digest, refused once expired or revoked, listed for support, behind the
user's second-factor rule, and seeing exactly what their user sees."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from hippo_pcn.api.models import ApiToken
from hippo_pcn.api.services import api_token_create
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Membership
from tests.accounts.conftest import authenticator_code
from tests.factories import TEST_PASSWORD

TOKENS = reverse("api_tokens")
ME = "/api/v1/me/"
SECRET = re.compile(r'data-testid="api-token-secret">(hpcn_[0-9a-f]{12}\.[A-Za-z0-9_-]{43})<')


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def make_on_page(client, name="Rota sync", days="30"):
    response = client.post(TOKENS, {"name": name, "days": days})
    assert response.status_code == 200
    match = SECRET.search(response.content.decode())
    assert match, response.content.decode()
    return response, match.group(1)


def test_a_token_is_shown_once_and_only_its_digest_is_stored(client_for, pcn_tracer):
    client = client_for(pcn_tracer)
    security = client.get(reverse("account_security"))
    assert TOKENS in security.content.decode()

    response, secret = make_on_page(client, days="90")
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=pcn_tracer)
    assert token.name == "Rota sync"
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(f"hpcn_{token.key_id}.")
    stored = [str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    assert not any(secret in value or secret.split(".")[1] in value for value in stored)
    assert abs(token.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)

    listing = client.get(TOKENS).content.decode()
    assert "Rota sync" in listing and f"hpcn_{token.key_id}" in listing
    assert secret not in listing
    entry = AuditEntry.objects.get(action="api.token_created", object_id=str(token.pk))
    assert entry.actor == pcn_tracer
    assert entry.details["days"] == 90 and "channel" not in entry.details

    me = bearer(secret).get(ME)
    assert me.status_code == 200
    assert me.json()["username"] == pcn_tracer.username
    assert me.json()["token"]["name"] == "Rota sync"


def test_the_form_explains_what_is_missing(client_for, pcn_tracer):
    response = client_for(pcn_tracer).post(TOKENS, {"name": "  ", "days": "45"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a name for the token" in html
    assert "Choose how long the token should work" in html
    assert not ApiToken.objects.exists()


def test_a_token_sees_only_its_users_organisations(
    make_api_token, pcn_tracer, practice_staff, practice_a, practice_a2, practice_b, pcn_b
):
    tracer = bearer(make_api_token(pcn_tracer)).get(ME).json()
    assert {org["ods_code"] for org in tracer["organisations"]} == {"U10001", "A10001", "A10002"}
    staff = bearer(make_api_token(practice_staff)).get(ME).json()
    assert [org["ods_code"] for org in staff["organisations"]] == ["A10001"]
    assert staff["is_support"] is False


def test_a_user_without_a_role_can_neither_make_nor_use_tokens(client_for, no_membership_user):
    page = client_for(no_membership_user).post(TOKENS, {"name": "Mine", "days": "7"})
    assert "once you have a role in a practice or PCN" in page.content.decode()
    assert not ApiToken.objects.exists()
    secret = api_token_create(user=no_membership_user, name="Old", days=7).secret
    response = bearer(secret).get(ME)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "no role in a practice or PCN" in response.json()["detail"]


def test_a_token_stops_when_its_user_loses_their_role(make_api_token, practice_staff):
    client = bearer(make_api_token(practice_staff))
    assert client.get(ME).status_code == 200
    Membership.objects.filter(user=practice_staff).delete()
    assert client.get(ME).status_code == 403


def test_an_expired_token_is_refused(make_api_token, pcn_tracer):
    secret = make_api_token(pcn_tracer, "Short", 7)
    ApiToken.objects.filter(user=pcn_tracer).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = bearer(secret).get(ME)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "This API token expired on" in response.json()["detail"]


def test_revoking_stops_a_token_at_once_and_is_audited(client_for, pcn_tracer):
    client = client_for(pcn_tracer)
    _, secret = make_on_page(client)
    assert bearer(secret).get(ME).status_code == 200
    token = ApiToken.objects.get(user=pcn_tracer)
    response = client.post(reverse("api_token_revoke", args=[token.pk]), follow=True)
    assert "is revoked: it no longer works" in response.content.decode()
    refused = bearer(secret).get(ME)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == pcn_tracer
    entry = AuditEntry.objects.get(action="api.token_revoked", object_id=str(token.pk))
    assert entry.actor == pcn_tracer


def test_nobody_revokes_someone_elses_token_from_the_page(
    client_for, make_api_token, pcn_tracer, other_pcn_tracer
):
    make_api_token(pcn_tracer)
    token = ApiToken.objects.get(user=pcn_tracer)
    response = client_for(other_pcn_tracer).post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer hpcn_000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer not-a-token",
        "Bearer two words",
    ],
)
def test_a_wrong_token_is_refused(make_api_token, pcn_tracer, header):
    secret = make_api_token(pcn_tracer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["status"] == 401
    # A token whose key id is right but whose secret is not is refused too.
    key_id = secret.split(".")[0]
    forged = bearer(f"{key_id}.{'B' * 43}").get(ME)
    assert forged.status_code == 401
    assert "not valid" in forged.json()["detail"]


def test_an_inactive_users_token_is_refused(make_api_token, pcn_tracer):
    secret = make_api_token(pcn_tracer)
    pcn_tracer.is_active = False
    pcn_tracer.save(update_fields=["is_active"])
    assert bearer(secret).get(ME).status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(make_api_token, pcn_tracer):
    client = bearer(make_api_token(pcn_tracer))
    token = ApiToken.objects.get(user=pcn_tracer)
    assert token.last_used_at is None
    client.get(ME)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get(ME)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(ME)
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=2)


def test_making_a_token_needs_the_second_factor_when_it_is_required(
    client_for, pcn_tracer, settings
):
    settings.STAFF_MFA_REQUIRED = True
    response = client_for(pcn_tracer).post(TOKENS, {"name": "Rota", "days": "30"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_verify"))
    assert not ApiToken.objects.exists()


def test_making_a_token_needs_the_second_factor_of_a_user_who_set_one_up(client, pcn_tracer):
    device = TOTPDevice.objects.create(user=pcn_tracer, name="Authenticator app", confirmed=True)
    client.post(reverse("login"), {"username": pcn_tracer.username, "password": TEST_PASSWORD})
    owed = client.post(TOKENS, {"name": "Rota", "days": "30"})
    assert owed.status_code == 302
    assert owed["Location"].startswith(reverse("mfa_verify"))
    assert not ApiToken.objects.exists()

    verified = client.post(
        reverse("mfa_verify"), {"code": authenticator_code(device), "next": TOKENS}
    )
    assert verified.status_code == 302
    _, secret = make_on_page(client)
    assert bearer(secret).get(ME).status_code == 200


def test_support_lists_and_revokes_tokens_without_seeing_a_secret(
    client_for, make_api_token, pcn_tracer, support_user
):
    secret = make_api_token(pcn_tracer, "Dashboard", 30)
    token = ApiToken.objects.get(user=pcn_tracer)
    changelist = reverse("admin:api_apitoken_changelist")
    admin = client_for(support_user)
    page = admin.get(changelist)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Dashboard" in html and pcn_tracer.username in html and f"hpcn_{token.key_id}" in html
    assert secret not in html and token.digest not in html
    change = admin.get(reverse("admin:api_apitoken_change", args=[token.pk])).content.decode()
    assert token.digest not in change and secret not in change

    done = admin.post(
        changelist, {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True
    )
    assert "1 token revoked" in done.content.decode()
    assert bearer(secret).get(ME).status_code == 401
    entry = AuditEntry.objects.get(action="api.token_revoked", object_id=str(token.pk))
    assert entry.actor == support_user


def test_staff_cannot_open_the_token_admin(client_for, make_api_token, pcn_tracer, pcn_admin):
    make_api_token(pcn_tracer)
    token = ApiToken.objects.get(user=pcn_tracer)
    client = client_for(pcn_admin)
    assert client.get(reverse("admin:api_apitoken_changelist")).status_code == 404
    assert client.get(reverse("admin:api_apitoken_change", args=[token.pk])).status_code == 404
