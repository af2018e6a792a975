"""Writes for booking. Each service checks who may do it, runs in a transaction and
writes the audit entry. Patient data never goes into the audit log or the logs:
records are named by id.

Sections:
* Patient imports: preview an uploaded CSV file, then confirm (import) or discard it.
* Campaigns: create, change, add patients.
* The slot mirror: refresh from EMIS.
* Booking: book, cancel, move (rebook), with no double-booking.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from emis_integration.client import (
    AppointmentOutcomeUnknown,
    AppointmentRecord,
    BookingOrganisation,
    EmisError,
    EmisRejected,
    EmisUnavailable,
    PatientBooking,
    PatientDetails,
    PatientIdentityMismatch,
    RegistrationRefused,
    SlotRef,
    SlotUnavailable,
    book_patient,
)
from emis_integration.crypto import CredentialsUnreadable
from emis_integration.models import EmisConnection, EmisSystem
from emis_integration.selectors import emis_client, live_connection_for
from emis_integration.services import connection_record_call
from hippo_pcn.audit.services import audit_record, system_actor
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.outbox.services import outbox_enqueue
from tracing.services import tracing_task_open_for_booking

from .csv_import import PatientFileError, parse_patient_csv
from .invites import booking_message_patient
from .models import (
    ACTIVE_BOOKING_STATUSES,
    UNSETTLED_BOOKING_STATUSES,
    BookedVia,
    Booking,
    BookingStatus,
    Campaign,
    CampaignPatient,
    CampaignStatus,
    Patient,
    PatientImport,
    PatientImportStatus,
    Slot,
)
from .selectors import (
    bookings_to_settle,
    campaign_filter_description,
    campaign_live_sources,
    campaign_offerable_slots,
    campaign_window,
    nearest_free_slots,
    patient_details_by_nhs_number,
    practices_for_patient_management,
)

logger = logging.getLogger(__name__)

# --- Patient imports ----------------------------------------------------------------------

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000
# Rows with errors kept for the preview and result pages; the count is always exact.
MAX_STORED_ERRORS = 1_000
UPSERT_BATCH_SIZE = 2_000

CHANGE_NEW = "new"
CHANGE_UPDATE = "update"
CHANGE_UNCHANGED = "unchanged"
_ALWAYS_COMPARED = ("first_name", "last_name", "date_of_birth")


class PatientImportNotPending(ValidationError):
    """The import was already confirmed or cancelled."""


def patient_import_max_bytes() -> int:
    return int(getattr(settings, "PATIENT_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def human_file_size(size: int) -> str:
    """20971520 -> '20 MB'; 3277 -> '3.2 KB'; 900 -> '900 bytes'."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            amount = size / factor
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size} bytes"


def file_too_large_message(*, size: int | None = None) -> str:
    limit = human_file_size(patient_import_max_bytes())
    if size:
        return (
            f"The selected file is {human_file_size(size)}: it must be smaller than {limit}. "
            "Split it into smaller files and upload them one at a time."
        )
    return (
        f"The selected file must be smaller than {limit}. Split it into smaller files and "
        "upload them one at a time."
    )


def _ensure_may_manage_patients(*, practice: Organisation, user: AbstractBaseUser) -> None:
    if not practices_for_patient_management(user=user).filter(pk=practice.pk).exists():
        raise PermissionDenied("You cannot manage this practice's patients.")


def _compared_fields(optional_columns: list[str]) -> tuple[str, ...]:
    """What decides "changed": the required columns, and the optional ones the file has."""
    return _ALWAYS_COMPARED + tuple(c for c in ("mobile", "email") if c in optional_columns)


def _classify(
    *, practice: Organisation, rows: list[dict[str, Any]], optional_columns: list[str]
) -> dict[str, int]:
    """Label each row new / update / unchanged against the stored patients (in
    place, as row["change"]) and count them."""
    existing = patient_details_by_nhs_number(
        practice=practice, nhs_numbers=(row["nhs_number"] for row in rows)
    )
    fields = _compared_fields(optional_columns)
    counts = {CHANGE_NEW: 0, CHANGE_UPDATE: 0, CHANGE_UNCHANGED: 0}
    for row in rows:
        stored = existing.get(row["nhs_number"])
        if stored is None:
            change = CHANGE_NEW
        elif any(stored[name] != row[name] for name in fields):
            change = CHANGE_UPDATE
        else:
            change = CHANGE_UNCHANGED
        row["change"] = change
        counts[change] += 1
    return counts


def _file_name(uploaded_file: UploadedFile) -> str:
    name = os.path.basename((uploaded_file.name or "").replace("\\", "/")).strip()
    return (name or "upload.csv")[:255]


