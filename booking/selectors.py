"""Reads for booking.

Sections:
* Practices: which practices' patients a user may see and manage.
* Patients: the patient list, search, look-ups by NHS number.
* Patient imports: a practice's imports and what their pages show.
* Campaigns, slots and bookings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Max, Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from emis_integration.models import EmisConnection, EmisSystem
from emis_integration.selectors import (
    PcnDiagnosis,
    live_connection_for,
    pcn_connection_diagnosis,
)
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.roles import OrganisationKind
from hippo_pcn.organisations.selectors import (
    UserLike,
    memberships_for_user,
    organisations_for_user,
    user_is_support,
)

from .models import Booking, BookingStatus, Campaign, Patient, PatientImport, Slot
from .patient_data import format_nhs_number, format_uk_mobile

# A reservation older than this was left by a process that died mid-booking.
PENDING_TTL = timedelta(minutes=5)


def bookings_to_settle(*, now: datetime) -> QuerySet[Booking]:
    """Bookings whose outcome in EMIS must be asked for: every OUTCOME_UNKNOWN
    one, and every PENDING one older than PENDING_TTL (a fresher one may still be
    in the hands of the process booking it). Oldest first."""
    return (
        Booking.objects.filter(
            Q(status=BookingStatus.OUTCOME_UNKNOWN)
            | Q(status=BookingStatus.PENDING, booked_at__lt=now - PENDING_TTL)
        )
        .select_related("connection", "practice", "patient")
        .order_by("booked_at", "pk")
    )


PATIENTS_PER_PAGE = 50
# Look existing patients up by NHS number in chunks of this many.
NHS_NUMBER_LOOKUP_CHUNK = 5_000

_NHS_NUMBER_SEARCH = re.compile(r"^[0-9][0-9\s-]*$")


# --- Practices --------------------------------------------------------------------------


def practices_for_patient_management(*, user: UserLike) -> QuerySet[Organisation]:
    """The practices whose patients the user may see and import: their own
    practices (any practice role), or every practice for support. PCN staff do not
    browse member practices' patient lists: what tracing needs travels with the
    booking."""
    practices = organisations_for_user(user=user).filter(kind=OrganisationKind.PRACTICE)
    if not user_is_support(user=user):
        practices = practices.filter(
            pk__in=memberships_for_user(user=user).values("organisation_id")
        )
    return practices.order_by("name")


# --- Patients ---------------------------------------------------------------------------


def patients_for_practice(*, practice: Organisation, search: str = "") -> QuerySet[Patient]:
    """A practice's patients by last name, optionally searched: digits search the
    NHS number (spaces ignored; all 10 digits find one patient), words search
    first and last names (every word must match one of them)."""
    patients = Patient.objects.filter(practice=practice)
    term = search.strip()
    if term and _NHS_NUMBER_SEARCH.match(term):
        digits = re.sub(r"[\s-]", "", term)
        if len(digits) == 10:
            patients = patients.filter(nhs_number=digits)
        else:
            patients = patients.filter(nhs_number__startswith=digits)
    elif term:
        for word in term.split()[:5]:
            patients = patients.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    return patients.order_by("last_name", "first_name", "pk")


def patient_details_by_nhs_number(
    *, practice: Organisation, nhs_numbers: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The stored details of the practice's patients with these NHS numbers,
    keyed by NHS number, in the shape of an import row."""
    wanted = list(dict.fromkeys(nhs_numbers))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), NHS_NUMBER_LOOKUP_CHUNK):
        chunk = wanted[start : start + NHS_NUMBER_LOOKUP_CHUNK]
        for patient in Patient.objects.filter(practice=practice, nhs_number__in=chunk).values(
            "nhs_number", "first_name", "last_name", "date_of_birth", "mobile", "email"
        ):
            found[patient["nhs_number"]] = {
                **patient,
                "date_of_birth": patient["date_of_birth"].isoformat(),
            }
    return found


# --- Patient imports --------------------------------------------------------------------


def patient_imports_for_practice(*, practice: Organisation) -> QuerySet[PatientImport]:
    """A practice's imports, newest first, without the (large) stored rows."""
    return (
        PatientImport.objects.filter(practice=practice)
        .select_related("practice", "uploaded_by", "imported_by", "discarded_by")
        .defer("rows")
        .order_by("-created_at", "-pk")
    )


def patient_import_sample_rows(
    *, patient_import: PatientImport, limit: int = 10
) -> list[dict[str, Any]]:
    """The first valid rows of a previewed import, ready to show. Only those rows
    are read from the database (`rows -> 0`, `rows -> 1`...), not the whole file."""
    picks = {f"row_{i}": KeyTransform(str(i), "rows") for i in range(limit)}
    found = (
        PatientImport.objects.filter(pk=patient_import.pk).annotate(**picks).values(*picks).first()
    )
    rows = [row for row in (found or {}).values() if row]
    return [
        {
            **row,
            "nhs_number_display": format_nhs_number(row["nhs_number"]),
            "date_of_birth": date.fromisoformat(row["date_of_birth"]),
            "mobile_display": format_uk_mobile(row.get("mobile", "")),
        }
        for row in rows
    ]


