"""The staff pages: patient list, CSV upload, preview, confirm, cancel, result,
and who may open them."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from booking.models import Patient, PatientImport, PatientImportStatus
from booking.services import patient_import_confirm, patient_import_preview
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Membership
from hippo_pcn.organisations.roles import Role

from .factories import (
    PatientFactory,
    csv_bytes,
    csv_upload,
    invalid_check_digit,
    nhs_number,
    patient_row,
)

A = "A10001"
B = "B20001"


def url(name: str, *args) -> str:
    return reverse(f"booking:{name}", args=args)


def upload(client: Client, ods: str, data: bytes, name: str = "patients.csv"):
    return client.post(url("patient_import_upload", ods), {"file": csv_upload(data, name)})


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def a_import(practice_a, practice_staff):
    return patient_import_preview(
        practice=practice_a,
        uploaded_file=csv_upload(csv_bytes([patient_row(1), patient_row(2)])),
        user=practice_staff,
    )


# --- choosing a practice --------------------------------------------------------------------


def test_one_practice_goes_straight_to_its_list(client_for, practice_staff):
    response = client_for(practice_staff).get(url("patients"))
    assert response.status_code == 302
    assert response["Location"] == url("patient_list", A)


def test_several_practices_choose(client_for, practice_staff, practice_a2):
    Membership.objects.create(
        user=practice_staff, organisation=practice_a2, role=Role.PRACTICE_STAFF
    )
    client = client_for(practice_staff)
    response = client.get(url("patients"))
    assert response.status_code == 200
    assert [p.ods_code for p in response.context["practices"]] == ["A10002", "A10001"]
    assert url("patient_list", "A10002").encode() in response.content
    listing = client.get(url("patient_list", A))
    assert listing.context["has_other_practices"] is True
    assert b"Change practice" in listing.content


def test_support_chooses_among_all_practices(client_for, support_user, practice_a, practice_b):
    response = client_for(support_user).get(url("patients"))
    assert {p.ods_code for p in response.context["practices"]} >= {A, B}
    assert client_for(support_user).get(url("patient_list", B)).status_code == 200


def test_pcn_staff_and_outsiders_have_no_patient_pages(
    client_for, pcn_tracer, no_membership_user, practice_a
):
    assert client_for(pcn_tracer).get(url("patients")).status_code == 404
    assert client_for(pcn_tracer).get(url("patient_list", A)).status_code == 404
    assert client_for(no_membership_user).get(url("patient_list", A)).status_code == 403


def test_anonymous_is_sent_to_sign_in(client, practice_a):
    response = client.get(url("patient_list", A))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- the patient list -----------------------------------------------------------------------


def test_patient_list_columns(client_for, practice_staff, practice_a, practice_b):
    PatientFactory(
        practice=practice_a,
        nhs_number="9434765919",
        first_name="Ada",
        last_name="Lovelace",
        mobile="+447700900123",
        email="ada@example.com",
    )
    PatientFactory(practice=practice_b, first_name="Bertie", last_name="Other")
    response = client_for(practice_staff).get(url("patient_list", A))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Lovelace, Ada" in content
    assert "943 476 5919" in content
    assert "07••• •••123" in content
    assert "900123" not in content  # the mobile number is masked
    assert "ada@example.com" in content
    assert "Bertie" not in content
    assert "Import patients from a CSV file" in content
    assert url("patient_import_upload", A) in content


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("love", ["Lovelace"]),
        ("ada love", ["Lovelace"]),
        ("ALAN", ["Turing"]),
        ("943 476 5919", ["Lovelace"]),
        ("9434765919", ["Lovelace"]),
        ("999", ["Turing"]),
        ("nobody", []),
    ],
)
def test_patient_search(client_for, practice_staff, practice_a, search, expected):
    PatientFactory(
        practice=practice_a, nhs_number="9434765919", first_name="Ada", last_name="Lovelace"
    )
    PatientFactory(
        practice=practice_a, nhs_number=nhs_number(1), first_name="Alan", last_name="Turing"
    )
    response = client_for(practice_staff).get(url("patient_list", A), {"q": search})
    assert [p.last_name for p in response.context["page"]] == expected


def test_patient_list_pages_by_fifty(client_for, practice_staff, practice_a):
    for n in range(51):
        PatientFactory(practice=practice_a, last_name=f"Name{n:02d}")
    client = client_for(practice_staff)
    first = client.get(url("patient_list", A))
    assert len(first.context["page"]) == 50
    assert first.context["page"][0].last_name == "Name00"
    assert b'aria-label="Pagination"' in first.content
    second = client.get(url("patient_list", A), {"page": 2})
    assert [p.last_name for p in second.context["page"]] == ["Name50"]


def test_patient_list_empty(client_for, practice_staff):
    response = client_for(practice_staff).get(url("patient_list", A))
    assert b"has no patients in hippo-pcn yet" in response.content


# --- upload, preview, confirm ----------------------------------------------------------------


def test_upload_page(client_for, practice_staff):
    response = client_for(practice_staff).get(url("patient_import_upload", A))
    content = response.content.decode()
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in content
    assert '<label class="nhsuk-label nhsuk-label--m" for="id_file">' in content
    assert "smaller than 20 MB" in content
    assert "nhsuk-file-upload" in content


def test_template_csv(client_for, practice_staff):
    response = client_for(practice_staff).get(url("patient_import_template", A))
    assert response["Content-Type"].startswith("text/csv")
    assert response.content == b"nhs_number,first_name,last_name,date_of_birth,mobile,email\r\n"


def test_upload_preview_confirm_result(client_for, practice_staff):
    client = client_for(practice_staff)
    rows = [
        patient_row(1, first_name="Renée", last_name="Hopper"),
        [invalid_check_digit(nhs_number(2)), "Bad", "Number", "01/01/1990", "", ""],
        patient_row(3),
    ]
    response = upload(client, A, csv_bytes(rows, encoding="cp1252"), name="C:\\exports\\list.csv")
    patient_import = PatientImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("patient_import_preview", A, patient_import.pk)
    assert not Patient.objects.exists()

    preview = client.get(response["Location"])
    content = preview.content.decode()
    assert preview.status_code == 200
    assert "Check the patients before you import them" in content
    assert "list.csv" in content
    assert "Windows-1252" in content
    assert [row["row"] for row in preview.context["error_rows"]] == [3]
    assert "the last digit (the check digit) does not match" in content
    assert "Hopper, Renée" in content
    assert "Import 2 patients" in content

    confirmed = client.post(url("patient_import_confirm", A, patient_import.pk))
    assert confirmed.status_code == 302
    assert confirmed["Location"] == url("patient_import_result", A, patient_import.pk)
    assert messages_of(confirmed) == ["Import complete: 2 new patients added and 0 updated."]
    assert Patient.objects.filter(practice__ods_code=A).count() == 2

    result = client.get(confirmed["Location"])
    assert result.status_code == 200
    assert b"Patients imported" in result.content
    assert b"Rows that were not imported" in result.content

    # Back to the preview (browser history): it now shows the result.
    again = client.get(url("patient_import_preview", A, patient_import.pk))
    assert again["Location"] == url("patient_import_result", A, patient_import.pk)

    listing = client.get(url("patient_list", A))
    assert "Hopper, Renée" in listing.content.decode()


def test_double_submitted_confirmation_imports_once(client_for, practice_staff, a_import):
    client = client_for(practice_staff)
    first = client.post(url("patient_import_confirm", A, a_import.pk))
    second = client.post(url("patient_import_confirm", A, a_import.pk))
    assert second.status_code == 302
    assert second["Location"] == url("patient_import_result", A, a_import.pk)
    assert messages_of(second)[-1] == "This file has already been imported."
    assert first["Location"] == second["Location"]
    assert Patient.objects.count() == 2
    assert AuditEntry.objects.filter(action="patient_import.confirmed").count() == 1


def test_cancel(client_for, practice_staff, a_import):
    client = client_for(practice_staff)
    response = client.post(url("patient_import_discard", A, a_import.pk))
    assert response["Location"] == url("patient_import_upload", A)
    a_import.refresh_from_db()
    assert a_import.status == PatientImportStatus.DISCARDED
    assert not Patient.objects.exists()
    result = client.get(url("patient_import_result", A, a_import.pk))
    assert b"Import cancelled" in result.content
    confirm = client.post(url("patient_import_confirm", A, a_import.pk))
    assert "cancelled" in messages_of(confirm)[0]
    assert not Patient.objects.exists()


def test_confirm_and_cancel_only_accept_post(client_for, practice_staff, a_import):
    client = client_for(practice_staff)
    assert client.get(url("patient_import_confirm", A, a_import.pk)).status_code == 405
    assert client.get(url("patient_import_discard", A, a_import.pk)).status_code == 405
    assert not Patient.objects.exists()


def test_file_with_only_errors_offers_no_import(client_for, practice_staff):
    client = client_for(practice_staff)
    response = upload(client, A, csv_bytes([patient_row(1, date_of_birth="")]))
    preview = client.get(response["Location"])
    assert b"There are no valid rows to import" in preview.content
    assert b'data-testid="confirm-import"' not in preview.content


# --- upload errors ---------------------------------------------------------------------------


def _expect_file_error(response, message: str) -> None:
    content = response.content.decode()
    assert response.status_code == 400
    assert "There is a problem" in content
    assert f'<a href="#id_file">{message}' in content
    assert "nhsuk-form-group--error" in content
    assert not PatientImport.objects.exists()


def test_no_file_chosen(client_for, practice_staff):
    response = client_for(practice_staff).post(url("patient_import_upload", A), {})
    _expect_file_error(response, "Select a CSV file of patients to upload.")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The selected file is empty."),
        (csv_bytes([]), "The file has column headings but no patients."),
        (csv_bytes([["x", "y"]], header=["name", "dob"]), "The first row of the file must be"),
        (bytes(range(256)) * 16, "The selected file is not a CSV file."),
    ],
)
def test_file_level_errors_are_shown_on_the_upload_page(client_for, practice_staff, data, message):
    _expect_file_error(upload(client_for(practice_staff), A, data), message)


def test_oversized_upload_is_stopped_while_it_arrives(client_for, practice_staff, settings):
    settings.PATIENT_IMPORT_MAX_BYTES = 100_000
    data = csv_bytes([patient_row(n) for n in range(1, 3_000)])
    assert len(data) > 100_000
    response = upload(client_for(practice_staff), A, data)
    # The upload handler's message (it never saw the whole file), not the service's.
    _expect_file_error(response, "The selected file must be smaller than 97.7 KB.")
    assert "file" not in response.wsgi_request.FILES


def test_upload_checks_csrf(practice_staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(practice_staff)
    response = upload(client, A, csv_bytes([patient_row(1)]))
    assert response.status_code == 403
    assert not PatientImport.objects.exists()


# --- tenancy: practice B never sees practice A's imports or patients --------------------------


@pytest.mark.parametrize(
    ("method", "name", "with_import"),
    [
        ("get", "patient_list", False),
        ("get", "patient_import_upload", False),
        ("post", "patient_import_upload", False),
        ("get", "patient_import_template", False),
        ("get", "patient_import_preview", True),
        ("post", "patient_import_confirm", True),
        ("post", "patient_import_discard", True),
        ("get", "patient_import_result", True),
    ],
)
@pytest.mark.parametrize("other", ["other_practice_staff", "other_practice_admin", "pcn_tracer"])
def test_another_practices_pages_are_404(
    request, client_for, a_import, method, name, with_import, other
):
    client = client_for(request.getfixturevalue(other))
    args = (A, a_import.pk) if with_import else (A,)
    data = {"file": csv_upload(csv_bytes([patient_row(9)]))} if name.endswith("upload") else {}
    response = getattr(client, method)(url(name, *args), data)
    assert response.status_code == 404
    a_import.refresh_from_db()
    assert a_import.status == PatientImportStatus.PREVIEWED
    assert not Patient.objects.exists()
    assert PatientImport.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "patient_import_preview"),
        ("post", "patient_import_confirm"),
        ("post", "patient_import_discard"),
        ("get", "patient_import_result"),
    ],
)
def test_another_practices_import_under_your_own_practice_is_404(
    client_for, other_practice_staff, a_import, method, name
):
    response = getattr(client_for(other_practice_staff), method)(url(name, B, a_import.pk))
    assert response.status_code == 404
    a_import.refresh_from_db()
    assert a_import.status == PatientImportStatus.PREVIEWED


def test_recent_imports_are_the_practices_own(
    client_for, practice_staff, other_practice_staff, a_import
):
    own = client_for(practice_staff).get(url("patient_import_upload", A))
    assert list(own.context["recent_imports"]) == [a_import]
    other = client_for(other_practice_staff).get(url("patient_import_upload", B))
    assert list(other.context["recent_imports"]) == []


def test_confirmed_import_result_for_a_colleague(
    client_for, practice_admin, practice_staff, a_import
):
    patient_import_confirm(patient_import=a_import, user=practice_staff)
    response = client_for(practice_admin).get(url("patient_import_result", A, a_import.pk))
    assert response.status_code == 200
    assert b"Patients imported" in response.content
