"""A practice user imports patients from a CSV file in the browser: upload, check
the preview (with a row in error), confirm, and find the patients in the list.

Data comes from the shared fixtures (Alpha Surgery A10001 and its staff member);
with `live_server` the database is transactional, so the server thread sees it.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from booking.models import Patient
from tests.booking.factories import csv_bytes, invalid_check_digit, nhs_number, patient_row
from tests.factories import TEST_PASSWORD


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_be_visible()


def test_practice_user_imports_patients_from_a_csv_file(
    live_server, page: Page, practice_staff, practice_b
):
    data = csv_bytes(
        [
            patient_row(1, first_name="Renée", last_name="Lovelace", mobile="07700 900123"),
            [invalid_check_digit(nhs_number(2)), "Bad", "Number", "01/01/1990", "", ""],
            patient_row(3, first_name="Alan", last_name="Turing", email="alan@example.com"),
        ]
    )
    sign_in(page, live_server.url, practice_staff.username)

    # Home -> Patients (the practice has none yet) -> Import.
    page.get_by_test_id("staff-links").get_by_role("link", name="Patients", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/booking/practices/A10001/patients/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    expect(page.get_by_test_id("no-patients")).to_be_visible()
    page.get_by_role("link", name="Import patients from a CSV file").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import patients from a CSV file")

    # Upload: nothing is saved yet.
    page.locator('input[type="file"][name="file"]').set_input_files(
        files=[{"name": "riverside-patients.csv", "mimeType": "text/csv", "buffer": data}]
    )
    page.get_by_role("button", name="Upload and check file").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Check the patients before you import them"
    )
    expect(page.get_by_test_id("count-new")).to_have_text("2")
    expect(page.get_by_test_id("count-errors")).to_contain_text("1")
    expect(page.get_by_test_id("encoding")).to_have_text("UTF-8")
    error_rows = page.get_by_test_id("error-rows")
    expect(error_rows.locator("tbody tr")).to_have_count(1)
    expect(error_rows.locator("tbody tr").first).to_contain_text("3")
    expect(error_rows).to_contain_text("the check digit")
    expect(page.get_by_test_id("sample-rows")).to_contain_text("Lovelace, Renée")
    assert Patient.objects.count() == 0

    # Confirm.
    page.get_by_role("button", name="Import 2 patients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients imported")
    expect(page.get_by_role("status").filter(has_text="Import complete")).to_contain_text(
        "2 new patients added"
    )
    expect(page.get_by_test_id("count-new")).to_have_text("2")

    # The patients are listed, with masked mobiles.
    page.get_by_role("button", name="View patients").click()
    expect(page).to_have_url(re.compile(r"/booking/practices/A10001/patients/$"))
    table = page.get_by_test_id("patients")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(0)).to_contain_text("Lovelace, Renée")
    expect(table.locator("tbody tr").nth(0)).to_contain_text("07••• •••123")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("Turing, Alan")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("alan@example.com")
    expect(page.get_by_text("Beta Surgery")).to_have_count(0)
    assert Patient.objects.filter(practice__ods_code="A10001").count() == 2