def patient_import_preview(
    *, practice: Organisation, uploaded_file: UploadedFile, user: AbstractBaseUser
) -> PatientImport:
    """Read and check an uploaded patient CSV file and keep the result for the user
    to confirm. No patient is written here.

    The size is checked (from `uploaded_file.size`) before a byte is read. Raises
    `PatientFileError` for a problem with the whole file (too big, empty, not a CSV,
    wrong headings...); row problems are kept on the import, row by row."""
    _ensure_may_manage_patients(practice=practice, user=user)
    max_bytes = patient_import_max_bytes()
    size = uploaded_file.size
    if size is None or size > max_bytes:
        raise PatientFileError(file_too_large_message(size=size))
    if size == 0:
        raise PatientFileError("The selected file is empty.")
    uploaded_file.seek(0)
    data = uploaded_file.read(max_bytes + 1)
    if len(data) > max_bytes:  # the reported size was wrong
        raise PatientFileError(file_too_large_message())

    parsed = parse_patient_csv(
        data,
        today=timezone.localdate(),
        max_rows=int(getattr(settings, "PATIENT_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS)),
    )
    counts = _classify(
        practice=practice, rows=parsed.rows, optional_columns=parsed.optional_columns
    )
    patient_import = PatientImport.objects.create(
        practice=practice,
        status=PatientImportStatus.PREVIEWED,
        file_name=_file_name(uploaded_file),
        file_size=size,
        encoding=parsed.encoding,
        optional_columns=parsed.optional_columns,
        ignored_columns=parsed.ignored_columns,
        row_count=parsed.row_count,
        valid_count=len(parsed.rows),
        new_count=counts[CHANGE_NEW],
        update_count=counts[CHANGE_UPDATE],
        unchanged_count=counts[CHANGE_UNCHANGED],
        error_count=len(parsed.errors),
        rows=parsed.rows,
        errors=[error.as_dict() for error in parsed.errors[:MAX_STORED_ERRORS]],
        uploaded_by=user,  # type: ignore[misc]  # the project's user model
    )
    logger.info(
        "Patient import %s previewed for practice %s: %s rows, %s valid, %s with errors",
        patient_import.pk,
        practice.pk,
        parsed.row_count,
        len(parsed.rows),
        len(parsed.errors),
    )
    return patient_import


def _not_pending(patient_import_id: int) -> PatientImportNotPending:
    status = PatientImport.objects.values_list("status", flat=True).get(pk=patient_import_id)
    if status == PatientImportStatus.IMPORTED:
        message = "This file has already been imported."
    else:
        message = "This import was cancelled, so it cannot be imported. Upload the file again."
    return PatientImportNotPending(message, code=status)


@transaction.atomic
def patient_import_confirm(
    *, patient_import: PatientImport, user: AbstractBaseUser
) -> PatientImport:
    """Import the valid rows of a previewed file: new NHS numbers become patients,
    known ones are updated (never duplicated). Only once per import: a second
    confirmation (a double click, two tabs, two colleagues) raises
    `PatientImportNotPending` and writes nothing.

    Columns the file did not have (mobile, email) are left as they are on existing
    patients; a blank cell in a column the file has clears the stored value (the
    practice's list is the source of truth). Whether a patient opted out of
    messages is never changed by an import."""
    practice = patient_import.practice
    _ensure_may_manage_patients(practice=practice, user=user)
    now = timezone.now()
    # Compare-and-swap on the status: a concurrent confirmation waits for this
    # transaction's row lock, then finds the status changed and updates nothing.
    claimed = PatientImport.objects.filter(
        pk=patient_import.pk, status=PatientImportStatus.PREVIEWED
    ).update(status=PatientImportStatus.IMPORTED, imported_by=user, imported_at=now)
    if claimed != 1:
        raise _not_pending(patient_import.pk)

    rows, optional_columns = PatientImport.objects.values_list("rows", "optional_columns").get(
        pk=patient_import.pk
    )
    counts = _classify(practice=practice, rows=rows, optional_columns=optional_columns)
    changed = [
        Patient(
            practice=practice,
            nhs_number=row["nhs_number"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            date_of_birth=date.fromisoformat(row["date_of_birth"]),
            mobile=row.get("mobile", ""),
            email=row.get("email", ""),
        )
        for row in rows
        if row["change"] != CHANGE_UNCHANGED
    ]
    update_fields = [*_compared_fields(optional_columns), "updated_at"]
    Patient.objects.bulk_create(
        changed,
        batch_size=UPSERT_BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["practice", "nhs_number"],
        update_fields=update_fields,
    )
    PatientImport.objects.filter(pk=patient_import.pk).update(
        new_count=counts[CHANGE_NEW],
        update_count=counts[CHANGE_UPDATE],
        unchanged_count=counts[CHANGE_UNCHANGED],
        rows=[],  # the patients now hold this data; keep no second copy
    )
    patient_import.refresh_from_db()
    audit_record(
        actor=user,
        action="patient_import.confirmed",
        target=patient_import,
        organisation=practice,
        details={
            "file_name": patient_import.file_name,
            "rows": patient_import.row_count,
            "new": counts[CHANGE_NEW],
            "updated": counts[CHANGE_UPDATE],
            "unchanged": counts[CHANGE_UNCHANGED],
            "errors": patient_import.error_count,
        },
    )
    logger.info(
        "Patient import %s confirmed for practice %s: %s new, %s updated, %s unchanged",
        patient_import.pk,
        practice.pk,
        counts[CHANGE_NEW],
        counts[CHANGE_UPDATE],
        counts[CHANGE_UNCHANGED],
    )
    return patient_import


@transaction.atomic
def patient_import_discard(
    *, patient_import: PatientImport, user: AbstractBaseUser
) -> PatientImport:
    """Cancel a previewed import: nothing is imported and the stored rows and
    errors are deleted."""
    practice = patient_import.practice
    _ensure_may_manage_patients(practice=practice, user=user)
    claimed = PatientImport.objects.filter(
        pk=patient_import.pk, status=PatientImportStatus.PREVIEWED
    ).update(
        status=PatientImportStatus.DISCARDED,
        discarded_by=user,
        discarded_at=timezone.now(),
        rows=[],
        errors=[],
    )
    if claimed != 1:
        raise _not_pending(patient_import.pk)
    patient_import.refresh_from_db()
    audit_record(
        actor=user,
        action="patient_import.discarded",
        target=patient_import,
        organisation=practice,
        details={"file_name": patient_import.file_name, "rows": patient_import.row_count},
    )
    return patient_import


# --- Campaigns ----------------------------------------------------------------------------

MAX_CAMPAIGN_DAYS = 366


def _campaign_validate_window(start_date: date, end_date: date) -> None:
    if end_date < start_date:
        raise ValidationError({"end_date": "The last day must be on or after the first day."})
    if (end_date - start_date).days > MAX_CAMPAIGN_DAYS:
        raise ValidationError(
            {"end_date": f"A campaign can run for at most {MAX_CAMPAIGN_DAYS} days."}
        )


NO_SLOT_TYPES_MESSAGE = (
    "Choose at least one slot type before making the campaign active: without one it "
    "offers no slots."
)
SLOT_FILTER_FIELDS = ("slot_service_types", "delivery_channels", "slot_sites", "slot_clinicians")


def _clean_slot_filter(values: Iterable[str] | None) -> list[str]:
    """A filter list as stored: stripped, without blanks or repeats, in order."""
    return list(dict.fromkeys(v.strip() for v in values or [] if v and v.strip()))


def _campaign_validate_slot_filter(campaign: Campaign) -> None:
    if campaign.is_active and not campaign.slot_service_types:
        raise ValidationError({"slot_service_types": NO_SLOT_TYPES_MESSAGE})


def campaign_slots_refresh_queue(*, campaign: Campaign) -> None:
    """Refresh an active campaign's slots after the commit, through the outbox (at
    most one refresh waiting per campaign): a broker outage delays it, never loses
    it, and never reaches the user."""
    if campaign.is_active:
        outbox_enqueue(
            task="booking.tasks.refresh_campaign_slots",
            args=[campaign.pk],
            dedupe_key=f"refresh-campaign-slots:{campaign.pk}",
        )


def pcn_campaigns_slots_refresh_queue(*, pcn: Any) -> None:
    """A PCN has just gone live: refresh the slots of every active campaign of its
    member practices that offers PCN slots now, rather than at the next beat round."""
    campaigns = Campaign.objects.filter(
        practice__pcn=pcn, status=CampaignStatus.ACTIVE, use_pcn_slots=True
    ).order_by("pk")
    for campaign in campaigns:
        campaign_slots_refresh_queue(campaign=campaign)


@transaction.atomic
def campaign_create(
    *,
    user: Any,
    practice: Organisation,
    name: str,
    appointment_type: str,
    start_date: date,
    end_date: date,
    use_pcn_slots: bool = True,
    status: str = CampaignStatus.DRAFT,
    slot_service_types: Iterable[str] = (),
    delivery_channels: Iterable[str] = (),
    slot_sites: Iterable[str] = (),
    slot_clinicians: Iterable[str] = (),
    **invite_settings: Any,
) -> Campaign:
    unknown = set(invite_settings) - INVITE_SETTINGS
    if unknown:
        raise ValueError(f"Unknown campaign settings: {', '.join(sorted(unknown))}.")
    _ensure_may_manage_patients(practice=practice, user=user)
    _campaign_validate_window(start_date, end_date)
    campaign = Campaign(
        practice=practice,
        name=name.strip(),
        appointment_type=appointment_type.strip(),
        start_date=start_date,
        end_date=end_date,
        use_pcn_slots=use_pcn_slots,
        status=status,
        slot_service_types=_clean_slot_filter(slot_service_types),
        delivery_channels=_clean_slot_filter(delivery_channels),
        slot_sites=_clean_slot_filter(slot_sites),
        slot_clinicians=_clean_slot_filter(slot_clinicians),
        created_by=user,
        **invite_settings,
    )
    _campaign_validate_slot_filter(campaign)
    campaign.full_clean()
    campaign.save()
    audit_record(
        actor=user,
        action="campaign.created",
        target=campaign,
        organisation=practice,
        details={
            "name": campaign.name,
            "status": status,
            "use_pcn_slots": use_pcn_slots,
            **{key: getattr(campaign, key) for key in SLOT_FILTER_FIELDS},
        },
    )
    campaign_slots_refresh_queue(campaign=campaign)
    return campaign


CAMPAIGN_FIELDS = frozenset(
    {
        "name",
        "appointment_type",
        "start_date",
        "end_date",
        "use_pcn_slots",
        "status",
        *SLOT_FILTER_FIELDS,
        "invite_channel",
        "invites_per_free_slot",
        "daily_invite_cap",
        "sending_from",
        "sending_until",
        "chaser_count",
        "chaser_interval_days",
        "invite_expiry_days",
        "message_patients_on_staff_changes",
    }
)
INVITE_SETTINGS = CAMPAIGN_FIELDS - {
    "name",
    "appointment_type",
    "start_date",
    "end_date",
    "use_pcn_slots",
    "status",
    *SLOT_FILTER_FIELDS,
}


@transaction.atomic
def campaign_update(*, user: Any, campaign: Campaign, **fields: Any) -> Campaign:
    unknown = set(fields) - CAMPAIGN_FIELDS
    if unknown:
        raise ValueError(f"Cannot update {', '.join(sorted(unknown))} on a campaign.")
    _ensure_may_manage_patients(practice=campaign.practice, user=user)
    before = {key: getattr(campaign, key) for key in fields}
    for key, value in fields.items():
        if key in SLOT_FILTER_FIELDS:
            value = _clean_slot_filter(value)
        setattr(campaign, key, value.strip() if isinstance(value, str) else value)
    _campaign_validate_window(campaign.start_date, campaign.end_date)
    _campaign_validate_slot_filter(campaign)
    campaign.full_clean()
    campaign.save()
    changes = {
        key: [before[key], getattr(campaign, key)]
        for key in fields
        if before[key] != getattr(campaign, key)
    }
    if changes:
        audit_record(
            actor=user,
            action="campaign.updated",
            target=campaign,
            organisation=campaign.practice,
            details={"changes": changes},
        )
    campaign_slots_refresh_queue(campaign=campaign)
    return campaign


@transaction.atomic
def campaign_add_patients(*, user: Any, campaign: Campaign, patients: Iterable[Patient]) -> int:
    """Add patients of the campaign's practice; returns how many were new."""
    _ensure_may_manage_patients(practice=campaign.practice, user=user)
    ids = {p.pk for p in patients if p.practice_id == campaign.practice_id}
    existing = set(
        CampaignPatient.objects.filter(campaign=campaign, patient_id__in=ids).values_list(
            "patient_id", flat=True
        )
    )
    new = [CampaignPatient(campaign=campaign, patient_id=pid) for pid in sorted(ids - existing)]
    CampaignPatient.objects.bulk_create(new, batch_size=UPSERT_BATCH_SIZE, ignore_conflicts=True)
    if new:
        audit_record(
            actor=user,
            action="campaign.patients_added",
            target=campaign,
            organisation=campaign.practice,
            details={"added": len(new)},
        )
    return len(new)


# --- The slot mirror ----------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    connection_id: int
    source: str
    seen: int
    removed: int
    error: str = ""


def slots_refresh(
    *, connection: EmisConnection, viewer: Organisation, start: datetime, end: datetime
) -> RefreshResult:
    """Mirror EMIS's free slots as `viewer` sees them in [start, end): add and
    update what EMIS returns, delete what it no longer returns (taken, withdrawn).
    The EMIS call happens outside any database transaction."""
    source = "PCN" if connection.system == EmisSystem.EMIS_COMMUNITY else "Practice"
    if end <= start:
        return RefreshResult(connection.pk, source, 0, 0)
    try:
        with emis_client(
            connection=connection, requesting_organisation=viewer, purpose="slot-refresh"
        ) as client:
            free = client.search_free_slots(start, end)
    except (EmisError, CredentialsUnreadable) as exc:
        if isinstance(exc, EmisError):
            connection_record_call(connection=connection, error=exc)
        logger.warning("Slot refresh of connection %s failed: %s", connection.pk, exc)
        return RefreshResult(connection.pk, source, 0, 0, error=str(exc))
    connection_record_call(connection=connection)
    now = timezone.now()
    rows = [
        Slot(
            connection=connection,
            viewer=viewer,
            emis_slot_id=s.slot_id,
            start=s.start,
            end=s.end,
            is_pcn=source == "PCN",
            site_name=s.site_name[:200],
            site_address=s.site_address[:300],
            practitioner=s.practitioner[:200],
            service_type=s.service_type[:200],
            delivery_channel=s.delivery_channel[:40],
            location_id=s.location_id[:64],
            practitioner_id=s.practitioner_id[:64],
            refreshed_at=now,
        )
        for s in free
    ]
    with transaction.atomic():
        Slot.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["connection", "viewer", "emis_slot_id"],
            update_fields=[
                "start",
                "end",
                "site_name",
                "site_address",
                "practitioner",
                "service_type",
                "delivery_channel",
                "location_id",
                "practitioner_id",
                "refreshed_at",
            ],
        )
        removed, _ = (
            Slot.objects.filter(
                connection=connection, viewer=viewer, start__gte=start, start__lt=end
            )
            .exclude(emis_slot_id__in=[s.slot_id for s in free])
            .delete()
        )
    return RefreshResult(connection.pk, source, len(rows), removed)


def campaign_refresh_slots(*, campaign: Campaign) -> list[RefreshResult]:
    start, end = campaign_window(campaign)
    return [
        slots_refresh(connection=connection, viewer=campaign.practice, start=start, end=end)
        for connection in campaign_live_sources(campaign=campaign)
    ]


PRACTICE_SLOT_LOOKAHEAD = timedelta(days=28)


def practice_refresh_slots(*, practice: Organisation) -> list[RefreshResult]:
    """Mirror the free slots of the practice's own EMIS and its PCN's (when live) for
    the next four weeks: what campaign setup needs to offer the slot types, channels,
    sites and clinicians there are, before any campaign has refreshed."""
    start = timezone.now()
    sources = [live_connection_for(organisation=practice)]
    if practice.pcn is not None:
        sources.append(live_connection_for(organisation=practice.pcn))
    return [
        slots_refresh(
            connection=connection,
            viewer=practice,
            start=start,
            end=start + PRACTICE_SLOT_LOOKAHEAD,
        )
        for connection in sources
        if connection is not None
    ]


# --- Booking ------------------------------------------------------------------------------


class BookingError(Exception):
    """A booking change that did not happen, in words for the person booking."""

    def __init__(self, message: str, *, alternatives: list[Slot] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.alternatives = alternatives or []


class SlotTaken(BookingError):
    """Somebody else has the slot: offered with the nearest free ones."""


class BookingOutcomeUnknown(BookingError):
    """EMIS may have made the appointment and could not be asked whether it did:
    the booking keeps its slot (OUTCOME_UNKNOWN) until booking_settle settles it."""


EMIS_DOWN_MESSAGE = "EMIS did not answer; nothing was booked. Please try again."
OUTCOME_UNKNOWN_MESSAGE = (
    "We could not confirm with EMIS whether the appointment was made. We are checking and "
    "will settle it within a few minutes; please don't book again."
)
ACTIVE_BOOKING = ACTIVE_BOOKING_STATUSES


def _actor(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else system_actor("self-book")


def _patient_details(patient: Patient) -> PatientDetails:
    return PatientDetails(
        nhs_number=patient.nhs_number,
        family_name=patient.last_name,
        given_name=patient.first_name,
        birth_date=patient.date_of_birth,
        registered_practice_ods=patient.practice.ods_code,
        registered_practice_name=patient.practice.name,
    )


def _check_bookable(
    *, campaign: Campaign, patient: Patient, slot: Slot, pcn_consent: bool, via: str
) -> None:
    if not campaign.is_active:
        raise BookingError("This campaign is not active, so nothing can be booked in it.")
    practice = campaign.practice
    if not practice.phone.strip():
        raise BookingError(
            f"{practice.name} has no phone number: add it in the admin (Organisations → "
            f"{practice.name}). GP Connect sends it with every booking."
        )
    if (
        patient.practice_id != campaign.practice_id
        or not CampaignPatient.objects.filter(campaign=campaign, patient=patient).exists()
    ):
        raise BookingError("This patient is not on the campaign's list.")
    if slot.viewer_id != campaign.practice_id:
        raise BookingError("That slot is not one this practice can book.")
    if slot.start <= timezone.now():
        raise BookingError("That time has already passed. Choose a later one.")
    if not slot.location_id:
        raise BookingError(
            "This slot's details are out of date (no EMIS location): refresh the slots and "
            "try again."
        )
    window_start, window_end = campaign_window(campaign)
    if not (window_start <= slot.start < window_end):
        raise BookingError("That time is outside the campaign's dates.")
    if slot.connection_id not in {c.pk for c in campaign_live_sources(campaign=campaign)}:
        if slot.is_pcn:
            raise BookingError(
                "PCN slots cannot be booked now: the PCN's EMIS Community connection is not live."
            )
        raise BookingError("The practice's EMIS connection is not live, so nothing can be booked.")
    if not campaign_offerable_slots(campaign=campaign).filter(pk=slot.pk).exists():
        raise BookingError(
            f"That slot ({slot.service_type or 'no slot type'}, "
            f"{slot.delivery_channel or 'no channel'}) is not one this campaign offers: it "
            f"offers {campaign_filter_description(campaign=campaign)}."
        )
    if slot.is_pcn and not pcn_consent:
        if via == BookedVia.STAFF:
            raise BookingError(
                "Confirm that the patient agrees to be seen by the PCN and to their record being "
                "shared with it."
            )
        raise BookingError(
            "Tick the box to confirm you agree to be seen at this site and to the PCN's staff "
            "seeing your GP record for this appointment."
        )


def _settle_stale_reservations(*, connection_id: int, emis_slot_id: str) -> None:
    """Before reserving a slot: settle what a dead process (or a lost EMIS answer)
    left holding it, through booking_settle, never by guessing. One that EMIS
    cannot be asked about keeps the slot."""
    for unsettled in bookings_to_settle(now=timezone.now()).filter(
        connection_id=connection_id, emis_slot_id=emis_slot_id
    ):
        try:
            booking_settle(booking=unsettled)
        except (EmisError, CredentialsUnreadable) as exc:
            logger.warning("Booking %s not settled yet: %s", unsettled.pk, exc)


def _slot_taken(campaign: Campaign, slot: Slot) -> SlotTaken:
    return SlotTaken(
        "This slot was just taken. Here are the nearest free ones.",
        alternatives=nearest_free_slots(
            campaign=campaign, around=slot.start, exclude_ids={slot.pk}, limit=3
        ),
    )


def _reserve(
    *,
    campaign: Campaign,
    patient: Patient,
    slot: Slot,
    booked_by: Any,
    via: str,
    pcn_consent: bool,
    replacing: Booking | None,
) -> Booking | None:
    """Lock the slot row and hold it with a pending Booking (None = taken)."""
    with transaction.atomic():
        locked = Slot.objects.select_for_update().filter(pk=slot.pk).first()
        if locked is None:
            return None
        if Booking.objects.filter(
            connection_id=locked.connection_id,
            emis_slot_id=locked.emis_slot_id,
            status__in=ACTIVE_BOOKING,
        ).exists():
            return None
        # Serialise bookings of one patient in one campaign; a patient removed from
        # the campaign since the checks (booking.cohorts) holds no row to lock.
        if (
            CampaignPatient.objects.select_for_update()
            .filter(campaign=campaign, patient=patient)
            .first()
        ) is None:
            raise BookingError("This patient is not on the campaign's list.")
        others = Booking.objects.filter(
            campaign=campaign, patient=patient, status__in=ACTIVE_BOOKING
        )
        if replacing is not None:
            others = others.exclude(pk=replacing.pk)
        if others.exists():
            raise BookingError(
                "This patient already has a booking in this campaign (or one is being made)."
            )
        if replacing is not None and not Booking.objects.filter(
            pk=replacing.pk, status=BookingStatus.BOOKED
        ).update(status=BookingStatus.CANCELLING):
            raise BookingError("That booking has changed meanwhile. Reload the page and try again.")
        now = timezone.now()
        is_staff = via == BookedVia.STAFF and getattr(booked_by, "is_authenticated", False)
        try:
            with transaction.atomic():
                pending = Booking.objects.create(
                    campaign=campaign,
                    patient=patient,
                    practice=campaign.practice,
                    connection_id=locked.connection_id,
                    is_pcn=locked.is_pcn,
                    emis_slot_id=locked.emis_slot_id,
                    start=locked.start,
                    end=locked.end,
                    site_name=locked.site_name,
                    site_address=locked.site_address,
                    practitioner=locked.practitioner,
                    service_type=locked.service_type,
                    status=BookingStatus.PENDING,
                    booked_via=via,
                    booked_by=booked_by if is_staff else None,
                    # Self-booked: the patient ticked it themselves (no user: the
                    # audit entry says "patient").
                    pcn_consent=bool(locked.is_pcn and pcn_consent),
                    pcn_consent_by=booked_by if (locked.is_pcn and is_staff) else None,
                    pcn_consent_at=now if (locked.is_pcn and pcn_consent) else None,
                )
        except IntegrityError:
            return None
        if replacing is not None:
            Booking.objects.filter(pk=replacing.pk).update(replaced_by=pending)
        return pending


def booking_create(
    *,
    campaign: Campaign,
    patient: Patient,
    slot: Slot,
    booked_by: Any = None,
    via: str = BookedVia.STAFF,
    pcn_consent: bool = False,
    replacing: Booking | None = None,
) -> Booking:
    """Book in EMIS, then record it. Three layers keep a slot from being booked
    twice: the slot row is locked while a pending booking reserves it, a partial
    unique constraint allows one active booking per slot (and per patient per
    campaign), and EMIS's 409 DUPLICATE_REJECTED becomes "this slot was just
    taken" with the nearest free slots. No database transaction is held open
    while EMIS is called. The EMIS steps are GP Connect's (book_patient): find
    the patient there, register them temporarily when it does not know them
    (for a PCN slot, that traces them: the task is closed as registered), book."""
    _check_bookable(campaign=campaign, patient=patient, slot=slot, pcn_consent=pcn_consent, via=via)
    _settle_stale_reservations(connection_id=slot.connection_id, emis_slot_id=slot.emis_slot_id)
    pending = _reserve(
        campaign=campaign,
        patient=patient,
        slot=slot,
        booked_by=booked_by,
        via=via,
        pcn_consent=pcn_consent,
        replacing=replacing,
    )
    if pending is None:
        raise _slot_taken(campaign, slot)
    connection = pending.connection
    practice = campaign.practice
    booked: PatientBooking | None = None
    failure: EmisError | CredentialsUnreadable | None = None
    unknown: AppointmentOutcomeUnknown | None = None
    try:
        with emis_client(
            connection=connection,
            requesting_organisation=practice,
            user=booked_by if getattr(booked_by, "is_authenticated", False) else None,
            purpose="self-book",
        ) as client:
            booked = book_patient(
                client,
                slot=SlotRef(
                    pending.emis_slot_id,
                    pending.start,
                    pending.end,
                    location_id=slot.location_id,
                    practitioner_id=slot.practitioner_id,
                ),
                patient=_patient_details(patient),
                booking_organisation=BookingOrganisation(
                    ods_code=practice.ods_code, name=practice.name, phone=practice.phone.strip()
                ),
                description=campaign.appointment_type,
                comment=f"Booked through hippo-pcn for the campaign “{campaign.name}”.",
            )
    except AppointmentOutcomeUnknown as exc:
        unknown = exc
    except (EmisError, CredentialsUnreadable) as exc:
        failure = exc
    if unknown is not None:
        return _booking_outcome_unknown(booking=pending, error=unknown, actor=_actor(booked_by))
    appointment = booked.appointment if booked is not None else None

    if appointment is None:
        with transaction.atomic():
            _release(booking=pending)
            if isinstance(failure, SlotUnavailable):
                Slot.objects.filter(pk=slot.pk).delete()  # EMIS says it is taken: drop it now
        if isinstance(failure, EmisError):
            connection_record_call(connection=connection, error=failure)
        if isinstance(failure, SlotUnavailable):
            raise _slot_taken(campaign, slot) from failure
        if isinstance(failure, EmisUnavailable):
            raise BookingError(EMIS_DOWN_MESSAGE) from failure
        if isinstance(failure, PatientIdentityMismatch):
            where = "The PCN's EMIS" if pending.is_pcn else "The practice's EMIS"
            raise BookingError(
                f"{where} holds a different date of birth for this NHS number, so it may be "
                "another person and nothing was booked. Check the patient's NHS number and "
                "date of birth."
            ) from failure
        if isinstance(failure, RegistrationRefused):
            where = "The PCN's EMIS" if pending.is_pcn else "The practice's EMIS"
            raise BookingError(
                f"{where} would not register the patient, so nothing was booked. It said: "
                f"{failure.diagnostics or failure.message}"
            ) from failure
        message = failure.message if isinstance(failure, EmisError) else str(failure)
        raise BookingError(f"EMIS refused the booking: {message}") from failure

    assert booked is not None
    with transaction.atomic():
        _link(
            booking=pending,
            appointment=appointment,
            actor=_actor(booked_by),
            registered_patient_id=booked.patient_id if booked.registered else "",
            replacing=replacing,
        )
    connection_record_call(connection=connection)
    return pending


def _booking_outcome_unknown(
    *, booking: Booking, error: AppointmentOutcomeUnknown, actor: Any
) -> Booking:
    """The booking POST failed after it may have reached EMIS: keep the slot
    reserved (OUTCOME_UNKNOWN, audited), then ask EMIS at once. Booked → the
    linked booking; none → "nothing was booked" (now known); EMIS cannot be
    asked → BookingOutcomeUnknown, the reconciler settles it later."""
    connection_record_call(connection=booking.connection, error=error)
    with transaction.atomic():
        Booking.objects.filter(pk=booking.pk, status=BookingStatus.PENDING).update(
            status=BookingStatus.OUTCOME_UNKNOWN
        )
        booking.status = BookingStatus.OUTCOME_UNKNOWN
        audit_record(
            actor=actor,
            action="booking.outcome_unknown",
            target=booking,
            organisation=booking.practice,
            details={
                "emis_slot_id": booking.emis_slot_id,
                "status_code": error.status_code,
                "error": error.spine_code or error.message[:200],
            },
        )
    logger.warning(
        "Booking %s: EMIS may have booked slot %s but did not answer (%s); checking",
        booking.pk,
        booking.emis_slot_id,
        error.status_code or error.spine_code,
    )
    try:
        outcome = booking_settle(
            booking=booking,
            actor=actor,
            patient_id=error.patient_id,
            registered=error.registered,
        )
    except (EmisError, CredentialsUnreadable) as exc:
        raise BookingOutcomeUnknown(OUTCOME_UNKNOWN_MESSAGE) from exc
    if outcome == SETTLED_BOOKED:
        return booking
    if outcome == ALREADY_SETTLED:  # settled meanwhile by the reconciler
        linked = Booking.objects.filter(pk=booking.pk, status=BookingStatus.BOOKED).first()
        if linked is not None:
            return linked
    raise BookingError(EMIS_DOWN_MESSAGE) from error


def _link(
    *,
    booking: Booking,
    appointment: AppointmentRecord,
    actor: Any,
    registered_patient_id: str = "",
    replacing: Booking | None = None,
) -> None:
    """Record the EMIS appointment a reserved booking made: booked, its EMIS ids,
    for a PCN slot its tracing task, the slot gone from the free list, audited.
    Runs inside the caller's transaction."""
    practice = booking.practice
    if not appointment.registered_practice_ods:
        # The provider did not say where the patient is registered: the booking
        # practice books its own patients.
        appointment = replace(
            appointment,
            registered_practice_ods=practice.ods_code,
            registered_practice_name=practice.name,
        )
    booking.status = BookingStatus.BOOKED
    booking.emis_appointment_id = appointment.appointment_id
    booking.emis_version = appointment.version
    if booking.is_pcn:
        booking.tracing_task = tracing_task_open_for_booking(
            connection=booking.connection,
            appointment=appointment,
            actor=actor,
            registered_patient_id=registered_patient_id,
        )
    booking.save(update_fields=["status", "emis_appointment_id", "emis_version", "tracing_task"])
    Slot.objects.filter(
        connection_id=booking.connection_id, emis_slot_id=booking.emis_slot_id
    ).delete()
    audit_record(
        actor=actor,
        action="booking.created",
        target=booking,
        organisation=practice,
        details={
            "campaign_id": booking.campaign_id,
            "patient_id": booking.patient_id,
            "source": "pcn" if booking.is_pcn else "practice",
            "emis_appointment_id": booking.emis_appointment_id,
            "start": booking.start,
            "via": booking.booked_via,
            "pcn_consent": booking.pcn_consent,
            "pcn_consent_given_by": _consent_given_by(booking),
            "registered_at_provider": bool(registered_patient_id),
            "replacing": replacing.pk if replacing is not None else None,
        },
    )
    if booking.booked_via == BookedVia.STAFF:
        # Made by staff: tell the patient (a move is a change of time).
        booking_message_patient(
            booking=booking, kind="change" if replacing is not None else "confirmation"
        )


def _consent_given_by(booking: Booking) -> str | None:
    """Who agreed to the PCN seeing the record: "staff" (pcn_consent_by says who)
    or "patient" (self-booked: the patient ticked the box; there is no user)."""
    if not booking.pcn_consent:
        return None
    return "patient" if booking.booked_via == BookedVia.SELF_BOOK else "staff"


def _release(*, booking: Booking) -> None:
    """Give a reservation's slot back: delete it and restore the booking it was
    to replace (a rebook). Runs inside the caller's transaction."""
    replaced = list(
        Booking.objects.filter(replaced_by=booking, status=BookingStatus.CANCELLING).values_list(
            "pk", flat=True
        )
    )
    booking.delete()  # first: the partial unique constraints then allow the restore
    Booking.objects.filter(pk__in=replaced).update(status=BookingStatus.BOOKED, replaced_by=None)


# What booking_settle did:
SETTLED_BOOKED = "booked"  # EMIS has the appointment: the booking is linked to it
SETTLED_RELEASED = "released"  # EMIS has none: the reservation is released
ALREADY_SETTLED = "already settled"  # settled meanwhile (or never unsettled)


def _uk_day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    day = timezone.localtime(moment).date()
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))
    return start, end - timedelta(seconds=1)


def _appointment_in_slot(
    appointments: list[AppointmentRecord], booking: Booking
) -> AppointmentRecord | None:
    for appointment in appointments:
        if appointment.is_cancelled or appointment.status != "booked":
            continue
        if booking.emis_slot_id in appointment.slot_ids or (
            not appointment.slot_ids and appointment.start == booking.start
        ):
            return appointment
    return None


def booking_settle(
    *,
    booking: Booking,
    actor: Any = None,
    patient_id: str = "",
    registered: bool = False,
) -> str:
    """Settle a booking whose outcome in EMIS is not known (OUTCOME_UNKNOWN, or a
    PENDING one a dead process left): ask EMIS for the patient's appointments on
    the slot's day; one booked in the slot → the booking is linked to it
    (booked, tracing task as when booking succeeds); none → the reservation is
    released. Never guesses: when EMIS cannot be asked, EmisError (or
    CredentialsUnreadable) propagates and the booking stays as it was.
    `patient_id`/`registered`: the patient's provider id when already known and
    whether booking registered them there. Returns SETTLED_BOOKED,
    SETTLED_RELEASED or ALREADY_SETTLED; audited as booking.settled."""
    actor = actor if actor is not None else system_actor("reconciler")
    if booking.status not in UNSETTLED_BOOKING_STATUSES:
        return ALREADY_SETTLED
    connection = booking.connection
    try:
        with emis_client(connection=connection, requesting_organisation=booking.practice) as client:
            if not patient_id:
                record = client.find_patient(booking.patient.nhs_number)
                patient_id = record.patient_id if record is not None else ""
            found = None
            if patient_id:
                start, end = _uk_day_bounds(booking.start)
                found = _appointment_in_slot(
                    client.patient_appointments(patient_id, start=start, end=end), booking
                )
    except EmisError as exc:
        connection_record_call(connection=connection, error=exc)
        raise
    with transaction.atomic():
        locked = (
            Booking.objects.select_for_update()
            .filter(pk=booking.pk, status__in=UNSETTLED_BOOKING_STATUSES)
            .first()
        )
        if locked is None:
            return ALREADY_SETTLED
        was = locked.status
        outcome = SETTLED_BOOKED if found is not None else SETTLED_RELEASED
        audit_record(
            actor=actor,
            action="booking.settled",
            target=locked,
            organisation=locked.practice,
            details={
                "outcome": outcome,
                "was": was,
                "emis_appointment_id": found.appointment_id if found is not None else "",
                "emis_slot_id": locked.emis_slot_id,
            },
        )
        if found is not None:
            _link(
                booking=locked,
                appointment=found,
                actor=actor,
                registered_patient_id=patient_id if registered else "",
                replacing=Booking.objects.filter(replaced_by=locked).first(),
            )
        else:
            _release(booking=locked)
    connection_record_call(connection=connection)
    if found is not None:
        booking.refresh_from_db()
    return outcome


def bookings_reconcile(*, limit: int = 50) -> dict[str, int]:
    """The reconciler: settle the unsettled bookings (bookings_to_settle), oldest
    first, at most `limit` a run. One EMIS cannot be asked about is logged,
    counted as "unreachable" and left for the next run."""
    counts: dict[str, int] = {}
    for booking in bookings_to_settle(now=timezone.now())[:limit]:
        try:
            outcome = booking_settle(booking=booking)
        except (EmisError, CredentialsUnreadable) as exc:
            logger.warning("Booking %s not settled yet: %s", booking.pk, exc)
            outcome = "unreachable"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def booking_cancel(
    *, booking: Booking, user: Any, reason: str, via: str = BookedVia.STAFF
) -> Booking:
    """Cancel in EMIS, then record it. When EMIS cannot be reached the booking
    stays as it was (with the error noted) and the user is told."""
    reason = reason.strip()
    if not reason:
        raise BookingError("Give a reason for cancelling.")
    current = Booking.objects.select_related("connection", "practice").get(pk=booking.pk)
    if current.status not in (BookingStatus.BOOKED, BookingStatus.CANCELLING):
        raise BookingError("This booking is not current, so there is nothing to cancel.")
    if current.start <= timezone.now():
        raise BookingError("This appointment has already started, so it cannot be cancelled.")
    failure: EmisError | CredentialsUnreadable | None = None
    try:
        with emis_client(
            connection=current.connection,
            requesting_organisation=current.practice,
            user=user if getattr(user, "is_authenticated", False) else None,
            purpose="self-book",
        ) as client:
            try:
                client.cancel(current.emis_appointment_id, reason)
            except EmisRejected:
                # Already cancelled in EMIS (by someone else)? Then ours is too.
                if client.get_appointment(current.emis_appointment_id).status != "cancelled":
                    raise
    except (EmisError, CredentialsUnreadable) as exc:
        failure = exc
    if failure is not None:
        Booking.objects.filter(pk=current.pk).update(cancel_error=str(failure)[:2000])
        if isinstance(failure, EmisError):
            connection_record_call(connection=current.connection, error=failure)
        if isinstance(failure, EmisUnavailable):
            raise BookingError(
                "EMIS did not answer, so the booking has not been cancelled. Please try again."
            ) from failure
        message = failure.message if isinstance(failure, EmisError) else str(failure)
        raise BookingError(f"EMIS refused the cancellation: {message}") from failure
    with transaction.atomic():
        updated = Booking.objects.filter(
            pk=current.pk, status__in=[BookingStatus.BOOKED, BookingStatus.CANCELLING]
        ).update(
            status=BookingStatus.CANCELLED,
            cancelled_at=timezone.now(),
            cancelled_by=user if getattr(user, "is_authenticated", False) else None,
            cancellation_reason=reason[:300],
            cancel_error="",
        )
        if updated:
            audit_record(
                actor=_actor(user),
                action="booking.cancelled",
                target=current,
                organisation=current.practice,
                details={
                    "reason": reason,
                    "via": via,
                    "emis_appointment_id": current.emis_appointment_id,
                },
            )
            if via == BookedVia.STAFF and current.replaced_by_id is None:
                # Cancelled by staff, not moved (a move's message is the change).
                booking_message_patient(booking=current, kind="cancellation")
    connection_record_call(connection=current.connection)
    booking.refresh_from_db()
    return booking


MOVE_REASON = "Moved to another time through hippo-pcn"


def booking_rebook(
    *,
    booking: Booking,
    slot: Slot,
    user: Any,
    via: str = BookedVia.STAFF,
    pcn_consent: bool = False,
) -> Booking:
    """Move a booking: book the new slot first, and cancel the old appointment
    only after that succeeded (GP Connect has no move). If the new booking fails
    the old one stands untouched; if cancelling the old one fails it stays marked
    "being cancelled in EMIS" with the error, for staff to finish."""
    if booking.status != BookingStatus.BOOKED:
        raise BookingError("Only a current booking can be moved.")
    new = booking_create(
        campaign=booking.campaign,
        patient=booking.patient,
        slot=slot,
        booked_by=user,
        via=via,
        pcn_consent=pcn_consent,
        replacing=booking,
    )
    booking.refresh_from_db()
    try:
        booking_cancel(booking=booking, user=user, reason=MOVE_REASON, via=via)
    except BookingError as exc:
        logger.error(
            "Booking %s was moved to %s but the old appointment is not cancelled yet: %s",
            booking.pk,
            new.pk,
            exc,
        )
    return new
