"""A patient opens an invitation link on a phone (and on a desktop), confirms
their date of birth, books a PCN slot, sees the confirmation with the PCN site's
address, changes the time and cancels; each page passes an axe-core check."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from booking import services
from booking.models import Booking, Invite
from booking.tokens import new_token_fields, token_for_salt
from tests.booking.factories import PatientFactory
from tests.emis_world import EmisWorld, at

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[dict]:
    if not AXE.exists():
        pytest.fail("axe-core is missing: `npm ci` installs it (make test does).")
    # Evaluated through the DevTools protocol, not added as an inline <script> (which
    # the Content-Security-Policy would rightly refuse).
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result
    ]


def invited_patient(practice, user, *, name, appointment_type, days):
    """An active campaign from today for `days` days at `practice`, its slots
    mirrored, and one patient invited (the invite and the patient)."""
    campaign = services.campaign_create(
        user=user,
        practice=practice,
        name=name,
        appointment_type=appointment_type,
        start_date=timezone.localdate(),
        end_date=timezone.localdate() + timedelta(days=days),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    patient = PatientFactory(practice=practice)
    services.campaign_add_patients(user=user, campaign=campaign, patients=[patient])
    services.campaign_refresh_slots(campaign=campaign)
    invite = Invite.objects.create(
        campaign=campaign,
        patient=patient,
        channel="sms",
        expires_at=timezone.now() + timedelta(days=7),
        **new_token_fields(),
    )
    return invite, patient


def expect_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=2)


@pytest.mark.parametrize(
    "viewport",
    [{"width": 390, "height": 844}, {"width": 1280, "height": 900}],
    ids=["phone", "desktop"],
)
def test_patient_books_changes_and_cancels_from_the_link(
    live_server, new_context, viewport, pcn_a, practice_a, practice_a2, practice_admin
):
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    world.slots("U10001", [at(2, 10), at(3, 11)])
    world.slots("A10001", [at(2, 9)])
    invite, patient = invited_patient(
        practice_a, practice_admin, name="Flu", appointment_type="Flu vaccination", days=7
    )
    link = f"{live_server.url}/book/{token_for_salt(invite.token_salt)}/"

    context = new_context(viewport=viewport)
    page = context.new_page()
    try:
        page.goto(link)
        expect(page.get_by_role("heading", level=1)).to_have_text("Book your appointment")
        expect_accessible(page)
        # A wrong date first: the error summary, then the right one.
        page.get_by_label("Day").fill("1")
        page.get_by_label("Month").fill("1")
        page.get_by_label("Year").fill("1901")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator(".nhsuk-error-summary")).to_contain_text("does not match")
        expect_accessible(page)
        dob = patient.date_of_birth
        page.get_by_label("Day").fill(str(dob.day))
        page.get_by_label("Month").fill(str(dob.month))
        page.get_by_label("Year").fill(str(dob.year))
        page.get_by_role("button", name="Continue").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a time")
        expect(page.get_by_test_id("slot-option")).to_have_count(3)
        expect_accessible(page)
        pcn = page.locator("[data-testid=slot-option][data-source=pcn]").first
        expect(pcn).to_contain_text("Alpha Hub")
        pcn.locator("label").click()
        page.get_by_test_id("book-button").click()

        # A PCN site: where it is, that its staff will see the record, and the box.
        expect(page.get_by_role("heading", level=1)).to_have_text("Check where this appointment is")
        expect(page.get_by_test_id("pcn-site")).to_have_text("Alpha Hub")
        expect(page.get_by_test_id("pcn-address")).to_contain_text("1 High Street")
        expect(page.get_by_test_id("pcn-record-note")).to_contain_text("see your GP record")
        expect_accessible(page)
        page.get_by_test_id("consent-book-button").click()  # not ticked: no booking
        expect(page.locator(".nhsuk-error-summary")).to_contain_text("Tick the box to agree")
        expect(page.locator("#pcn-consent-error")).to_be_visible()
        expect_accessible(page)
        assert not Booking.objects.exists()
        page.get_by_label("I agree to be seen at Alpha Hub").check()
        page.get_by_test_id("consent-book-button").click()

        expect(page.get_by_test_id("confirmation")).to_contain_text("Appointment booked")
        summary = page.get_by_test_id("booking-summary")
        expect(summary).to_contain_text("Alpha Hub")
        expect(summary).to_contain_text("1 High Street")
        expect_accessible(page)

        page.get_by_role("link", name="Change or cancel this appointment").click()
        page.get_by_role("link", name="Change the time").click()
        page.locator("[data-testid=slot-option][data-source=practice]").first.locator(
            "label"
        ).click()
        page.get_by_test_id("book-button").click()
        expect(page.get_by_test_id("booking-summary")).to_contain_text("Your practice")

        page.get_by_role("link", name="Change or cancel this appointment").click()
        page.get_by_test_id("cancel-link").click()
        page.get_by_role("button", name="Cancel appointment").click()
        expect(page.get_by_test_id("cancelled")).to_contain_text("Appointment cancelled")
        expect_accessible(page)
    finally:
        context.close()
    assert sorted(Booking.objects.values_list("status", flat=True)) == ["cancelled", "cancelled"]


def test_patient_pages_to_later_times_on_a_phone(
    live_server, new_context, pcn_a, practice_a, practice_a2, practice_admin
):
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    # 12 practice times a day for 15 days: pages of 7, 7 and 1 days.
    world.slots(
        "A10001",
        [at(day, 9) + timedelta(minutes=20 * i) for day in range(1, 16) for i in range(12)],
    )
    invite, patient = invited_patient(
        practice_a,
        practice_admin,
        name="Health checks",
        appointment_type="NHS Health Check",
        days=16,
    )
    options = "[data-testid=slot-option]"
    context = new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/book/{token_for_salt(invite.token_salt)}/")
        dob = patient.date_of_birth
        page.get_by_label("Day").fill(str(dob.day))
        page.get_by_label("Month").fill(str(dob.month))
        page.get_by_label("Year").fill(str(dob.year))
        page.get_by_role("button", name="Continue").click()
        expect(page.locator(options)).to_have_count(7 * 12)
        expect(page.get_by_test_id("earlier-times")).to_have_count(0)
        expect_accessible(page)
        # A link at the top skips the 84 times to the pager at the bottom.
        page.get_by_role("link", name="Go to later times").click()
        expect(page.get_by_test_id("later-times")).to_be_in_viewport()
        first_time = page.locator(f"{options} input").first.get_attribute("value")
        page.get_by_test_id("later-times").click()

        # The middle page: both links, each named by its days.
        expect(page.locator(options)).to_have_count(7 * 12)
        expect(page.get_by_test_id("slot-range")).to_contain_text("Showing free times from")
        expect(page.get_by_role("link", name="Go to earlier or later times")).to_be_visible()
        expect(page.get_by_test_id("earlier-times")).to_contain_text(" to ")
        expect(page.get_by_test_id("later-times")).to_contain_text("Later times")
        expect_accessible(page)
        shots = Path(__file__).resolve().parents[2] / "var" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "selfbook-later-times-phone.png"))
        page.get_by_test_id("slot-pages").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "selfbook-later-times-pager-phone.png"))

        page.get_by_test_id("later-times").click()
        expect(page.locator(options)).to_have_count(12)
        expect(page.get_by_test_id("later-times")).to_have_count(0)
        page.get_by_test_id("earlier-times").click()
        expect(page.locator(options)).to_have_count(7 * 12)
        page.get_by_test_id("earlier-times").click()
        expect(page.locator(f"{options} input").first).to_have_attribute("value", first_time)
        page.get_by_test_id("later-times").click()
        # Book one of the later times.
        page.locator(options).first.locator("label").click()
        page.get_by_test_id("book-button").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Appointment booked")
        assert Booking.objects.filter(status="booked").count() == 1
        expect(page.get_by_test_id("slot-pages")).to_have_count(0)  # no pager once booked
    finally:
        context.close()
