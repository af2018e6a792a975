"""simulate_emis_bookings: what a PCN's staff do inside EMIS itself, outside
hippo-pcn (book, cancel, move), written straight into the sandbox's tables. Only
the poller can discover these changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..errors import SandboxError
from ..models import (
    Appointment,
    AppointmentStatus,
    OrganisationKind,
    Patient,
    RegistrationType,
    SandboxOrganisation,
    Slot,
    SlotStatus,
)
from ..types import BookingOrganisation, BookingRequest, PatientDemographics
from .booking import appointment_book

BOOKED_COMMENT = "Booked in EMIS by practice staff (simulated)"
CANCELLATION_REASON = "Cancelled in EMIS by PCN staff (simulated)"


class SimulationError(Exception):
    """simulate_emis_bookings cannot do what was asked; nothing was changed."""


@dataclass(frozen=True)
class Move:
    """An appointment moved to another slot, and where it was before."""

    appointment: Appointment
    from_start: datetime
    from_site: str
    from_session_id: int | None


@dataclass(frozen=True)
class SimulationResult:
    booked: list[Appointment] = field(default_factory=list)
    cancelled: list[Appointment] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)


def _patients_to_book(*, pcn: SandboxOrganisation, now: datetime) -> list[Patient]:
    """Patients registered at the PCN's member practices with no future booking
    at the PCN, round-robin over the practices so bookings come from all of them."""
    already_booked = set(
        Appointment.objects.filter(
            organisation=pcn, status=AppointmentStatus.BOOKED, start__gt=now
        ).values_list("patient_nhs_number", flat=True)
    )
    by_practice: dict[int, list[Patient]] = {}
    seen: set[str] = set(already_booked)
    for patient in (
        Patient.objects.filter(organisation__pcn=pcn, organisation__kind=OrganisationKind.PRACTICE)
        .exclude(registration_type=RegistrationType.APPOINTMENT_ONLY)
        .select_related("organisation")
        .order_by("organisation__ods_code", "id")
    ):
        if patient.nhs_number not in seen:
            seen.add(patient.nhs_number)
            by_practice.setdefault(patient.organisation_id, []).append(patient)
    queues = list(by_practice.values())
    patients: list[Patient] = []
    for rank in range(max((len(queue) for queue in queues), default=0)):
        patients += [queue[rank] for queue in queues if rank < len(queue)]
    return patients


def _book(
    *,
    pcn: SandboxOrganisation,
    count: int,
    booking_org: SandboxOrganisation | None,
    now: datetime,
) -> list[Appointment]:
    patients = _patients_to_book(pcn=pcn, now=now)
    if len(patients) < count:
        raise SimulationError(
            f"{pcn.ods_code}'s member practices have only {len(patients)} patients without a "
            f"future booking at the PCN; {count} were asked for. Nothing was changed."
        )
    slots = list(selectors.free_future_slots(organisation=pcn, now=now))
    if len(slots) < count:
        raise SimulationError(
            f"{pcn.ods_code} has only {len(slots)} free future slots; {count} were asked for. "
            "Nothing was changed."
        )
    chosen = patients[:count]
    # Staff book a patient registered at the PCN against that registration; an
    # appointment-only record is found again by appointment_book itself.
    pcn_registrations = dict(
        Patient.objects.filter(organisation=pcn, nhs_number__in=[p.nhs_number for p in chosen])
        .exclude(registration_type=RegistrationType.APPOINTMENT_ONLY)
        .values_list("nhs_number", "pk")
    )
    practice_names = selectors.organisation_names(
        ods_codes={p.registered_practice_ods for p in chosen if p.registered_practice_ods}
    )
    used: set[int] = set()
    appointments: list[Appointment] = []
    for number, patient in enumerate(chosen, start=1):
        booker = booking_org or patient.organisation
        slot = next(
            (
                s
                for s in slots
                if s.pk not in used and s.allows(ods_code=booker.ods_code, org_type=booker.org_type)
            ),
            None,
        )
        if slot is None:
            raise SimulationError(
                f"No free future slot at {pcn.ods_code} is left that {booker.ods_code} may "
                f"book (booking {number} of {count}). Nothing was changed."
            )
        used.add(slot.pk)
        booking = BookingRequest(
            slot_id=slot.pk,
            start=slot.start,
            end=slot.end,
            booking_organisation=BookingOrganisation(
                ods_code=booker.ods_code,
                name=booker.name,
                phone=booker.phone,
                org_type=booker.org_type,
            ),
            patient=PatientDemographics(
                nhs_number=patient.nhs_number,
                family=patient.family,
                given=patient.given,
                birth_date=patient.birth_date,
                gender=patient.gender,
                registered_practice_ods=patient.registered_practice_ods,
                registered_practice_name=practice_names.get(patient.registered_practice_ods, ""),
            ),
            patient_id=pcn_registrations.get(patient.nhs_number),
            description=slot.schedule.service_type[:100],
            comment=BOOKED_COMMENT,
        )
        try:
            appointments.append(appointment_book(organisation=pcn, booking=booking, now=now))
        except SandboxError as exc:
            raise SimulationError(
                f"Booking {number} of {count} was refused: {exc.diagnostics} Nothing was changed."
            ) from exc
    return appointments


def _locked_booked(*, pcn: SandboxOrganisation, pk: int, now: datetime) -> Appointment:
    appointment = (
        Appointment.objects.select_for_update()
        .filter(organisation=pcn, pk=pk, status=AppointmentStatus.BOOKED, start__gt=now)
        .select_related("slot")
        .first()
    )
    if appointment is None:
        raise SimulationError(
            f"Appointment {pk} at {pcn.ods_code} changed while the simulation ran. "
            "Nothing was changed."
        )
    return appointment


def _cancel(*, pcn: SandboxOrganisation, pk: int, now: datetime) -> Appointment:
    appointment = _locked_booked(pcn=pcn, pk=pk, now=now)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancellation_reason = CANCELLATION_REASON
    appointment.version += 1
    appointment.last_updated = now
    appointment.save(update_fields=["status", "cancellation_reason", "version", "last_updated"])
    Slot.objects.filter(pk=appointment.slot_id).update(status=SlotStatus.FREE)
    return appointment


def _move_preferences(appointment: Appointment) -> list[Callable[[Slot], bool]]:
    """Where a moved appointment goes, best first: another session of the same
    schedule (another day of the same clinic), another session, then any slot."""
    session_id, schedule_id = appointment.slot.session_id, appointment.slot.schedule_id
    return [
        lambda s: s.session_id != session_id and s.schedule_id == schedule_id,
        lambda s: s.session_id != session_id,
        lambda s: True,
    ]


def _move(*, pcn: SandboxOrganisation, pk: int, now: datetime, taken: set[int]) -> Move:
    appointment = _locked_booked(pcn=pcn, pk=pk, now=now)
    booker_type = selectors.organisation_type_for(
        ods_code=appointment.booking_org_ods, declared_type=appointment.booking_org_type
    )
    candidates = [
        slot
        for slot in selectors.free_future_slots(organisation=pcn, now=now)
        if slot.pk not in taken
        and slot.allows(ods_code=appointment.booking_org_ods, org_type=booker_type)
    ]
    for preferred in _move_preferences(appointment):
        for slot in (s for s in candidates if preferred(s)):
            # Lock the slot and make sure nobody took it since it was listed.
            locked = Slot.objects.select_for_update().filter(pk=slot.pk, status=SlotStatus.FREE)
            if locked.values_list("pk", flat=True).first() is not None:
                return _move_to(appointment, slot, now=now, taken=taken)
            taken.add(slot.pk)
    raise SimulationError(
        f"No free future slot at {pcn.ods_code} is left that {appointment.booking_org_ods} "
        f"may book, to move appointment {appointment.pk} into. Nothing was changed."
    )


def _move_to(appointment: Appointment, slot: Slot, *, now: datetime, taken: set[int]) -> Move:
    move = Move(
        appointment=appointment,
        from_start=appointment.start,
        from_site=appointment.location_display,
        from_session_id=appointment.slot.session_id,
    )
    old_slot_id = appointment.slot_id
    practitioner = slot.schedule.practitioner
    appointment.slot = slot
    appointment.start = slot.start
    appointment.end = slot.end
    appointment.location_display = slot.schedule.site.name
    appointment.practitioner_display = practitioner.display_name if practitioner else ""
    appointment.version += 1
    appointment.last_updated = now
    appointment.save(
        update_fields=[
            "slot",
            "start",
            "end",
            "location_display",
            "practitioner_display",
            "version",
            "last_updated",
        ]
    )
    Slot.objects.filter(pk=old_slot_id).update(status=SlotStatus.FREE)
    Slot.objects.filter(pk=slot.pk).update(status=SlotStatus.BUSY)
    taken.add(slot.pk)
    return move


def bookings_simulate(
    *,
    pcn: SandboxOrganisation,
    count: int = 0,
    cancel: int = 0,
    move: int = 0,
    booking_org: SandboxOrganisation | None = None,
    now: datetime | None = None,
) -> SimulationResult:
    """What staff do inside EMIS itself, at a PCN, in one transaction (all or
    nothing): book `count` distinct patients of the member practices into
    distinct free future slots (the booking organisation is each patient's own
    practice unless `booking_org` is given), then cancel `cancel` and move `move`
    of the future booked appointments that were there before (soonest first).
    A move goes to a free future slot the booking organisation may book,
    preferably in another session, so both sessions' counts change."""
    if pcn.kind != OrganisationKind.PCN:
        raise SimulationError(f"{pcn.ods_code} is not a PCN in the sandbox.")
    if min(count, cancel, move) < 0:
        raise SimulationError(
            "The numbers of bookings, cancellations and moves cannot be negative."
        )
    if count + cancel + move < 1:
        raise SimulationError("Ask for at least one booking, cancellation or move.")
    now = now or timezone.now()
    with transaction.atomic():
        existing = list(
            Appointment.objects.filter(
                organisation=pcn, status=AppointmentStatus.BOOKED, start__gt=now
            )
            .order_by("start", "id")
            .values_list("pk", flat=True)
        )
        if cancel + move > len(existing):
            raise SimulationError(
                f"{pcn.ods_code} has only {len(existing)} future booked appointments; "
                f"{cancel} cancellations and {move} moves were asked for. Nothing was changed."
            )
        booked = _book(pcn=pcn, count=count, booking_org=booking_org, now=now) if count else []
        cancelled = [_cancel(pcn=pcn, pk=pk, now=now) for pk in existing[:cancel]]
        taken: set[int] = set()
        moved = [
            _move(pcn=pcn, pk=pk, now=now, taken=taken) for pk in existing[cancel : cancel + move]
        ]
    return SimulationResult(booked=booked, cancelled=cancelled, moved=moved)
