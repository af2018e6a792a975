"""Reads for booking.

Sections:
* Practices: which practices' patients a user may see and manage.
* Patients: the patient list, search, look-ups by NHS number.
* Patient imports: a practice's imports and what their pages show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform

from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.roles import OrganisationKind
from hippo_pcn.organisations.selectors import (
    UserLike,
    memberships_for_user,
    organisations_for_user,
    user_is_support,
)

from .models import Patient, PatientImport
from .patient_data import format_nhs_number, format_uk_mobile

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
