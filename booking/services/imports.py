"""Patient imports: preview an uploaded CSV file, then confirm (import) or discard it."""

import logging
import os
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from hippo_pcn.audit.services import audit_record
from hippo_pcn.organisations.models import Organisation

from ..csv_import import PatientFileError, parse_patient_csv
from ..models import (
    Patient,
    PatientImport,
    PatientImportStatus,
)
from ..selectors import (
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
