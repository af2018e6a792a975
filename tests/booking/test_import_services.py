"""patient_import_preview / _confirm / _discard against the real database."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import connection

from booking.csv_import import PatientFileError
from booking.models import Patient, PatientImport, PatientImportStatus
from booking.services import (
    PatientImportNotPending,
    patient_import_confirm,
    patient_import_discard,
    patient_import_preview,
)
from hippo_pcn.audit.models import AuditEntry

from .factories import (
    PatientFactory,
    csv_bytes,
    csv_upload,
    invalid_check_digit,
    nhs_number,
    patient_row,
)


def preview(practice, user, data: bytes, name: str = "patients.csv") -> PatientImport:
    return patient_import_preview(
        practice=practice, uploaded_file=csv_upload(data, name), user=user
    )


# --- preview ----------------------------------------------------------------------------------


def test_preview_counts_and_writes_no_patients(practice_a, practice_staff):
    PatientFactory(practice=practice_a, **_row_fields(patient_row(1)))  # unchanged
    PatientFactory(practice=practice_a, **_row_fields(patient_row(2, first_name="Old")))  # update
    rows = [
        patient_row(1),
        patient_row(2),
        patient_row(3),
        patient_row(4, date_of_birth="31/02/1980"),
    ]
    patient_import = preview(practice_a, practice_staff, csv_bytes(rows))

    assert Patient.objects.count() == 2  # nothing written before confirmation
    assert patient_import.status == PatientImportStatus.PREVIEWED
    assert (
        patient_import.row_count,
        patient_import.valid_count,
        patient_import.new_count,
        patient_import.update_count,
        patient_import.unchanged_count,
        patient_import.error_count,
    ) == (4, 3, 1, 1, 1, 1)
    assert patient_import.errors == [
        {
            "row": 5,
            "nhs_number": nhs_number(4),
            "name": "Ada Patient00004",
            "messages": ["Date of birth “31/02/1980” is not a real date"],
        }
    ]
    assert [row["change"] for row in patient_import.rows] == ["unchanged", "update", "new"]
    assert patient_import.encoding == "UTF-8"
    assert patient_import.file_name == "patients.csv"
    assert patient_import.uploaded_by == practice_staff
    assert not AuditEntry.objects.filter(action__startswith="patient_import").exists()


def test_preview_refuses_another_practice(practice_b, practice_staff):
    with pytest.raises(PermissionDenied):
        preview(practice_b, practice_staff, csv_bytes([patient_row(1)]))


def test_pcn_staff_cannot_import_for_member_practices(practice_a, pcn_tracer):
    with pytest.raises(PermissionDenied):
        preview(practice_a, pcn_tracer, csv_bytes([patient_row(1)]))


def test_support_can_import_for_any_practice(practice_b, support_user):
    patient_import = preview(practice_b, support_user, csv_bytes([patient_row(1)]))
    patient_import_confirm(patient_import=patient_import, user=support_user)
    assert Patient.objects.filter(practice=practice_b).count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The selected file is empty."),
        (csv_bytes([]), "has column headings but no patients"),
        (csv_bytes([["x"]], header=["name"]), "must be the column headings"),
        (bytes(range(256)) * 8, "is not a CSV file"),
    ],
)
def test_file_level_errors_store_nothing(practice_a, practice_staff, data, message):
    with pytest.raises(PatientFileError) as caught:
        preview(practice_a, practice_staff, data)
    assert message in caught.value.message
    assert not PatientImport.objects.exists()


def test_oversized_file_is_refused(settings, practice_a, practice_staff):
    settings.PATIENT_IMPORT_MAX_BYTES = 1_000
    data = csv_bytes([patient_row(n) for n in range(1, 60)])
    assert len(data) > 1_000
    with pytest.raises(PatientFileError) as caught:
        preview(practice_a, practice_staff, data)
    assert (
        "The selected file is 3.2 KB: it must be smaller than 1000 bytes." in caught.value.message
    )
    assert not PatientImport.objects.exists()


class _HugeUnreadableUpload(UploadedFile):
    """Claims 50 MB and fails if anyone reads it: the size check must come first."""

    def __init__(self):
        super().__init__(file=None, name="huge.csv", content_type="text/csv", size=50 * 1024 * 1024)

    def read(self, *args, **kwargs):
        raise AssertionError("the file was read before its size was checked")

    def chunks(self, *args, **kwargs):
        raise AssertionError("the file was read before its size was checked")

    def seek(self, *args, **kwargs):
        raise AssertionError("the file was touched before its size was checked")


def test_size_is_checked_from_uploaded_file_size_before_reading(practice_a, practice_staff):
    with pytest.raises(PatientFileError) as caught:
        patient_import_preview(
            practice=practice_a, uploaded_file=_HugeUnreadableUpload(), user=practice_staff
        )
    assert caught.value.message.startswith(
        "The selected file is 50 MB: it must be smaller than 20 MB."
    )


# --- confirm ----------------------------------------------------------------------------------


def _row_fields(row: list[str]) -> dict:
    day, month, year = (int(part) for part in row[3].split("/"))
    return {
        "nhs_number": row[0],
        "first_name": row[1],
        "last_name": row[2],
        "date_of_birth": date(year, month, day),
        "mobile": "+447700900123" if row[4] else "",
        "email": row[5],
    }


def test_confirm_imports_the_valid_rows(practice_a, practice_staff):
    rows = [
        patient_row(1, email="one@example.com"),
        patient_row(2, mobile=""),
        [invalid_check_digit(nhs_number(3)), "Bad", "Number", "01/01/1990", "", ""],
    ]
    patient_import = preview(practice_a, practice_staff, csv_bytes(rows))
    result = patient_import_confirm(patient_import=patient_import, user=practice_staff)

    assert result.status == PatientImportStatus.IMPORTED
    assert result.imported_by == practice_staff
    assert result.imported_at is not None
    assert (result.new_count, result.update_count, result.error_count) == (2, 0, 1)
    assert result.rows == []  # no second copy of the patients' data is kept
    patients = {p.nhs_number: p for p in Patient.objects.filter(practice=practice_a)}
    assert set(patients) == {nhs_number(1), nhs_number(2)}
    first = patients[nhs_number(1)]
    assert (first.first_name, first.last_name, first.date_of_birth) == (
        "Ada",
        "Patient00001",
        date(1980, 1, 31),
    )
    assert first.mobile == "+447700900123"
    assert first.email == "one@example.com"
    assert patients[nhs_number(2)].mobile == ""


def test_reimport_updates_and_never_duplicates(practice_a, practice_staff):
    first = preview(practice_a, practice_staff, csv_bytes([patient_row(1), patient_row(2)]))
    patient_import_confirm(patient_import=first, user=practice_staff)
    original = Patient.objects.get(practice=practice_a, nhs_number=nhs_number(1))
    Patient.objects.filter(pk=original.pk).update(opted_out_of_messages=True)

    second_rows = [
        patient_row(1, last_name="Married-Name", mobile="07700 900999"),
        patient_row(2),
        patient_row(3),
    ]
    second = preview(practice_a, practice_staff, csv_bytes(second_rows))
    assert (second.new_count, second.update_count, second.unchanged_count) == (1, 1, 1)
    result = patient_import_confirm(patient_import=second, user=practice_staff)

    assert (result.new_count, result.update_count, result.unchanged_count) == (1, 1, 1)
    assert Patient.objects.filter(practice=practice_a).count() == 3
    updated = Patient.objects.get(pk=original.pk)  # same row, updated in place
    assert updated.last_name == "Married-Name"
    assert updated.mobile == "+447700900999"
    assert updated.created_at == original.created_at
    assert updated.updated_at > original.updated_at
    assert updated.opted_out_of_messages is True  # an import never changes an opt-out


def test_same_nhs_number_at_two_practices_is_two_patients(
    practice_a, practice_b, practice_staff, other_practice_staff
):
    for practice, user in ((practice_a, practice_staff), (practice_b, other_practice_staff)):
        patient_import_confirm(
            patient_import=preview(practice, user, csv_bytes([patient_row(1)])), user=user
        )
    assert Patient.objects.filter(nhs_number=nhs_number(1)).count() == 2


def test_columns_missing_from_the_file_keep_stored_values(practice_a, practice_staff):
    PatientFactory(
        practice=practice_a,
        **{**_row_fields(patient_row(1)), "email": "kept@example.com"},
    )
    header = ["nhs_number", "first_name", "last_name", "date_of_birth", "mobile"]
    rows = [patient_row(1, first_name="Renamed", mobile="")[:5]]
    patient_import = preview(practice_a, practice_staff, csv_bytes(rows, header=header))
    patient_import_confirm(patient_import=patient_import, user=practice_staff)
    patient = Patient.objects.get(practice=practice_a)
    assert patient.first_name == "Renamed"
    assert patient.mobile == ""  # the file has a mobile column, and it is blank
    assert patient.email == "kept@example.com"  # the file has no email column


def test_confirm_twice_imports_once(practice_a, practice_staff, practice_admin):
    patient_import = preview(practice_a, practice_staff, csv_bytes([patient_row(1)]))
    patient_import_confirm(patient_import=patient_import, user=practice_staff)
    with pytest.raises(PatientImportNotPending) as caught:
        patient_import_confirm(patient_import=patient_import, user=practice_admin)
    assert caught.value.messages == ["This file has already been imported."]
    assert Patient.objects.count() == 1
    assert AuditEntry.objects.filter(action="patient_import.confirmed").count() == 1
    patient_import.refresh_from_db()
    assert patient_import.imported_by == practice_staff


def test_discarded_import_cannot_be_confirmed(practice_a, practice_staff):
    patient_import = preview(practice_a, practice_staff, csv_bytes([patient_row(1)]))
    patient_import_discard(patient_import=patient_import, user=practice_staff)
    patient_import.refresh_from_db()
    assert patient_import.status == PatientImportStatus.DISCARDED
    assert patient_import.rows == []
    with pytest.raises(PatientImportNotPending, match="cancelled"):
        patient_import_confirm(patient_import=patient_import, user=practice_staff)
    assert not Patient.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirmations_import_once(practice_a, practice_staff, practice_admin):
    """Two confirmations racing (a double click, two tabs): the status
    compare-and-swap lets exactly one through."""
    patient_import = preview(
        practice_a, practice_staff, csv_bytes([patient_row(n) for n in range(1, 501)])
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def confirm(user):
        try:
            barrier.wait()
            patient_import_confirm(
                patient_import=PatientImport.objects.get(pk=patient_import.pk), user=user
            )
            outcomes.append("imported")
        except PatientImportNotPending:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=confirm, args=(user,)) for user in (practice_staff, practice_admin)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["imported", "refused"]
    assert Patient.objects.count() == 500
    assert AuditEntry.objects.filter(action="patient_import.confirmed").count() == 1


def test_ten_thousand_rows(practice_a, practice_staff):
    rows = [patient_row(n, mobile=f"07700 9{n:05d}") for n in range(1, 10_001)]
    first = preview(practice_a, practice_staff, csv_bytes(rows))
    assert (first.valid_count, first.new_count, first.error_count) == (10_000, 10_000, 0)
    patient_import_confirm(patient_import=first, user=practice_staff)
    assert Patient.objects.filter(practice=practice_a).count() == 10_000

    rows[0] = patient_row(1, last_name="Changed", mobile="07700 900001")
    again = preview(practice_a, practice_staff, csv_bytes(rows))
    result = patient_import_confirm(patient_import=again, user=practice_staff)
    assert (result.new_count, result.update_count, result.unchanged_count) == (0, 1, 9_999)
    assert Patient.objects.filter(practice=practice_a).count() == 10_000


# --- audit ------------------------------------------------------------------------------------


def test_one_audit_entry_per_import_without_patient_data(practice_a, practice_staff):
    rows = [
        patient_row(1, first_name="Zebedee", last_name="Quixotic", email="zq@example.com"),
        patient_row(2, date_of_birth="not a date"),
    ]
    patient_import = preview(practice_a, practice_staff, csv_bytes(rows), name="march-list.csv")
    patient_import_confirm(patient_import=patient_import, user=practice_staff)

    entry = AuditEntry.objects.get(action="patient_import.confirmed")
    assert entry.actor == practice_staff
    assert entry.organisation == practice_a
    assert entry.object_id == str(patient_import.pk)
    assert entry.details == {
        "file_name": "march-list.csv",
        "rows": 2,
        "new": 1,
        "updated": 0,
        "unchanged": 0,
        "errors": 1,
    }
    everything = f"{entry.object_repr} {entry.details} {entry.actor_label}"
    for secret in (nhs_number(1), nhs_number(2), "Zebedee", "Quixotic", "zq@example.com", "7700"):
        assert secret not in everything


def test_no_patient_data_in_logs(practice_a, practice_staff, caplog):
    caplog.set_level("DEBUG", logger="booking")
    rows = [patient_row(1, first_name="Zebedee"), patient_row(2, date_of_birth="x")]
    patient_import = preview(practice_a, practice_staff, csv_bytes(rows))
    patient_import_confirm(patient_import=patient_import, user=practice_staff)
    assert caplog.records, "the import should log what it did"
    for record in caplog.records:
        message = record.getMessage()
        assert nhs_number(1) not in message
        assert "Zebedee" not in message