# --- Campaigns, slots and bookings ---------------------------------------------------------

# The local zone (settings.TIME_ZONE), for the modules and tests that name it;
# local times are otherwise read through django.utils.timezone.
LONDON = timezone.get_default_timezone()


def campaigns_for_user(*, user: UserLike) -> QuerySet[Campaign]:
    """Campaigns of the practices the user works in (every practice for support)."""
    return Campaign.objects.filter(
        practice__in=practices_for_patient_management(user=user)
    ).select_related("practice", "practice__pcn")


def bookings_for_user(*, user: UserLike) -> QuerySet[Booking]:
    return Booking.objects.filter(
        practice__in=practices_for_patient_management(user=user)
    ).select_related(
        "patient",
        "patient__practice",
        "campaign",
        "campaign__practice",
        "connection",
        "tracing_task",
    )


def campaign_window(campaign: Campaign) -> tuple[datetime, datetime]:
    """[start, end) of the campaign's bookable times: its dates in Europe/London,
    and never before now (Campaign.bookable_window, under the name callers use)."""
    return campaign.bookable_window()


def campaign_live_sources(*, campaign: Campaign) -> list[EmisConnection]:
    """The live connections whose slots the campaign offers: the practice's own
    EMIS always; the PCN's EMIS Community when live and the campaign opts in."""
    sources = []
    own = live_connection_for(organisation=campaign.practice)
    if own is not None:
        sources.append(own)
    pcn = campaign.practice.pcn
    if campaign.use_pcn_slots and pcn is not None:
        pcn_live = live_connection_for(organisation=pcn)
        if pcn_live is not None:
            sources.append(pcn_live)
    return sources


DELIVERY_CHANNELS = ("In-person", "Telephone", "Video")


def campaign_offerable_slots(
    *, campaign: Campaign, sources: list[EmisConnection] | None = None
) -> QuerySet[Slot]:
    """The one rule for what a campaign offers: free mirrored slots of its live
    sources (practice and PCN merged, in time order) in its dates whose GP Connect
    service type is one of the campaign's slot types, and whose delivery channel,
    site and clinician are among the campaign's when it names any. A campaign with
    no slot types offers nothing. Staff booking, self-book, the nearest free slots,
    invitation waves and the campaign page's counts all read this."""
    start, end = campaign_window(campaign)
    connections = campaign_live_sources(campaign=campaign) if sources is None else sources
    slots = Slot.objects.filter(
        viewer=campaign.practice,
        connection__in=[c.pk for c in connections],
        start__gte=start,
        start__lt=end,
        service_type__in=list(campaign.slot_service_types or []),
    )
    if campaign.delivery_channels:
        slots = slots.filter(delivery_channel__in=list(campaign.delivery_channels))
    if campaign.slot_sites:
        slots = slots.filter(site_name__in=list(campaign.slot_sites))
    if campaign.slot_clinicians:
        slots = slots.filter(practitioner__in=list(campaign.slot_clinicians))
    return slots.order_by("start", "is_pcn", "id")


def campaign_filter_description(*, campaign: Campaign) -> str:
    """The campaign's slot filter in words: "Flu vaccination (In-person)"."""
    types = ", ".join(campaign.slot_service_types or []) or "none chosen"
    extras = [
        ", ".join(values)
        for values in (campaign.delivery_channels, campaign.slot_sites, campaign.slot_clinicians)
        if values
    ]
    return f"{types} ({'; '.join(extras)})" if extras else types


def campaign_no_match_message(*, campaign: Campaign) -> str:
    """What to say when the campaign offers no slot although its sources have free
    slots in its dates: the filter matches none of them ("" when it does, or when
    there are no slots at all)."""
    if campaign_offerable_slots(campaign=campaign).exists():
        return ""
    if not campaign.slot_service_types:
        return "Choose the slot types this campaign offers: until then it offers no slots."
    start, end = campaign_window(campaign)
    if not Slot.objects.filter(
        viewer=campaign.practice,
        connection__in=[c.pk for c in campaign_live_sources(campaign=campaign)],
        start__gte=start,
        start__lt=end,
    ).exists():
        return ""
    return (
        "No slots match this campaign's slot types: "
        f"{campaign_filter_description(campaign=campaign)}."
    )


@dataclass(frozen=True)
class SlotFilterChoices:
    service_types: list[str]
    delivery_channels: list[str]
    sites: list[str]
    clinicians: list[str]


