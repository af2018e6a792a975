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

        # A day first (two have free times), then that day's times by site.
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a day")
        expect(page.get_by_test_id("day-option")).to_have_count(2)
        expect_accessible(page)
        page.get_by_test_id("day-continue").click()  # no day chosen: the error
        expect(page.locator(".nhsuk-error-summary")).to_contain_text("Choose a day.")
        expect_accessible(page)
        page.get_by_test_id("day-option").first.locator("label").click()
        page.get_by_test_id("day-continue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a time")
        expect(page.get_by_test_id("slot-option")).to_have_count(2)
        expect(page.get_by_test_id("site-heading")).to_have_text(["Your practice", "Alpha Hub"])
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
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new day")
        page.get_by_test_id("day-option").first.locator("label").click()
        page.get_by_test_id("day-continue").click()
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


def test_patient_picks_a_day_then_a_time_on_a_phone(
    live_server, new_context, pcn_a, practice_a, practice_a2, practice_admin
):
    """A busy campaign: 24 practice and 16 PCN times a day for 10 days. The
    patient sees a week of days, then at most about 20 of a day's times under
    their site, with the button within three screens."""
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    days = range(1, 11)
    world.slots("A10001", [at(d, 9) + timedelta(minutes=10 * i) for d in days for i in range(24)])
    world.slots("U10001", [at(d, 9) + timedelta(minutes=15 * i) for d in days for i in range(16)])
    invite, patient = invited_patient(
        practice_a, practice_admin, name="Flu", appointment_type="Flu vaccination", days=12
    )
    options = "[data-testid=slot-option]"
    shots = Path(__file__).resolve().parents[2] / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    screen = {"width": 390, "height": 844}
    context = new_context(viewport=screen)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/book/{token_for_salt(invite.token_salt)}/")
        dob = patient.date_of_birth
        page.get_by_label("Day").fill(str(dob.day))
        page.get_by_label("Month").fill(str(dob.month))
        page.get_by_label("Year").fill(str(dob.year))
        page.get_by_role("button", name="Continue").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a day")
        expect(page.get_by_test_id("day-option")).to_have_count(7)
        expect(page.get_by_test_id("earlier-days")).to_have_count(0)
        expect_accessible(page)
        page.screenshot(path=str(shots / "selfbook-days-phone.png"), full_page=True)
        page.get_by_test_id("later-days").click()
        expect(page.get_by_test_id("day-option")).to_have_count(3)
        page.get_by_test_id("earlier-days").click()
        expect(page.get_by_test_id("day-option")).to_have_count(7)
        page.get_by_test_id("day-option").nth(2).locator("label").click()
        page.get_by_test_id("day-continue").click()

        # One day's first page: at most about 20 times, by site, button in reach.
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a time")
        count = page.locator(options).count()
        assert 10 <= count <= 22, count
        expect(page.get_by_test_id("site-heading")).to_have_text(["Your practice", "Alpha Hub"])
        expect(page.get_by_test_id("chosen-day")).to_contain_text("of 40 times")
        expect_accessible(page)
        button = page.get_by_test_id("book-button").bounding_box()
        scrolled = page.evaluate("window.scrollY")
        assert button["y"] + scrolled + button["height"] <= 3 * screen["height"], button
        page.screenshot(path=str(shots / "selfbook-times-phone.png"), full_page=True)
        first_time = page.locator(f"{options} input").first.get_attribute("value")

        # Later times of the same day, and back.
        page.get_by_test_id("later-times").click()
        later_first = page.locator(f"{options} input").first.get_attribute("value")
        assert later_first != first_time
        expect_accessible(page)
        page.get_by_test_id("earlier-times").click()
        expect(page.locator(f"{options} input").first).to_have_attribute("value", first_time)
        # Through to the day's end, then the next day.
        while page.get_by_test_id("later-times").count():
            page.get_by_test_id("later-times").click()
        page.get_by_test_id("next-day").click()
        expect(page.get_by_test_id("previous-day")).to_be_visible()

        # Works with no JavaScript at all: links and forms only.
        page.locator(f"{options}[data-source=practice]").first.locator("label").click()
        page.get_by_test_id("book-button").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Appointment booked")
        assert Booking.objects.filter(status="booked").count() == 1
    finally:
        context.close()


def test_the_picker_works_without_javascript(
    live_server, new_context, pcn_a, practice_a, practice_a2, practice_admin
):
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    world.slots("A10001", [at(d, 9) + timedelta(minutes=10 * i) for d in (1, 2) for i in range(30)])
    invite, patient = invited_patient(
        practice_a, practice_admin, name="Flu", appointment_type="Flu vaccination", days=5
    )
    context = new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/book/{token_for_salt(invite.token_salt)}/")
        dob = patient.date_of_birth
        page.get_by_label("Day").fill(str(dob.day))
        page.get_by_label("Month").fill(str(dob.month))
        page.get_by_label("Year").fill(str(dob.year))
        page.get_by_role("button", name="Continue").click()
        page.get_by_test_id("day-option").nth(1).locator("label").click()
        page.get_by_test_id("day-continue").click()
        page.get_by_test_id("later-times").click()
        page.locator("[data-testid=slot-option]").last.locator("label").click()
        page.get_by_test_id("book-button").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Appointment booked")
        booking = Booking.objects.get(status="booked")
        assert timezone.localtime(booking.start).date() == at(2, 9).date()
    finally:
        context.close()
