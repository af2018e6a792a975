"""Reads of the sandbox's tables."""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Count, FilteredRelation, Q, QuerySet
from django.utils import timezone

from hippo_pcn.db import values_rows

from .models import (
    Appointment,
    AppointmentSession,
    AppointmentStatus,
    Patient,
    RegistrationType,
    SandboxOrganisation,
    Slot,
    SlotStatus,
)
from .types import SessionRow, SessionSlotRow


def organisation_by_ods(*, ods_code: str) -> SandboxOrganisation | None:
    return SandboxOrganisation.objects.filter(ods_code=ods_code.strip().upper()).first()


def organisation_type_for(*, ods_code: str, declared_type: str = "") -> str:
    """The organisation type a slot restriction is checked against: the sandbox's
    own record of the organisation when it knows it, else what the caller declared."""
    known = organisation_by_ods(ods_code=ods_code) if ods_code else None
    return known.org_type if known is not None else declared_type


def organisation_names(*, ods_codes: set[str]) -> dict[str, str]:
    return dict(
        SandboxOrganisation.objects.filter(ods_code__in=ods_codes).values_list("ods_code", "name")
    )


def free_slots_for_requester(
    *,
    organisation: SandboxOrganisation,
    requester_ods: str,
    requester_type: str,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> list[Slot]:
    """Free, not yet started slots fully inside [start, end] that the requesting
    organisation may book, in time order. Restrictions are checked in Python
    (JSON list membership differs between PostgreSQL and the demo's SQLite); a
    14-day window of one organisation's slots is small."""
    now = now or timezone.now()
    candidates = (
        Slot.objects.filter(
            organisation=organisation,
            status=SlotStatus.FREE,
            start__gte=max(start, now),
            end__lte=end,
        )
        .select_related("schedule__site", "schedule__practitioner")
        .order_by("start", "id")
    )
    return [
        slot for slot in candidates if slot.allows(ods_code=requester_ods, org_type=requester_type)
    ]


def free_future_slots(*, organisation: SandboxOrganisation, now: datetime) -> QuerySet[Slot]:
    return (
        Slot.objects.filter(organisation=organisation, status=SlotStatus.FREE, start__gt=now)
        .select_related("schedule__site", "schedule__practitioner")
        .order_by("start", "id")
    )


def appointment_for_read(
    *, organisation: SandboxOrganisation, appointment_id: int
) -> Appointment | None:
    return (
        Appointment.objects.filter(organisation=organisation, pk=appointment_id)
        .select_related("slot__schedule")
        .first()
    )


def patient_by_nhs_number(*, organisation: SandboxOrganisation, nhs_number: str) -> Patient | None:
    """GP Connect's Find a patient: a patient registered here (regular or
    temporary). An appointment-only record is not a registration: not found."""
    return (
        Patient.objects.filter(organisation=organisation, nhs_number=nhs_number)
        .exclude(registration_type=RegistrationType.APPOINTMENT_ONLY)
        .first()
    )


def active_future_bookings(
    *, organisation: SandboxOrganisation, booking_org_ods: str, now: datetime
) -> int:
    return Appointment.objects.filter(
        organisation=organisation,
        booking_org_ods=booking_org_ods,
        status=AppointmentStatus.BOOKED,
        start__gt=now,
    ).count()


# --- the Partner API ---------------------------------------------------------------
def _booked_appointment() -> FilteredRelation:
    """A slot's booked appointment (at most one: sandboxappt_one_booked_per_slot),
    so joining it never multiplies a slot's row."""
    return FilteredRelation(
        "appointments", condition=Q(appointments__status=AppointmentStatus.BOOKED)
    )


def sessions_with_counts(
    *,
    organisation: SandboxOrganisation,
    start: date,
    end: date,
    slot_type: str = "",
    now: datetime | None = None,
) -> list[SessionRow]:
    """The organisation's sessions dated `start` to `end` (inclusive), in date
    and time order, with their slot counts, in one aggregated query: `total`
    slots, `booked` (holding a booked appointment), `available` (not booked,
    free and not yet started). `slot_type` (a typeID: the schedule id) keeps only
    that type's sessions; an unknown one matches none."""
    now = now or timezone.now()
    sessions = AppointmentSession.objects.filter(
        organisation=organisation, date__gte=start, date__lte=end
    )
    if slot_type:
        if not slot_type.isdigit() or len(slot_type) > 18:
            return []
        sessions = sessions.filter(schedule_id=int(slot_type))
    counted = (
        sessions.annotate(
            booked_appointment=FilteredRelation(
                "slots__appointments",
                condition=Q(slots__appointments__status=AppointmentStatus.BOOKED),
            )
        )
        .values_list(*SessionRow.COLUMNS)
        .annotate(
            total=Count("slots"),
            booked=Count("booked_appointment"),
            available=Count(
                "slots",
                filter=Q(
                    slots__status=SlotStatus.FREE,
                    slots__start__gt=now,
                    booked_appointment__isnull=True,
                ),
            ),
        )
        .order_by("date", "start_time", "pk")
    )
    return [SessionRow(*values) for values in values_rows(counted)]


def session_at(*, organisation: SandboxOrganisation, session_id: int) -> AppointmentSession | None:
    return AppointmentSession.objects.filter(organisation=organisation, pk=session_id).first()


def session_slots(*, session: AppointmentSession) -> list[SessionSlotRow]:
    """The session's slots in time order, each with its booked appointment's
    patient record (names only), in one query."""
    slots = (
        Slot.objects.filter(session=session)
        .annotate(booked_appointment=_booked_appointment())
        .order_by("start", "id")
        .values_list(*SessionSlotRow.COLUMNS)
    )
    return [SessionSlotRow(*values) for values in values_rows(slots)]


def patient_appointments(
    *, patient: Patient, start: datetime | None, end: datetime | None
) -> list[Appointment]:
    """A patient's appointments here (booked and cancelled) starting in [start, end]."""
    found = Appointment.objects.filter(organisation_id=patient.organisation_id, patient=patient)
    if start is not None:
        found = found.filter(start__gte=start)
    if end is not None:
        found = found.filter(start__lte=end)
    return list(found.select_related("slot__schedule").order_by("start", "id"))


def patient_record_at(*, organisation: SandboxOrganisation, patient_id: int) -> Patient | None:
    """Any patient record of the organisation (registered or appointment-only)."""
    return Patient.objects.filter(organisation=organisation, pk=patient_id).first()


def booked_appointments_between(
    *, organisation: SandboxOrganisation, start: datetime, end: datetime
) -> list[Appointment]:
    """Booked appointments starting in [start, end], in time order, with their
    slot's session (site, holder), schedule and patient record."""
    return list(
        Appointment.objects.filter(
            organisation=organisation,
            status=AppointmentStatus.BOOKED,
            start__gte=start,
            start__lte=end,
        )
        .select_related(
            "slot__schedule",
            "slot__session__site",
            "slot__session__holder",
            "slot__schedule__site",
            "slot__schedule__practitioner",
            "patient_record",
        )
        .order_by("start", "id")
    )
