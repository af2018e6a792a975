"""Campaign cohorts: choosing which of a practice's patients a campaign is for.

A cohort is found one of four ways (selectors), always shown as counts before
anything is written (`cohort_preview`), then added in one step:
* every practice patient;
* age on a date (`cohort_by_age`): "65 or over on 31 March 2027", with an optional
  upper bound. Ages follow the UK legal rule: someone born on 29 February turns a
  year older on 1 March in a year that is not a leap year;
* a CSV file of NHS numbers (`cohort_from_nhs_numbers_csv`), read with the patient
  import's decoding and NHS number checks, and reported row by row the same way;
* patients ticked on a searchable, paged list (`cohort_pick_rows`).

Between the preview and the confirmation the chosen patients travel in a signed,
compressed, time-limited token (`cohort_selection_sign`): the confirmation adds
exactly the patients counted, and nothing the browser could change. They are
checked again against the campaign's practice when added.

Services: `campaign_patients_add` (through `campaign_add_patients`, which audits)
and `campaign_patient_remove` (refused for a patient with a booking; audited).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from hippo_pcn.audit.services import audit_record
from hippo_pcn.organisations.models import Organisation

from .csv_import import (
    PatientFileError,
    RowError,
    decode_patient_file,
    normalise_heading,
)
from .models import (
    Booking,
    Campaign,
    CampaignPatient,
    Patient,
)
from .patient_data import clean_nhs_number, format_nhs_number
from .selectors import patients_for_practice, practices_for_patient_management
from .services import campaign_add_patients

# The confirmation link (the signed selection) works for this long.
SELECTION_MAX_AGE_SECONDS = 60 * 60
_SELECTION_SALT = "booking.cohorts.selection"
# Ticking is for small, hand-picked cohorts: larger ones come from age or a CSV file.
# (The ticks are posted back with each page: below Django's 1,000 form fields.)
PICK_MAX = 500
# How many rows with problems a CSV report keeps (the first ones).
MAX_REPORTED_ERRORS = 1_000

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class CohortError(ValidationError):
    """Something the user asked for cannot be done; the message says why."""


def _ensure_may_manage(*, practice: Organisation, user: AbstractBaseUser) -> None:
    if not practices_for_patient_management(user=user).filter(pk=practice.pk).exists():
        raise PermissionDenied("You cannot manage this practice's patients.")


def long_date(value: date) -> str:
    """31 March 2027."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


# --- Age on a date ------------------------------------------------------------------------


