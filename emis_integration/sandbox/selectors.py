"""Reads of the sandbox's tables."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from hippo_pcn.db import values_rows

from .models import (
    Appointment,
    AppointmentStatus,
    Patient,
    SandboxOrganisation,
    Slot,
    SlotStatus,
)
from .types import AppointmentCursor, AppointmentRow


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
        .select_related("schedule__site")
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


def appointments_updated_page(
    *,
    organisation: SandboxOrganisation,
    updated_after: datetime,
    cursor: AppointmentCursor | None,
    count: int,
) -> tuple[list[AppointmentRow], AppointmentCursor | None]:
    """One page of appointments (booked and cancelled) updated after
    `updated_after`, ordered by (last_updated, id), continuing after `cursor`.
    Returns the page and the cursor of the next page (None on the last)."""
    queryset = Appointment.objects.filter(organisation=organisation, last_updated__gt=updated_after)
    if cursor is not None:
        # The >= bound lets PostgreSQL start the index range at the cursor; the OR
        # alone would make every page re-scan from the first row.
        queryset = queryset.filter(
            Q(last_updated__gt=cursor.last_updated)
            | Q(last_updated=cursor.last_updated, id__gt=cursor.appointment_id),
            last_updated__gte=cursor.last_updated,
        )
    # Plain column values (one row, no model instances): this listing is the
    # poller's hot path and serves hundreds of appointments a page.
    rows = [
        AppointmentRow(*values)
        for values in values_rows(
            queryset.order_by("last_updated", "id").values_list(*AppointmentRow.COLUMNS)[
                : count + 1
            ]
        )
    ]
    if len(rows) <= count:
        return rows, None
    page = rows[:count]
    last = page[-1]
    return page, AppointmentCursor(last_updated=last.last_updated, appointment_id=last.pk)


def patient_by_nhs_number(*, organisation: SandboxOrganisation, nhs_number: str) -> Patient | None:
    return Patient.objects.filter(organisation=organisation, nhs_number=nhs_number).first()


def active_future_bookings(
    *, organisation: SandboxOrganisation, booking_org_ods: str, now: datetime
) -> int:
    return Appointment.objects.filter(
        organisation=organisation,
        booking_org_ods=booking_org_ods,
        status=AppointmentStatus.BOOKED,
        start__gt=now,
    ).count()
