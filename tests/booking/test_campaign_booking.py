"""Campaigns, the slot mirror, and booking into practice and PCN slots through
the sandbox EMIS."""

from datetime import timedelta

import pytest
from django.utils import timezone

from booking import services
from booking.models import Booking, Slot
from booking.selectors import campaign_offerable_slots, campaign_pcn_diagnosis
from emis_integration.models import ConnectionStatus, EmisConnection
from emis_integration.sandbox import models as sandbox
from hippo_pcn.audit.models import AuditEntry
from tracing.models import TracingTask


def test_refresh_mirrors_both_sources_in_time_order(mirrored):
    slots = list(campaign_offerable_slots(campaign=mirrored))
    assert [s.source_label for s in slots] == ["Practice", "PCN", "Practice", "PCN", "PCN"]
    assert [s.start for s in slots] == sorted(s.start for s in slots)
    pcn_slot = slots[1]
    assert pcn_slot.site_name == "Alpha Hub"
    assert "1 High Street" in pcn_slot.site_address
    assert pcn_slot.service_type == "Flu vaccination"


def test_refresh_drops_slots_taken_elsewhere(mirrored, world_slots):
    taken = world_slots["pcn"][0]
    sandbox.Slot.objects.filter(pk=taken.pk).update(status="busy")
    services.campaign_refresh_slots(campaign=mirrored)
    assert not Slot.objects.filter(emis_slot_id=str(taken.pk)).exists()


def test_pcn_slots_only_when_live_and_opted_in(mirrored, emis_world, practice_admin):
    pcn_connection = emis_world.connections["U10001"]
    EmisConnection.objects.filter(pk=pcn_connection.pk).update(status=ConnectionStatus.SUSPENDED)
    assert {s.is_pcn for s in campaign_offerable_slots(campaign=mirrored)} == {False}
    assert campaign_pcn_diagnosis(campaign=mirrored).state == "suspended"
    EmisConnection.objects.filter(pk=pcn_connection.pk).update(status=ConnectionStatus.LIVE)
    services.campaign_update(user=practice_admin, campaign=mirrored, use_pcn_slots=False)
    assert {s.is_pcn for s in campaign_offerable_slots(campaign=mirrored)} == {False}
    assert campaign_pcn_diagnosis(campaign=mirrored).state == "opted_out"


def test_book_a_practice_slot(mirrored, patients, practice_staff, book):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    booking = book(slot)
    assert booking.status == "booked"
    assert booking.emis_appointment_id
    assert not booking.is_pcn
    assert booking.tracing_task is None
    assert not Slot.objects.filter(pk=slot.pk).exists()
    appointment = sandbox.Appointment.objects.get(pk=booking.emis_appointment_id)
    assert appointment.patient_nhs_number == patients[0].nhs_number
    assert appointment.booking_org_ods == "A10001"
    entry = AuditEntry.objects.get(action="booking.created")
    assert entry.actor == practice_staff
    assert patients[0].nhs_number not in str(entry.details)


def test_book_a_pcn_slot_records_consent_and_opens_a_tracing_task(
    mirrored, patients, practice_staff, pcn_a, book
):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    booking = book(slot, pcn_consent=True)
    assert booking.is_pcn
    assert booking.pcn_consent
    assert booking.pcn_consent_by == practice_staff
    assert booking.pcn_consent_at is not None
    assert booking.site_name == "Alpha Hub"
    task = booking.tracing_task
    assert task is not None
    assert task.source == "booked_via_app"
    assert task.emis_appointment_id == booking.emis_appointment_id
    assert task.pcn == pcn_a
    assert task.patient_nhs_number == patients[0].nhs_number
    assert task.registered_practice_ods == "A10001"
    assert TracingTask.objects.count() == 1


def test_pcn_slot_needs_consent(mirrored, patients, practice_staff, book):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    with pytest.raises(services.BookingError, match="agrees to be seen by the PCN"):
        book(slot)
    assert not Booking.objects.exists()
    assert not sandbox.Appointment.objects.exists()


def test_refusals_past_outside_window_not_live(
    mirrored, patients, practice_staff, emis_world, book
):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    Slot.objects.filter(pk=slot.pk).update(start=timezone.now() - timedelta(hours=1))
    slot.refresh_from_db()
    with pytest.raises(services.BookingError, match="already passed"):
        book(slot, pcn_consent=True)
    Slot.objects.filter(pk=slot.pk).update(start=timezone.now() + timedelta(days=40))
    slot.refresh_from_db()
    with pytest.raises(services.BookingError, match="outside the campaign"):
        book(slot, pcn_consent=True)
    other = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    EmisConnection.objects.filter(pk=emis_world.connections["U10001"].pk).update(
        status=ConnectionStatus.SUSPENDED
    )
    with pytest.raises(services.BookingError, match="not live"):
        book(other, pcn_consent=True)
    assert not Booking.objects.exists()


