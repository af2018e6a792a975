"""The booking API (/api/v1/bookings/, /campaigns/, /connections/): the same
tenancy, services, outcomes and words as the staff pages, through the sandbox
EMIS over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from booking import services
from booking.invites import SEND_BOOKING_MESSAGE_TASK, campaign_invite_counts
from booking.models import Booking, BookingStatus, Slot
from booking.selectors import LONDON, campaign_offerable_slots, campaign_sources
from emis_integration.client import EmisUnavailable
from emis_integration.client.gpconnect import GPConnectClient
from emis_integration.models import EmisConnection
from emis_integration.sandbox import models as sandbox
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.outbox.models import OutboxMessage
from tests.booking import conftest as booking_fixtures
from tests.booking.factories import PatientFactory
from tracing.models import TracingTask

# The booking tests' world: an active flu campaign at Alpha Surgery offering PCN
# slots, three patients on it, free practice and PCN slots mirrored.
patients = booking_fixtures.patients
campaign = booking_fixtures.campaign
world_slots = booking_fixtures.world_slots
mirrored = booking_fixtures.mirrored

BOOKINGS = "/api/v1/bookings/"
CAMPAIGNS = "/api/v1/campaigns/"
CONNECTIONS = "/api/v1/connections/"
CONSENT_MESSAGE = (
    "This is a PCN slot: confirm the patient agrees to be seen by the PCN and to their "
    "record being shared with it."
)
PROBLEM = "application/problem+json"


def pcn_slot(campaign):
    return campaign_offerable_slots(campaign=campaign).filter(is_pcn=True).first()


def practice_slot(campaign):
    return campaign_offerable_slots(campaign=campaign).filter(is_pcn=False).first()


def book_through_api(client, campaign, patient, slot, **extra):
    return client.post(
        BOOKINGS,
        {"campaign": campaign.pk, "patient": patient.pk, "slot": slot.pk, **extra},
        format="json",
    )


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- Creating a booking -------------------------------------------------------------------


def test_a_pcn_booking_through_the_api_is_the_pages_booking(
    mirrored, patients, practice_staff, api_client_for, client_for, pcn_a
):
    """One patient booked through the API and one through the staff page, into PCN
    slots: the same appointment in EMIS, tracing task, consent, audit and message."""
    api = api_client_for(practice_staff)
    first, second = list(campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True))[:2]

    response = book_through_api(api, mirrored, patients[0], first, pcn_consent=True)
    page = client_for(practice_staff).post(
        reverse("booking:booking_new", args=[mirrored.pk, patients[1].pk]),
        {"slot": second.pk, "pcn_consent": "on"},
    )

    assert response.status_code == 201, response.content
    assert page.status_code == 302
    body = response.json()
    by_api = Booking.objects.get(pk=body["id"])
    by_page = Booking.objects.get(patient=patients[1])
    assert response["Location"].endswith(f"{BOOKINGS}{by_api.pk}/")
    for booking, patient in ((by_api, patients[0]), (by_page, patients[1])):
        assert booking.status == BookingStatus.BOOKED
        assert booking.is_pcn and booking.booked_via == "staff"
        assert booking.booked_by == practice_staff
        assert booking.pcn_consent and booking.pcn_consent_by == practice_staff
        assert booking.pcn_consent_at is not None
        appointment = sandbox.Appointment.objects.get(pk=booking.emis_appointment_id)
        assert appointment.patient_nhs_number == patient.nhs_number
        assert appointment.booking_org_ods == "A10001"
        task = TracingTask.objects.get(pk=booking.tracing_task_id)
        assert task.source == "booked_via_app" and task.pcn == pcn_a
        assert task.emis_appointment_id == booking.emis_appointment_id
        # The patient's confirmation is queued through the outbox with the booking.
        assert [booking.pk, "confirmation"] in [m.args[1:] for m in OutboxMessage.objects.all()]
        assert not Slot.objects.filter(
            connection=booking.connection, emis_slot_id=booking.emis_slot_id
        ).exists()
    assert body["status"] == "booked" and body["status_label"] == "Booked"
    assert body["source"] == "pcn" and body["is_pcn"] is True
    assert body["pcn_consent"] is True
    assert body["tracing_task"] == by_api.tracing_task_id
    assert body["patient"]["id"] == patients[0].pk
    assert body["practice"]["ods_code"] == "A10001"
    assert body["message"].endswith("We will send the patient a text message with the details.")
    assert OutboxMessage.objects.filter(task=SEND_BOOKING_MESSAGE_TASK).count() == 2


def test_a_practice_slot_needs_no_consent_and_the_campaign_can_send_no_message(
    mirrored, patients, practice_staff, practice_admin, api_client_for
):
    services.campaign_update(
        user=practice_admin, campaign=mirrored, message_patients_on_staff_changes=False
    )
    response = book_through_api(
        api_client_for(practice_staff), mirrored, patients[0], practice_slot(mirrored)
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source"] == "practice" and body["tracing_task"] is None
    assert body["pcn_consent"] is False
    assert "This campaign sends patients no message" in body["message"]
    assert not OutboxMessage.objects.filter(task=SEND_BOOKING_MESSAGE_TASK).exists()
    assert sandbox.Appointment.objects.filter(status="booked").count() == 1


def test_a_pcn_slot_without_consent_is_refused_in_the_pages_words(
    mirrored, patients, practice_staff, api_client_for
):
    response = book_through_api(
        api_client_for(practice_staff), mirrored, patients[0], pcn_slot(mirrored)
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["errors"] == {"pcn_consent": [CONSENT_MESSAGE]}
    assert problem["detail"] == CONSENT_MESSAGE
    assert not Booking.objects.exists()
    assert not sandbox.Appointment.objects.exists()


def test_a_slot_taken_meanwhile_is_409_with_the_nearest_free_ones(
    mirrored, patients, practice_staff, api_client_for
):
    slot = pcn_slot(mirrored)
    sandbox.Slot.objects.filter(pk=int(slot.emis_slot_id)).update(status="busy")
    response = book_through_api(
        api_client_for(practice_staff), mirrored, patients[0], slot, pcn_consent=True
    )
    assert response.status_code == 409
    assert response["Content-Type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == 409
    assert problem["detail"] == "This slot was just taken. Here are the nearest free ones."
    alternatives = problem["alternatives"]
    assert 0 < len(alternatives) <= 3
    offered = set(campaign_offerable_slots(campaign=mirrored).values_list("pk", flat=True))
    assert {a["id"] for a in alternatives} <= offered
    assert slot.pk not in {a["id"] for a in alternatives}
    assert not Booking.objects.exists()


def test_a_slot_no_longer_offered_and_a_refusal(mirrored, patients, practice_staff, api_client_for):
    api = api_client_for(practice_staff)
    gone = practice_slot(mirrored)
    Slot.objects.filter(pk=gone.pk).delete()
    response = book_through_api(api, mirrored, patients[0], gone)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "slot": ["That time is not free for this campaign any more. Choose another."]
    }

    first = book_through_api(api, mirrored, patients[0], practice_slot(mirrored))
    assert first.status_code == 201
    again = book_through_api(api, mirrored, patients[0], pcn_slot(mirrored), pcn_consent=True)
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "This patient already has a booking in this campaign (or one is being made)."
    )


def test_an_unconfirmed_booking_is_202_checking_never_a_claimed_outcome(
    mirrored, patients, practice_staff, api_client_for, emis_world, monkeypatch
):
    emis_world.faults("U10001", commit_then_fail=True)

    def unavailable(self, patient_id, *, start, end):
        raise EmisUnavailable("EMIS did not answer.", spine_code="TIMEOUT")

    monkeypatch.setattr(GPConnectClient, "patient_appointments", unavailable)
    response = book_through_api(
        api_client_for(practice_staff), mirrored, patients[0], pcn_slot(mirrored), pcn_consent=True
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "outcome_unknown"
    assert body["status_label"] == "Checking with EMIS"
    assert body["message"].startswith("We could not confirm with EMIS whether")
    assert Booking.objects.get().status == BookingStatus.OUTCOME_UNKNOWN


def test_bad_input_is_400_and_unknown_ids_are_404(
    mirrored, patients, practice_staff, api_client_for, practice_b
):
    api = api_client_for(practice_staff)
    missing = api.post(BOOKINGS, {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"]["slot"] == ["Choose a time."]
    huge = api.post(
        BOOKINGS, {"campaign": 2**40, "patient": 1, "slot": 1, "pcn_consent": "x"}, format="json"
    )
    assert huge.status_code == 400
    assert set(huge.json()["errors"]) == {"campaign", "pcn_consent"}
    stranger = PatientFactory(practice=practice_b)
    not_on_list = book_through_api(api, mirrored, stranger, practice_slot(mirrored))
    assert not_on_list.status_code == 404
    assert not_on_list.json()["detail"] == (
        "There is no patient with that id on this campaign's list."
    )


# --- Cancelling -------------------------------------------------------------------------


def test_cancel_with_a_reason_cancels_in_emis(mirrored, patients, practice_staff, api_client_for):
    booking = services.booking_create(
        campaign=mirrored,
        patient=patients[0],
        slot=practice_slot(mirrored),
        booked_by=practice_staff,
    )
    api = api_client_for(practice_staff)
    url = f"{BOOKINGS}{booking.pk}/cancel/"

    no_reason = api.post(url, {"reason": "  "}, format="json")
    assert no_reason.status_code == 400
    assert no_reason.json()["errors"] == {"reason": ["Give a reason for cancelling."]}
    assert sandbox.Appointment.objects.get(pk=booking.emis_appointment_id).status == "booked"

    response = api.post(url, {"reason": "Patient phoned to cancel"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancellation_reason"] == "Patient phoned to cancel"
    assert body["message"].startswith("The appointment is cancelled in EMIS.")
    assert sandbox.Appointment.objects.get(pk=booking.emis_appointment_id).status == "cancelled"
    booking.refresh_from_db()
    assert booking.cancelled_by == practice_staff

    again = api.post(url, {"reason": "Twice"}, format="json")
    assert again.status_code == 409
    assert again.json()["detail"] == "This booking is not current, so there is nothing to cancel."


def _book_and_cancel(api, campaign, patient, slot) -> str:
    made = book_through_api(api, campaign, patient, slot, pcn_consent=True)
    assert made.status_code == 201
    booking_id = str(made.json()["id"])
    cancelled = api.post(f"{BOOKINGS}{booking_id}/cancel/", {"reason": "Unwell"}, format="json")
    assert cancelled.status_code == 200
    return booking_id


def test_writes_are_audited_with_the_user_via_the_api(
    mirrored, patients, practice_staff, api_client_for
):
    booking_id = _book_and_cancel(
        api_client_for(practice_staff), mirrored, patients[0], pcn_slot(mirrored)
    )
    entries = AuditEntry.objects.filter(object_id=booking_id, action__startswith="booking.")
    assert sorted(e.action for e in entries) == ["booking.cancelled", "booking.created"]
    for entry in entries:
        assert entry.actor == practice_staff
        assert entry.details["reason" if entry.action == "booking.cancelled" else "source"]
    # The PCN's tracing task, opened by the booking, was opened via the API.
    task_entries = AuditEntry.objects.filter(action__startswith="tracing_task.")
    assert task_entries.exists()
    assert {e.actor for e in task_entries} == {practice_staff}
    assert {e.details.get("channel") for e in task_entries} == {"API"}


def test_the_bookings_own_audit_entries_say_via_api(
    mirrored, patients, practice_staff, api_client_for
):
    booking_id = _book_and_cancel(
        api_client_for(practice_staff), mirrored, patients[0], pcn_slot(mirrored)
    )
    entries = AuditEntry.objects.filter(object_id=booking_id, action__startswith="booking.")
    assert entries.count() == 2
    assert {e.details["channel"] for e in entries} == {"API"}
    assert {e.details["via"] for e in entries} == {"staff"}  # how it was booked, kept


# --- Reading bookings ---------------------------------------------------------------------


def _bookings(campaign, patients, count):
    """`count` booked rows (no EMIS calls): for lists and query counts."""
    connection = EmisConnection.objects.get(organisation=campaign.practice)
    start = timezone.now() + timedelta(days=2)
    extra = [PatientFactory(practice=campaign.practice) for _ in range(count - len(patients))]
    return Booking.objects.bulk_create(
        [
            Booking(
                campaign=campaign,
                patient=patient,
                practice=campaign.practice,
                connection=connection,
                emis_slot_id=f"S{i}",
                emis_appointment_id=f"A{i}",
                start=start + timedelta(minutes=10 * i),
                end=start + timedelta(minutes=10 * i + 10),
                status=BookingStatus.BOOKED if i % 3 else BookingStatus.CANCELLED,
                booked_via="staff",
            )
            for i, patient in enumerate([*patients, *extra][:count])
        ]
    )


def test_list_filters_and_pages_in_time_order(mirrored, patients, practice_staff, api_client_for):
    made = _bookings(mirrored, patients, 7)
    api = api_client_for(practice_staff)

    listed = results(api.get(BOOKINGS))
    assert [b["id"] for b in listed] == [b.pk for b in made]

    first = api.get(BOOKINGS, {"page_size": 3})
    assert [b["id"] for b in first.json()["results"]] == [b.pk for b in made[:3]]
    second = api.get(first.json()["next"])
    assert [b["id"] for b in second.json()["results"]] == [b.pk for b in made[3:6]]

    cancelled = results(api.get(BOOKINGS, {"status": "cancelled"}))
    assert {b["id"] for b in cancelled} == {b.pk for b in made if b.status == "cancelled"}
    assert results(api.get(BOOKINGS, {"source": "pcn"})) == []
    assert len(results(api.get(BOOKINGS, {"source": "practice", "campaign": mirrored.pk}))) == 7
    day = timezone.localtime(made[0].start, LONDON).date()
    on_day = results(api.get(BOOKINGS, {"date_from": day, "date_to": day}))
    assert {b["id"] for b in on_day} == {
        b.pk for b in made if timezone.localtime(b.start, LONDON).date() == day
    }
    later = results(api.get(BOOKINGS, {"date_from": day + timedelta(days=1)}))
    assert [b["id"] for b in later] == [
        b.pk for b in made if timezone.localtime(b.start, LONDON).date() > day
    ]

    bad = api.get(BOOKINGS, {"status": "lost", "date_from": "31/12/2026", "source": ""})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"status", "date_from", "source"}


def test_list_query_count_is_the_same_for_any_page_size(
    mirrored, patients, practice_staff, api_client_for
):
    _bookings(mirrored, patients, 12)
    api = api_client_for(practice_staff)
    api.get(BOOKINGS)  # the token's first use is recorded once
    counts = []
    for size in (2, 12):
        with CaptureQueriesContext(db_connection) as queries:
            response = api.get(BOOKINGS, {"page_size": size})
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- Tenancy ------------------------------------------------------------------------------


def test_another_practices_bookings_campaigns_and_connections_are_404_and_unlisted(
    mirrored, patients, practice_staff, other_practice_staff, api_client_for, emis_world
):
    booking = services.booking_create(
        campaign=mirrored,
        patient=patients[0],
        slot=practice_slot(mirrored),
        booked_by=practice_staff,
    )
    ours = api_client_for(practice_staff)
    theirs = api_client_for(other_practice_staff)
    own_connection = emis_world.connections["A10001"]

    assert [b["id"] for b in results(ours.get(BOOKINGS))] == [booking.pk]
    assert [c["id"] for c in results(ours.get(CAMPAIGNS))] == [mirrored.pk]
    assert own_connection.pk in {c["id"] for c in results(ours.get(CONNECTIONS))}

    assert results(theirs.get(BOOKINGS)) == []
    assert results(theirs.get(CAMPAIGNS)) == []
    assert own_connection.pk not in {c["id"] for c in results(theirs.get(CONNECTIONS))}
    for url in (
        f"{BOOKINGS}{booking.pk}/",
        f"{CAMPAIGNS}{mirrored.pk}/",
        f"{CAMPAIGNS}{mirrored.pk}/slots/?day={timezone.localdate()}",
        f"{CONNECTIONS}{own_connection.pk}/",
    ):
        response = theirs.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"].startswith(PROBLEM)
    cancel = theirs.post(f"{BOOKINGS}{booking.pk}/cancel/", {"reason": "Mine"}, format="json")
    assert cancel.status_code == 404
    book = book_through_api(theirs, mirrored, patients[1], practice_slot(mirrored))
    assert book.status_code == 404
    assert sandbox.Appointment.objects.get(pk=booking.emis_appointment_id).status == "booked"


def test_pcn_staff_book_nothing_and_see_their_pcns_connections(
    mirrored, patients, pcn_tracer, api_client_for, emis_world
):
    api = api_client_for(pcn_tracer)
    assert results(api.get(CAMPAIGNS)) == []
    assert results(api.get(BOOKINGS)) == []
    listed = {c["organisation"]["ods_code"]: c for c in results(api.get(CONNECTIONS))}
    assert listed["U10001"]["system"] == "emis_community"
    assert listed["U10001"]["system_label"] == "EMIS Community (PCN)"
    assert listed["U10001"]["status"] == "live" and listed["U10001"]["is_live"] is True


# --- Campaigns ----------------------------------------------------------------------------


def test_campaign_list_and_detail_match_the_campaign_page(
    mirrored, patients, practice_staff, api_client_for
):
    services.booking_create(
        campaign=mirrored,
        patient=patients[0],
        slot=pcn_slot(mirrored),
        booked_by=practice_staff,
        pcn_consent=True,
    )
    api = api_client_for(practice_staff)
    (listed,) = results(api.get(CAMPAIGNS, {"status": "active"}))
    assert listed["name"] == "Winter flu clinic"
    assert listed["patient_count"] == 3 and listed["booked_count"] == 1
    assert listed["slot_filter"] == {
        "description": "Flu vaccination",
        "service_types": ["Flu vaccination"],
        "delivery_channels": [],
        "sites": [],
        "clinicians": [],
    }
    assert results(api.get(CAMPAIGNS, {"status": "draft"})) == []

    detail = api.get(f"{CAMPAIGNS}{mirrored.pk}/").json()
    expected_sources = {
        ("pcn" if s.label == "PCN" else "practice", s.name, s.free_slots)
        for s in campaign_sources(campaign=mirrored)
    }
    assert {
        (s["source"], s["organisation"], s["free_slots"]) for s in detail["sources"]
    } == expected_sources
    assert {s["source"] for s in detail["sources"]} == {"practice", "pcn"}
    counts = campaign_invite_counts(campaign=mirrored)
    assert detail["figures"]["booked"] == counts.booked == 1
    assert detail["figures"]["booked_pcn"] == 1
    assert detail["figures"]["not_yet_booked"] == counts.not_yet_booked


def test_campaign_list_query_count_is_the_same_for_any_page_size(
    mirrored, practice_admin, practice_staff, api_client_for
):
    today = timezone.localdate()
    for n in range(4):
        services.campaign_create(
            user=practice_admin,
            practice=mirrored.practice,
            name=f"Health checks {n}",
            appointment_type="Health check",
            start_date=today,
            end_date=today + timedelta(days=7),
            slot_service_types=["Health check"],
        )
    api = api_client_for(practice_staff)
    api.get(CAMPAIGNS)  # the token's first use is recorded once
    counts = []
    for size in (1, 5):
        with CaptureQueriesContext(db_connection) as queries:
            response = api.get(CAMPAIGNS, {"page_size": size})
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_campaign_slots_for_one_day_are_the_offerable_ones(
    mirrored, practice_staff, api_client_for
):
    api = api_client_for(practice_staff)
    day = timezone.localdate() + timedelta(days=3)
    response = api.get(f"{CAMPAIGNS}{mirrored.pk}/slots/", {"day": day.isoformat()})
    expected = [
        s.pk
        for s in campaign_offerable_slots(campaign=mirrored).order_by("start", "id")
        if timezone.localtime(s.start, LONDON).date() == day
    ]
    assert expected
    assert [s["id"] for s in results(response)] == expected
    assert {s["source"] for s in results(response)} == {"pcn"}

    missing = api.get(f"{CAMPAIGNS}{mirrored.pk}/slots/")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"day": ["Choose a day."]}
    far = api.get(f"{CAMPAIGNS}{mirrored.pk}/slots/", {"day": "9999-12-31"})
    assert far.status_code == 400


# --- Connections --------------------------------------------------------------------------


SECRET_KEYS = ("base_url", "partner_base_url", "asid", "token", "secret", "credentials")


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return {k for key, item in value.items() for k in {key, *_keys(item)}}
    if isinstance(value, list):
        return {k for item in value for k in _keys(item)}
    return set()


def test_connections_never_show_addresses_or_credentials(
    emis_world, support_user, practice_staff, api_client_for
):
    EmisConnection.objects.update(last_error="Failed at https://emis.example/secret-path")
    for user in (support_user, practice_staff):
        response = api_client_for(user).get(CONNECTIONS)
        listed = results(response)
        assert listed
        keys = _keys(listed)
        assert not [k for k in keys if any(word in k for word in SECRET_KEYS)], keys
        text = response.content.decode()
        for connection in EmisConnection.objects.all():
            for value in (
                connection.base_url,
                connection.partner_base_url,
                connection.asid_from,
                connection.asid_to,
                connection.credentials_encrypted,
                connection.last_error,
            ):
                if value:
                    assert value not in text
        assert json.loads(text)["results"][0]["status_label"]
