"""The sandbox admin is for the support team only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from emis_integration.sandbox import services
from emis_integration.sandbox.models import Appointment

from .helpers import booking_request

MODELS = [
    "sandboxorganisation",
    "appointmentsession",
    "slot",
    "appointment",
    "patient",
    "bookingcap",
]


@pytest.mark.parametrize("model", MODELS)
def test_support_sees_the_changelists(client_for, support_user, pcn, slot, model):
    response = client_for(support_user).get(reverse(f"admin:emis_sandbox_{model}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_other_staff_do_not(client_for, practice_admin, model):
    # A 404, as for a page that does not exist (tests/hardening/test_admin_404.py).
    response = client_for(practice_admin).get(reverse(f"admin:emis_sandbox_{model}_changelist"))
    assert response.status_code == 404


def test_secrets_are_never_shown_and_blank_keeps_them(client_for, support_user, pcn):
    pcn.partner_application_id = "app-id"
    pcn.partner_token = "partner-token-never-shown-0451"
    pcn.save()
    url = reverse("admin:emis_sandbox_sandboxorganisation_change", args=[pcn.pk])
    client = client_for(support_user)
    page = client.get(url).content.decode()
    assert pcn.client_secret not in page
    assert "partner-token-never-shown-0451" not in page
    assert 'type="password"' in page
    response = client.post(
        url,
        {
            "ods_code": pcn.ods_code,
            "name": pcn.name,
            "kind": pcn.kind,
            "asid": pcn.asid,
            "client_secret": "",
            "partner_application_id": "app-id",
            "partner_token": "",
            "latency_ms": "0",
            "error_rate": "0",
            "timeout_seconds": "15",
            "commit_then_fail_mode": "504",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    before = pcn.client_secret
    pcn.refresh_from_db()
    assert pcn.client_secret == before
    assert pcn.partner_token == "partner-token-never-shown-0451"


def test_support_edits_fault_knobs(client_for, support_user, pcn):
    url = reverse("admin:emis_sandbox_sandboxorganisation_change", args=[pcn.pk])
    client = client_for(support_user)
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "ods_code": pcn.ods_code,
            "name": pcn.name,
            "kind": pcn.kind,
            "pcn": "",
            "phone": pcn.phone,
            "asid": pcn.asid,
            "client_secret": pcn.client_secret,
            "reject_auth": "on",
            "latency_ms": "250",
            "error_rate": "0.5",
            "timeout_seconds": "5",
            "commit_then_fail": "on",
            "commit_then_fail_mode": "timeout",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    pcn.refresh_from_db()
    assert (pcn.reject_auth, pcn.latency_ms, pcn.error_rate, pcn.timeout_seconds) == (
        True,
        250,
        0.5,
        5,
    )
    assert (pcn.commit_then_fail, pcn.commit_then_fail_mode) == (True, "timeout")


def test_out_of_range_knobs_are_refused(client_for, support_user, pcn):
    url = reverse("admin:emis_sandbox_sandboxorganisation_change", args=[pcn.pk])
    response = client_for(support_user).post(
        url,
        {
            "ods_code": pcn.ods_code,
            "name": pcn.name,
            "kind": pcn.kind,
            "asid": pcn.asid,
            "client_secret": pcn.client_secret,
            "latency_ms": "0",
            "error_rate": "2",
            "timeout_seconds": "60",
        },
    )
    assert response.status_code == 200  # the form again, with errors
    pcn.refresh_from_db()
    assert pcn.error_rate == 0.0


def test_appointments_are_read_only(client_for, support_user, pcn, slot):
    appointment = services.appointment_book(
        organisation=pcn, booking=booking_request(slot, "9434765919")
    )
    client = client_for(support_user)
    url = reverse("admin:emis_sandbox_appointment_change", args=[appointment.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"status": "cancelled"})
    assert Appointment.objects.get().status == "booked"


def test_support_sets_partner_api_credentials(client_for, support_user, pcn):
    url = reverse("admin:emis_sandbox_sandboxorganisation_change", args=[pcn.pk])
    response = client_for(support_user).post(
        url,
        {
            "ods_code": pcn.ods_code,
            "name": pcn.name,
            "kind": pcn.kind,
            "asid": pcn.asid,
            "client_secret": pcn.client_secret,
            "partner_application_id": "new-app-id",
            "partner_token": "new-token",
            "latency_ms": "0",
            "error_rate": "0",
            "timeout_seconds": "15",
            "commit_then_fail_mode": "504",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    pcn.refresh_from_db()
    assert (pcn.partner_application_id, pcn.partner_token) == ("new-app-id", "new-token")


def test_sessions_are_read_only(client_for, support_user, pcn, slot):
    client = client_for(support_user)
    url = reverse("admin:emis_sandbox_appointmentsession_change", args=[slot.session_id])
    response = client.get(url)
    assert response.status_code == 200
    assert b"Flu vaccination" in response.content
    client.post(url, {"name": "Renamed"})
    slot.session.refresh_from_db()
    assert slot.session.name == "Flu vaccination"
    changelist = client.get(reverse("admin:emis_sandbox_appointmentsession_changelist"))
    assert b"Riverside Hub" in changelist.content