def test_emis_down_books_nothing_and_a_retry_works(
    mirrored, patients, practice_staff, emis_world, book
):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    emis_world.faults("A10001", error_rate=1.0)
    with pytest.raises(services.BookingError, match="EMIS did not answer; nothing was booked"):
        book(slot)
    assert not Booking.objects.exists()
    emis_world.faults("A10001", error_rate=0.0)
    booking = book(slot)
    assert Booking.objects.filter(status="booked").count() == 1
    assert sandbox.Appointment.objects.filter(status="booked").count() == 1
    assert booking.status == "booked"


def test_slot_taken_in_emis_is_dropped_and_alternatives_offered(
    mirrored, patients, practice_staff, world_slots, book
):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    sandbox.Slot.objects.filter(pk=int(slot.emis_slot_id)).update(status="busy")
    with pytest.raises(services.SlotTaken) as excinfo:
        book(slot, pcn_consent=True)
    assert "just taken" in excinfo.value.message
    assert 0 < len(excinfo.value.alternatives) <= 3
    assert slot.pk not in {s.pk for s in excinfo.value.alternatives}
    assert not Slot.objects.filter(pk=slot.pk).exists()
    assert not Booking.objects.exists()


def test_a_slot_dropped_by_a_racing_booking_is_reported_taken(
    mirrored, patients, practice_staff, world_slots, book
):
    """A racing booking was told by EMIS that the slot was taken, and dropped it
    from the mirror: the next attempt hears "just taken" with alternatives, not
    that the campaign does not offer it."""
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    Slot.objects.filter(pk=slot.pk).delete()
    with pytest.raises(services.SlotTaken) as excinfo:
        book(slot, pcn_consent=True)
    assert "just taken" in excinfo.value.message
    assert 0 < len(excinfo.value.alternatives) <= 3
    assert not Booking.objects.exists()


def test_one_active_booking_per_patient_per_campaign(mirrored, patients, practice_staff, book):
    slots = list(campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False))
    book(slots[0])
    with pytest.raises(services.BookingError, match="already has a booking"):
        book(slots[1])


def test_cancel(mirrored, patients, practice_staff, book):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    booking = book(slot)
    with pytest.raises(services.BookingError, match="reason"):
        services.booking_cancel(booking=booking, user=practice_staff, reason=" ")
    services.booking_cancel(booking=booking, user=practice_staff, reason="Patient unwell")
    assert booking.status == "cancelled"
    assert booking.cancelled_by == practice_staff
    assert sandbox.Appointment.objects.get(pk=booking.emis_appointment_id).status == "cancelled"
    assert AuditEntry.objects.filter(action="booking.cancelled").count() == 1


def test_cancel_with_emis_down_keeps_the_booking(
    mirrored, patients, practice_staff, emis_world, book
):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    booking = book(slot)
    emis_world.faults("A10001", error_rate=1.0)
    with pytest.raises(services.BookingError, match="has not been cancelled"):
        services.booking_cancel(booking=booking, user=practice_staff, reason="x")
    booking.refresh_from_db()
    assert booking.status == "booked"
    assert booking.cancel_error


def test_rebook_books_first_then_cancels(mirrored, patients, practice_staff, book):
    slots = list(campaign_offerable_slots(campaign=mirrored))
    old = book(slots[0])
    new = services.booking_rebook(booking=old, slot=slots[2], user=practice_staff)
    old.refresh_from_db()
    assert new.status == "booked"
    assert old.status == "cancelled"
    assert old.replaced_by == new
    assert sandbox.Appointment.objects.get(pk=old.emis_appointment_id).status == "cancelled"
    assert sandbox.Appointment.objects.get(pk=new.emis_appointment_id).status == "booked"


def test_failed_rebook_leaves_the_original_booking(
    mirrored, patients, practice_staff, emis_world, book
):
    slots = list(campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False))
    old = book(slots[0])
    emis_world.faults("A10001", error_rate=1.0)
    with pytest.raises(services.BookingError):
        services.booking_rebook(booking=old, slot=slots[1], user=practice_staff)
    old.refresh_from_db()
    assert old.status == "booked"
    assert old.replaced_by is None
    assert Booking.objects.count() == 1
    assert sandbox.Appointment.objects.get(pk=old.emis_appointment_id).status == "booked"


def test_live_with_no_pcn_slots_is_diagnosed(campaign, emis_world):
    services.campaign_refresh_slots(campaign=campaign)
    assert campaign_pcn_diagnosis(campaign=campaign).state == "live_no_slots"


def test_campaign_window_is_checked(practice_a, practice_admin):
    from django.core.exceptions import ValidationError

    today = timezone.localdate()
    with pytest.raises(ValidationError):
        services.campaign_create(
            user=practice_admin,
            practice=practice_a,
            name="x",
            appointment_type="y",
            start_date=today,
            end_date=today - timedelta(days=1),
        )


def test_other_practices_cannot_create_campaigns(practice_a, other_practice_admin, book):
    from django.core.exceptions import PermissionDenied

    today = timezone.localdate()
    with pytest.raises(PermissionDenied):
        services.campaign_create(
            user=other_practice_admin,
            practice=practice_a,
            name="x",
            appointment_type="y",
            start_date=today,
            end_date=today,
        )


