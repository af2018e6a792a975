"""Patient and PatientImport in the admin: read-only, scoped to the user's
practices, fast changelists."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from booking.services import patient_import_preview

from .factories import PatientFactory, csv_bytes, csv_upload, patient_row

PATIENTS = "admin:booking_patient_changelist"
IMPORTS = "admin:booking_patientimport_changelist"


@pytest.fixture
def a_patient(practice_a):
    return PatientFactory(
        practice=practice_a, nhs_number="9434765919", first_name="Ada", last_name="Lovelace"
    )


@pytest.fixture
def b_patient(practice_b):
    return PatientFactory(practice=practice_b, first_name="Bertie", last_name="Beta")


@pytest.fixture
def a_import(practice_a, practice_staff):
    return patient_import_preview(
        practice=practice_a,
        uploaded_file=csv_upload(csv_bytes([patient_row(1), patient_row(2, date_of_birth="")])),
        user=practice_staff,
    )


def rows(response) -> list:
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize("role", ["practice_staff", "practice_admin"])
def test_practice_users_see_only_their_patients(request, client_for, role, a_patient, b_patient):
    response = client_for(request.getfixturevalue(role)).get(reverse(PATIENTS))
    assert response.status_code == 200
    assert rows(response) == [a_patient]
    assert b"Lovelace, Ada" in response.content
    assert b"943 476 5919" in response.content
    assert b"Bertie" not in response.content


@pytest.mark.parametrize("role", ["other_practice_staff", "other_practice_admin"])
def test_other_practice_sees_no_a_patients_and_gets_404(
    request, client_for, role, a_patient, b_patient, a_import
):
    client = client_for(request.getfixturevalue(role))
    response = client.get(reverse(PATIENTS))
    assert rows(response) == [b_patient]
    assert b"Lovelace" not in response.content
    assert b"Alpha Surgery" not in response.content
    change = reverse("admin:booking_patient_change", args=[a_patient.pk])
    assert client.get(change).status_code == 404
    assert rows(client.get(reverse(IMPORTS))) == []
    import_change = reverse("admin:booking_patientimport_change", args=[a_import.pk])
    assert client.get(import_change).status_code == 404


def test_pcn_staff_do_not_browse_practice_patients(client_for, pcn_tracer, a_patient, a_import):
    client = client_for(pcn_tracer)
    # Admins a user may not use at all are a 404, as if they did not exist.
    assert client.get(reverse(PATIENTS)).status_code == 404
    assert client.get(reverse(IMPORTS)).status_code == 404
    index = client.get(reverse("admin:index"))
    assert b"booking/patient/" not in index.content


def test_support_sees_everyone_but_cannot_edit(client_for, support_user, a_patient, b_patient):
    client = client_for(support_user)
    assert set(rows(client.get(reverse(PATIENTS)))) == {a_patient, b_patient}
    change = client.get(reverse("admin:booking_patient_change", args=[a_patient.pk]))
    assert change.status_code == 200
    assert b'name="first_name"' not in change.content  # read-only
    assert client.get(reverse("admin:booking_patient_add")).status_code == 403
    delete = reverse("admin:booking_patient_delete", args=[a_patient.pk])
    assert client.get(delete).status_code == 403


@pytest.mark.parametrize("term", ["9434765919", "943 476 5919", "lovelace"])
def test_search_by_nhs_number_or_name(client_for, practice_staff, a_patient, term):
    PatientFactory(practice=a_patient.practice, last_name="Someone")
    response = client_for(practice_staff).get(reverse(PATIENTS), {"q": term})
    assert rows(response) == [a_patient]


def test_patient_changelist_queries_do_not_grow_with_rows(
    client_for, practice_staff, practice_a, django_assert_max_num_queries
):
    client = client_for(practice_staff)
    PatientFactory(practice=practice_a)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse(PATIENTS))
    for _ in range(60):
        PatientFactory(practice=practice_a)
    with django_assert_max_num_queries(len(few)):
        response = client.get(reverse(PATIENTS))
    assert len(rows(response)) == 50


def test_patient_import_admin_pages(client_for, practice_staff, a_import):
    client = client_for(practice_staff)
    listing = client.get(reverse(IMPORTS))
    assert rows(listing) == [a_import]
    assert b"Waiting for confirmation" in listing.content
    change = client.get(reverse("admin:booking_patientimport_change", args=[a_import.pk]))
    assert change.status_code == 200
    assert b"Row 3: Date of birth is missing" in change.content
    assert client.get(reverse("admin:booking_patientimport_add")).status_code == 403


def test_support_sees_patient_import_change_page(client_for, support_user, a_import):
    response = client_for(support_user).get(
        reverse("admin:booking_patientimport_change", args=[a_import.pk])
    )
    assert response.status_code == 200
    assert b'name="_save"' not in response.content  # read-only, even for support


# --- Messages to patients ---------------------------------------------------------------------

MESSAGES = "admin:booking_messagesend_changelist"


@pytest.fixture
def sent_invitations(campaign, practice_admin, patients):
    """Invitations to two of practice A's patients, sent (locmem notifier)."""
    from datetime import time

    from booking import invites
    from booking.models import Campaign, Invite, MessageSend
    from booking.tasks import send_invites

    Campaign.objects.filter(pk=campaign.pk).update(
        sending_from=time(0, 0), sending_until=time(23, 59, 59, 999999)
    )
    campaign.refresh_from_db()
    invites.invites_create(campaign=campaign, patients=patients[:2], user=practice_admin)
    send_invites.delay(list(Invite.objects.filter(campaign=campaign).values_list("pk", flat=True)))
    sent = list(MessageSend.objects.filter(invite__campaign=campaign).order_by("pk"))
    assert [record.status for record in sent] == ["sent", "sent"]
    return sent


def test_practice_staff_see_their_patients_messages(client_for, practice_staff, sent_invitations):
    response = client_for(practice_staff).get(reverse(MESSAGES))
    assert response.status_code == 200
    assert set(rows(response)) == set(sent_invitations)
    assert b"Invitation" in response.content
    assert b"hippo-badge--green" in response.content
    change = reverse("admin:booking_messagesend_change", args=[sent_invitations[0].pk])
    page = client_for(practice_staff).get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # a record, never edited


@pytest.mark.parametrize("role", ["other_practice_staff", "pcn_tracer"])
def test_other_organisations_get_no_messages_and_404(request, client_for, role, sent_invitations):
    client = client_for(request.getfixturevalue(role))
    listing = client.get(reverse(MESSAGES))
    assert listing.status_code == 404 or rows(listing) == []
    change = reverse("admin:booking_messagesend_change", args=[sent_invitations[0].pk])
    assert client.get(change).status_code == 404


def test_messages_found_by_spaced_nhs_number(client_for, practice_staff, sent_invitations):
    patient = sent_invitations[0].invite.patient
    spaced = f"{patient.nhs_number[:3]} {patient.nhs_number[3:6]} {patient.nhs_number[6:]}"
    response = client_for(practice_staff).get(reverse(MESSAGES), {"q": spaced})
    assert rows(response) == [sent_invitations[0]]