def age_on(*, born: date, on: date) -> int:
    """Age in whole years on a date. A 29 February birthday counts from 1 March in
    a year that is not a leap year (UK law: the Family Law Reform Act 1969, s.9)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def latest_birth_date_for_age(*, age: int, on: date) -> date:
    """The latest date of birth of someone aged at least `age` on `on`: aged `age`
    or over on `on` exactly when born on or before it.

    `on` less `age` years, on the same day of the year. When that day is 29
    February of a year that is not a leap year, 28 February: someone born on
    1 March of that year turns `age` on 1 March, after `on`."""
    year = on.year - age
    try:
        return on.replace(year=year)
    except ValueError:  # 29 February, `year` not a leap year
        return date(year, 2, 28)


@dataclass(frozen=True)
class AgeCriteria:
    age_from: int | None
    age_to: int | None
    on: date

    def __post_init__(self) -> None:
        if self.age_from is None and self.age_to is None:
            raise CohortError("Enter a lowest age, a highest age, or both.")
        for value in (self.age_from, self.age_to):
            if value is not None and not 0 <= value <= 130:
                raise CohortError("Ages must be between 0 and 130.")
        if self.age_from is not None and self.age_to is not None and self.age_to < self.age_from:
            raise CohortError("The highest age must be the same as or more than the lowest age.")

    def describe(self) -> str:
        """For example "aged 65 or over on 31 March 2027", "aged 2 to 17 on ..."."""
        on = long_date(self.on)
        if self.age_to is None:
            return f"aged {self.age_from} or over on {on}"
        if self.age_from is None or self.age_from == 0:
            return f"aged {self.age_to} or under on {on}"
        if self.age_from == self.age_to:
            return f"aged {self.age_from} on {on}"
        return f"aged {self.age_from} to {self.age_to} on {on}"


def cohort_by_age(
    *, practice: Organisation, age_from: int | None, age_to: int | None, on: date
) -> QuerySet[Patient]:
    """The practice's patients aged `age_from` or over and `age_to` or under (both
    inclusive, either may be None) on the date `on`. Patients not yet born on `on`
    are never included."""
    criteria = AgeCriteria(age_from=age_from, age_to=age_to, on=on)
    patients = Patient.objects.filter(
        practice=practice,
        date_of_birth__lte=latest_birth_date_for_age(age=criteria.age_from or 0, on=on),
    )
    if criteria.age_to is not None:
        # Aged `age_to` or under: not yet `age_to + 1`.
        patients = patients.filter(
            date_of_birth__gt=latest_birth_date_for_age(age=criteria.age_to + 1, on=on)
        )
    return patients.order_by("last_name", "first_name", "pk")


# --- A CSV file of NHS numbers ------------------------------------------------------------


@dataclass
class NhsNumberFile:
    """A CSV file of NHS numbers, read and checked against the practice's list:
    `patient_ids` in file order (each once), and, row by row, what is wrong with
    the others (in the patient import's report format; the first
    `MAX_REPORTED_ERRORS` rows, `error_count` counts them all)."""

    encoding: str
    row_count: int = 0
    patient_ids: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    invalid_count: int = 0
    unknown_count: int = 0
    duplicate_count: int = 0

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        self.errors.append(error)


def _nhs_number_column(record: list[str]) -> int | None:
    """The position of the NHS number heading in a heading row, or None when the
    row is not headings but the first NHS number."""
    keys = [normalise_heading(cell) for cell in record]
    if "nhs_number" in keys:
        return keys.index("nhs_number")
    first = record[0].strip() if record else ""
    if first and any(ch.isdigit() for ch in first):
        return None
    found = ", ".join(f"“{cell.strip()[:30]}”" for cell in record[:5] if cell.strip())
    raise PatientFileError(
        "The file must have one column of NHS numbers, with the heading nhs_number or "
        f"no heading at all. The first row has {found}."
    )


def cohort_from_nhs_numbers_csv(
    *, practice: Organisation, data: bytes, max_rows: int
) -> NhsNumberFile:
    """Read a CSV file with one column of NHS numbers (a heading "nhs_number", or
    none; other columns are ignored) and match it against the practice's patients.

    Raises `PatientFileError` for a problem with the whole file. Rows whose NHS
    number is not valid (checksum, length), that repeat an earlier row, or that are
    not on the practice's list in hippo-pcn are reported with their spreadsheet row
    number; the rest become `patient_ids`."""
    if not data.strip():
        raise PatientFileError("The selected file is empty.")
    text, encoding = decode_patient_file(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    parsed = NhsNumberFile(encoding=encoding)
    numbers: list[tuple[int, str, str]] = []  # (row, raw, cleaned)
    column = 0
    try:
        first_seen: dict[str, int] = {}
        seen_first_row = False
        for row_number, record in enumerate(reader, start=1):
            if not any(cell.strip() for cell in record):
                continue
            if not seen_first_row:
                seen_first_row = True
                heading = _nhs_number_column(record)
                if heading is not None:
                    column = heading
                    continue  # the heading row
            parsed.row_count += 1
            if parsed.row_count > max_rows:
                raise PatientFileError(
                    f"The file has more than {max_rows:,} rows. Split it into smaller files "
                    "and upload them one at a time."
                )
            raw = record[column].strip() if column < len(record) else ""
            try:
                nhs = clean_nhs_number(raw)
            except ValueError as exc:
                parsed.invalid_count += 1
                parsed.add_error(RowError(row=row_number, messages=[str(exc)], nhs_number=raw[:20]))
                continue
            if nhs in first_seen:
                parsed.duplicate_count += 1
                parsed.add_error(
                    RowError(
                        row=row_number,
                        messages=[
                            f"NHS number {format_nhs_number(nhs)} is also on row "
                            f"{first_seen[nhs]}: this row is a duplicate of row {first_seen[nhs]}"
                        ],
                        nhs_number=raw[:20],
                    )
                )
                continue
            first_seen[nhs] = row_number
            numbers.append((row_number, raw, nhs))
    except csv.Error as exc:
        raise PatientFileError(
            f"The file could not be read as CSV near row {reader.line_num}: check for a stray "
            "quotation mark, then save it again as “CSV UTF-8 (comma delimited)”."
        ) from exc
    if parsed.row_count == 0:
        raise PatientFileError("The file has no NHS numbers. Put one NHS number on each row.")

    known = _patient_ids_by_nhs_number(practice=practice, nhs_numbers=[n for _, _, n in numbers])
    for row_number, raw, nhs in numbers:
        patient_id = known.get(nhs)
        if patient_id is None:
            parsed.unknown_count += 1
            parsed.add_error(
                RowError(
                    row=row_number,
                    messages=[
                        f"NHS number {format_nhs_number(nhs)} is not on {practice.name}'s "
                        "patient list in hippo-pcn: import the patient first, then add them"
                    ],
                    nhs_number=raw[:20],
                )
            )
        else:
            parsed.patient_ids.append(patient_id)
    # The first rows with errors, in row order, whatever check found them.
    parsed.errors.sort(key=lambda error: error.row)
    del parsed.errors[MAX_REPORTED_ERRORS:]
    return parsed


def _patient_ids_by_nhs_number(
    *, practice: Organisation, nhs_numbers: list[str], chunk: int = 5_000
) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(nhs_numbers), chunk):
        found.update(
            Patient.objects.filter(
                practice=practice, nhs_number__in=nhs_numbers[start : start + chunk]
            ).values_list("nhs_number", "pk")
        )
    return found


# --- Ticking patients on a list -----------------------------------------------------------


def cohort_pick_rows(*, campaign: Campaign, search: str = "") -> QuerySet[Patient]:
    """The practice's patients, searched by name or NHS number like the patient
    list, each marked `in_campaign`."""
    return patients_for_practice(practice=campaign.practice, search=search).annotate(
        in_campaign=Exists(
            CampaignPatient.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))
        )
    )


def cohort_pick_ids(*, campaign: Campaign, values: Iterable[str]) -> list[int]:
    """The ticked patient ids sent by the list, kept only when they are the
    campaign's practice's patients. Raises `CohortError` past `PICK_MAX`."""
    wanted: list[int] = []
    for value in values:
        try:
            wanted.append(int(value))
        except (TypeError, ValueError):
            continue
        if len(wanted) > PICK_MAX:
            raise CohortError(
                f"Tick at most {PICK_MAX:,} patients at a time. For more, add patients by age "
                "or from a CSV file of NHS numbers."
            )
    wanted = list(dict.fromkeys(wanted))
    return list(
        Patient.objects.filter(practice=campaign.practice, pk__in=wanted)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- Counting before adding ---------------------------------------------------------------


@dataclass(frozen=True)
class CohortPreview:
    """What adding a cohort would do: `new_count` patients added, `already_count`
    already in the campaign (not added twice). `token` carries the selection to the
    confirmation."""

    description: str
    matched_count: int
    new_count: int
    already_count: int
    token: str
    sample: list[Patient]


def cohort_preview(
    *, campaign: Campaign, patient_ids: Iterable[int], description: str, sample_size: int = 10
) -> CohortPreview:
    ids = sorted(
        set(
            Patient.objects.filter(practice=campaign.practice, pk__in=list(patient_ids))
            .order_by()
            .values_list("pk", flat=True)
        )
    )
    already = set(
        CampaignPatient.objects.filter(campaign=campaign, patient_id__in=ids).values_list(
            "patient_id", flat=True
        )
    )
    new_ids = [pk for pk in ids if pk not in already]
    sample = list(
        Patient.objects.filter(pk__in=new_ids[: sample_size * 20]).order_by(
            "last_name", "first_name", "pk"
        )[:sample_size]
    )
    return CohortPreview(
        description=description,
        matched_count=len(ids),
        new_count=len(new_ids),
        already_count=len(already),
        token=cohort_selection_sign(campaign=campaign, patient_ids=ids, description=description),
        sample=sample,
    )


def cohort_selection_sign(*, campaign: Campaign, patient_ids: list[int], description: str) -> str:
    """A signed, compressed token of the chosen patients for this campaign. The ids
    are sorted and stored as gaps, which compress to almost nothing."""
    ids = sorted(set(patient_ids))
    gaps = [b - a for a, b in zip([0, *ids], ids, strict=False)]
    return signing.dumps(
        {"c": campaign.pk, "g": gaps, "d": description[:200]},
        salt=_SELECTION_SALT,
        compress=True,
    )


def cohort_selection_unsign(*, campaign: Campaign, token: str) -> tuple[list[int], str]:
    """The patient ids and description in a token made for this campaign. Raises
    `CohortError` when it is expired, altered or for another campaign."""
    try:
        payload: dict[str, Any] = signing.loads(
            token, salt=_SELECTION_SALT, max_age=SELECTION_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired:
        raise CohortError(
            "This check is more than an hour old, so nothing was added. Choose the patients again."
        ) from None
    except signing.BadSignature:
        raise CohortError(
            "The list of patients to add could not be read. Choose them again."
        ) from None
    if payload.get("c") != campaign.pk:
        raise CohortError("The list of patients to add could not be read. Choose them again.")
    ids: list[int] = []
    total = 0
    for gap in payload.get("g", []):
        total += int(gap)
        ids.append(total)
    return ids, str(payload.get("d", ""))


# --- Adding and removing ------------------------------------------------------------------


@dataclass(frozen=True)
class CohortAddResult:
    added: int
    already: int
    description: str


def campaign_patients_add(
    *, user: AbstractBaseUser, campaign: Campaign, token: str
) -> CohortAddResult:
    """Add the patients of a confirmed cohort preview to the campaign. Patients
    already in it are counted, not added twice; patients no longer on the
    practice's list are left out. Audited by `campaign_add_patients`."""
    _ensure_may_manage(practice=campaign.practice, user=user)
    ids, description = cohort_selection_unsign(campaign=campaign, token=token)
    patients = list(
        Patient.objects.filter(practice=campaign.practice, pk__in=ids).only("pk", "practice_id")
    )
    added = campaign_add_patients(user=user, campaign=campaign, patients=patients)
    return CohortAddResult(added=added, already=len(patients) - added, description=description)


def campaign_patient_remove(
    *, user: AbstractBaseUser, campaign: Campaign, patient: Patient
) -> None:
    """Take a patient off the campaign. Refused while they have a booking in it
    (cancel that first). The patient's row is locked as booking locks it, so a
    booking being made at the same moment either finishes first (and the removal
    is refused) or finds them gone."""
    _ensure_may_manage(practice=campaign.practice, user=user)
    with transaction.atomic():
        entry = (
            CampaignPatient.objects.select_for_update()
            .filter(campaign=campaign, patient=patient)
            .first()
        )
        if entry is None:
            raise CohortError(f"{patient.full_name} is not on this campaign's list.")
        booking = (
            Booking.objects.active()
            .filter(campaign=campaign, patient=patient)
            .order_by("start")
            .first()
        )
        if booking is not None:
            raise CohortError(
                f"{patient.full_name} has a booking in this campaign, so they cannot be "
                "removed. Cancel the booking first, then remove them."
            )
        entry.delete()
        audit_record(
            actor=user,
            action="campaign.patient_removed",
            target=campaign,
            organisation=campaign.practice,
            details={"patient_id": patient.pk},
        )