# --- GP Connect's booking flow: find, register when unknown, book by reference ---------
def test_refresh_keeps_the_slots_location_and_practitioner(mirrored, emis_world):
    schedule = emis_world.schedules["U10001"]
    pcn_slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    assert pcn_slot.location_id == str(schedule.site_id)
    assert pcn_slot.practitioner_id == str(schedule.practitioner_id)


def test_a_patient_unknown_at_the_pcn_is_registered_and_their_task_is_traced(
    mirrored, patients, practice_staff, book
):
    booking = book(pcn_consent=True)
    registration = sandbox.Patient.objects.get(
        organisation__ods_code="U10001", nhs_number=patients[0].nhs_number
    )
    assert registration.registration_type == sandbox.RegistrationType.TEMPORARY
    appointment = sandbox.Appointment.objects.get(pk=booking.emis_appointment_id)
    assert appointment.patient == registration == appointment.patient_record
    assert appointment.participant_references() == {
        f"Patient/{registration.pk}",
        f"Location/{appointment.slot.schedule.site_id}",
        f"Practitioner/{appointment.slot.schedule.practitioner_id}",
    }
    assert appointment.booking_org_phone == mirrored.practice.phone
    task = booking.tracing_task
    assert task.status == "traced"
    assert task.done_by == practice_staff
    assert f"patient id {registration.pk}" in task.verification_note
    assert "at booking" in task.verification_note
    assert task.registered_practice_ods == "A10001"
    assert AuditEntry.objects.filter(action="tracing_task.registered_at_pcn").count() == 1
    created = AuditEntry.objects.get(action="booking.created")
    assert created.details["registered_at_provider"] is True


def test_a_patient_registered_at_the_pcn_is_found_and_their_task_stays_open(
    mirrored, patients, practice_staff, emis_world, book
):
    registration = emis_world.register("U10001", patients[0], registration_type="T")
    booking = book(pcn_consent=True)
    appointment = sandbox.Appointment.objects.get(pk=booking.emis_appointment_id)
    assert appointment.patient == registration
    assert sandbox.Patient.objects.filter(organisation__ods_code="U10001").count() == 1
    assert booking.tracing_task.status == "open"


def test_a_pcn_record_with_another_date_of_birth_books_nothing(
    mirrored, patients, practice_staff, emis_world, book
):
    """The PCN's EMIS holds this NHS number with another date of birth: perhaps a
    different person (a mistyped number). Booking would open the wrong record at
    the PCN, so nothing is booked and staff are told to check."""
    from datetime import timedelta as _days

    registration = emis_world.register("U10001", patients[0], registration_type="R")
    sandbox.Patient.objects.filter(pk=registration.pk).update(
        birth_date=patients[0].date_of_birth - _days(days=400)
    )
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    with pytest.raises(services.BookingError) as excinfo:
        book(slot, pcn_consent=True)
    message = excinfo.value.message
    assert "holds a different date of birth for this NHS number" in message
    assert "nothing was booked" in message
    assert not any(ch.isdigit() for ch in message)  # no date or number from either record
    assert not Booking.objects.filter(status="booked").exists()
    assert not sandbox.Appointment.objects.exists()
    assert not TracingTask.objects.exists()
    # The slot stays free for the right patient.
    assert book(patient=patients[1], pcn_consent=True).status == "booked"


def test_a_refused_registration_books_nothing_and_says_why(
    mirrored, patients, practice_staff, book
):
    from booking.models import Patient

    Patient.objects.filter(pk=patients[0].pk).update(last_name="")
    patients[0].refresh_from_db()
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    with pytest.raises(services.BookingError) as excinfo:
        book(slot, pcn_consent=True)
    message = excinfo.value.message
    assert "The PCN's EMIS would not register the patient, so nothing was booked" in message
    assert "family name" in message  # the provider's diagnostics
    assert not Booking.objects.exists()  # the reservation was released
    assert not sandbox.Appointment.objects.exists()
    assert not TracingTask.objects.exists()
    # The slot can be booked by somebody else.
    assert book(patient=patients[1], pcn_consent=True).status == "booked"


def test_a_practice_without_a_phone_number_cannot_book(mirrored, patients, practice_staff, book):
    from hippo_pcn.organisations.models import Organisation

    Organisation.objects.filter(pk=mirrored.practice_id).update(phone="")
    mirrored.practice.refresh_from_db()
    with pytest.raises(services.BookingError) as excinfo:
        book(pcn_consent=True)
    assert excinfo.value.message.startswith(
        f"{mirrored.practice.name} has no phone number: add it in the admin (Organisations → "
    )
    assert not Booking.objects.exists()
    assert not sandbox.Appointment.objects.exists()


def test_a_slot_mirrored_without_its_location_asks_for_a_refresh(
    mirrored, patients, practice_staff, book
):
    Slot.objects.update(location_id="")
    with pytest.raises(services.BookingError, match="refresh the slots"):
        book(pcn_consent=True)
    assert not Booking.objects.exists()