def slot_filter_choices(
    *, practice: Organisation, campaign: Campaign | None = None
) -> SlotFilterChoices:
    """The slot types, channels, sites and clinicians seen in the slots mirrored for
    the practice (its own EMIS and its PCN's), plus whatever the campaign already
    names: the choices its setup offers."""
    seen = Slot.objects.filter(viewer=practice)

    def distinct(field: str, current: list[str]) -> list[str]:
        values = set(seen.exclude(**{field: ""}).values_list(field, flat=True).distinct())
        return sorted(values | set(current), key=str.casefold)

    return SlotFilterChoices(
        service_types=distinct(
            "service_type", list(campaign.slot_service_types) if campaign else []
        ),
        delivery_channels=list(
            dict.fromkeys(
                [
                    *DELIVERY_CHANNELS,
                    *distinct(
                        "delivery_channel", list(campaign.delivery_channels) if campaign else []
                    ),
                ]
            )
        ),
        sites=distinct("site_name", list(campaign.slot_sites) if campaign else []),
        clinicians=distinct("practitioner", list(campaign.slot_clinicians) if campaign else []),
    )


def nearest_free_slots(
    *, campaign: Campaign, around: datetime, exclude_ids: set[int], limit: int = 3
) -> list[Slot]:
    candidates = campaign_offerable_slots(campaign=campaign).exclude(pk__in=exclude_ids)
    before = list(candidates.filter(start__lt=around).order_by("-start")[:limit])
    after = list(candidates.filter(start__gte=around).order_by("start")[:limit])
    nearest = sorted(before + after, key=lambda s: abs((s.start - around).total_seconds()))
    return sorted(nearest[:limit], key=lambda s: (s.start, s.pk))


@dataclass(frozen=True)
class SourceSummary:
    label: str
    name: str
    connection: EmisConnection
    free_slots: int
    last_refreshed: datetime | None


def campaign_sources(*, campaign: Campaign) -> list[SourceSummary]:
    """Each slot source of the campaign and the free slots it offers (after the
    campaign's slot filter) in the campaign's dates."""
    summaries = []
    for connection in campaign_live_sources(campaign=campaign):
        stats = {
            "count": campaign_offerable_slots(campaign=campaign, sources=[connection]).count(),
            # When the source was last read, whether or not its slots match.
            "refreshed": Slot.objects.filter(
                viewer=campaign.practice, connection=connection
            ).aggregate(refreshed=Max("refreshed_at"))["refreshed"],
        }
        is_pcn = connection.system == EmisSystem.EMIS_COMMUNITY
        summaries.append(
            SourceSummary(
                "PCN" if is_pcn else "Practice",
                connection.organisation.name,
                connection,
                stats["count"],
                stats["refreshed"],
            )
        )
    return summaries


def campaign_pcn_diagnosis(*, campaign: Campaign) -> PcnDiagnosis:
    """The PCN notice for a campaign: the connection's state, and when it is live,
    whether the campaign offers PCN slots and has any free in its dates."""
    diagnosis = pcn_connection_diagnosis(practice=campaign.practice)
    if not diagnosis.is_live or diagnosis.connection is None or diagnosis.pcn is None:
        return diagnosis
    if not campaign.use_pcn_slots:
        return replace(
            diagnosis,
            state="opted_out",
            title="PCN slots are switched off for this campaign",
            message=f"{diagnosis.pcn.name}'s EMIS Community is live, but this campaign does "
            "not offer PCN slots. Edit the campaign to offer them.",
        )
    if campaign_offerable_slots(campaign=campaign, sources=[diagnosis.connection]).exists():
        return diagnosis
    start, end = campaign_window(campaign)
    if Slot.objects.filter(
        viewer=campaign.practice, connection=diagnosis.connection, start__gte=start, start__lt=end
    ).exists():
        return replace(
            diagnosis,
            state="live_no_matching_slots",
            title="No slots match this campaign's slot types",
            message="No slots match this campaign's slot types: "
            f"{campaign_filter_description(campaign=campaign)}. {diagnosis.pcn.name} has "
            "free slots in these dates, but of other types. Edit the campaign to offer them.",
        )
    return replace(
        diagnosis,
        state="live_no_slots",
        title="No free PCN slots in these dates",
        message=f"Connected, but {diagnosis.pcn.name} has no free slots your practice can "
        "book in this campaign's dates. Try other dates, or refresh the slots later.",
    )


@dataclass(frozen=True)
class CampaignPatientRow:
    patient: Patient
    booking: Booking | None


def campaign_patient_rows(*, campaign: Campaign, search: str = "") -> QuerySet[Patient]:
    """The campaign's patients, searched like the patient list."""
    patients = patients_for_practice(practice=campaign.practice, search=search)
    return patients.filter(pk__in=campaign.entries.values("patient_id"))


def rows_with_bookings(
    *, campaign: Campaign, patients: Iterable[Patient]
) -> list[CampaignPatientRow]:
    """Pair each patient with their current booking in the campaign (one query)."""
    patients = list(patients)
    current: dict[int, Booking] = {}
    for booking in (
        Booking.objects.filter(
            campaign=campaign,
            patient__in=patients,
            status__in=[BookingStatus.BOOKED, BookingStatus.CANCELLING],
        )
        .select_related("tracing_task")
        .order_by("-status", "start")
    ):
        current.setdefault(booking.patient_id, booking)
    return [CampaignPatientRow(p, current.get(p.pk)) for p in patients]
