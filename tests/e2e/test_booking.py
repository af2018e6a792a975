"""A practice user creates a campaign with PCN slots, books a patient into a PCN
slot and sees it labelled PCN with its site; a practice whose PCN is not live
sees the notice and requests onboarding."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from booking import services
from booking.models import Booking, Campaign, Slot
from booking.selectors import campaign_offerable_slots
from emis_integration.models import OnboardingRequest
from tests.booking.factories import PatientFactory
from tests.booking.test_offerable_slots import add_schedule, add_slots
from tests.booking.test_selfbook import make_invite
from tests.emis_world import EmisWorld, at

from .helpers import sign_in


def test_practice_books_a_patient_into_a_pcn_slot(
    live_server, page: Page, practice_admin, pcn_a, practice_a, practice_a2
):
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    world.slots("U10001", [at(2, 10), at(3, 11)])
    world.slots("A10001", [at(2, 9)])
    patient = PatientFactory(practice=practice_a, first_name="Grace", last_name="Hopper")

    sign_in(page, live_server.url, practice_admin.username)
    page.get_by_test_id("staff-links").get_by_role("link", name="Campaigns").click()
    page.get_by_test_id("new-campaign").click()
    today = timezone.localdate()
    page.get_by_label("Campaign name").fill("Winter flu clinic")
    page.get_by_label("Appointment type").fill("Flu vaccination")
    page.get_by_label("First day").fill(today.isoformat())
    page.get_by_label("Last day").fill((today + timedelta(days=10)).isoformat())
    page.get_by_label("Offer PCN slots").check()
    page.get_by_test_id("filter-slot_service_types").get_by_label("Flu vaccination").check()
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Save campaign").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Winter flu clinic")
    page.get_by_test_id("refresh-slots").click()
    expect(page.get_by_test_id("slot-sources")).to_contain_text("PCN")
    pcn_row = page.get_by_test_id("slot-sources").locator("tr[data-source=pcn]")
    expect(pcn_row.get_by_test_id("free-count")).to_have_text("2")
    expect(page.get_by_test_id("pcn-diagnosis")).to_have_attribute("data-state", "live")

    page.get_by_role("button", name="Add all 1 practice patients").click()
    page.get_by_test_id("book-link").first.click()
    # Day first: the two days with free slots, the first chosen, its slots by site.
    expect(page.get_by_test_id("day-link")).to_have_count(2)
    expect(page.get_by_test_id("day-link").first).to_have_attribute("aria-current", "date")
    options = page.get_by_test_id("slot-option")
    expect(options).to_have_count(2)
    expect(page.get_by_test_id("site-heading")).to_have_count(2)
    page.get_by_test_id("next-day").click()
    expect(options).to_have_count(1)
    page.get_by_test_id("day-link").first.click()
    expect(options).to_have_count(2)
    pcn_option = page.locator("[data-testid=slot-option][data-source=pcn]").first
    expect(pcn_option).to_contain_text("Alpha Hub")
    pcn_option.locator("input").check()
    page.get_by_test_id("confirm-booking").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("agrees to be seen by the PCN")
    page.locator("[data-testid=slot-option][data-source=pcn]").first.locator("input").check()
    page.get_by_label("The patient agrees to be seen by the PCN").check()
    page.get_by_test_id("confirm-booking").click()

    expect(page.get_by_role("status")).to_contain_text("Grace Hopper is booked")
    cell = page.get_by_test_id("booking-cell").first
    expect(cell.get_by_test_id("slot-source")).to_have_text("PCN")
    expect(cell.get_by_test_id("slot-site")).to_have_text("Alpha Hub")
    # Unknown at the PCN's EMIS: booking registered Grace there (temporarily),
    # which is the tracing done.
    expect(cell.get_by_test_id("tracing-state")).to_contain_text("Tracing: Traced")
    booking = Booking.objects.get(patient=patient)
    assert booking.is_pcn and booking.pcn_consent_by == practice_admin
    assert "Registered at the PCN at booking" in booking.tracing_task.verification_note


def test_practice_whose_pcn_is_not_live_sees_why_and_asks(
    live_server, page: Page, practice_admin, pcn_a, practice_a
):
    EmisWorld(base_url=live_server.url).add_practice(practice_a)
    sign_in(page, live_server.url, practice_admin.username)
    page.goto(f"{live_server.url}/booking/practices/A10001/campaigns/new/")
    notice = page.get_by_test_id("pcn-diagnosis")
    expect(notice).to_have_attribute("data-state", "not_connected")
    expect(notice).to_contain_text("not connected to hippo-pcn yet")
    notice.get_by_role("button", name="Request onboarding").click()
    expect(page.get_by_role("status")).to_contain_text("has been requested")
    expect(page.get_by_test_id("pcn-diagnosis")).to_have_attribute("data-state", "requested")
    assert OnboardingRequest.objects.filter(pcn=pcn_a, practice=practice_a).exists()


def test_a_booster_campaign_never_offers_a_telephone_or_health_check_slot(
    live_server, page: Page, practice_admin, pcn_a, practice_a, practice_a2
):
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    for ods, hour in (("U10001", 9), ("A10001", 13)):
        for minute, (service, channel) in enumerate(
            [
                ("Covid-19 vaccination", "In-person"),
                ("Covid-19 vaccination", "Telephone"),
                ("NHS Health Check", "In-person"),
                ("Long-term condition review", "Telephone"),
            ]
        ):
            schedule = add_schedule(world, ods, service, channel)
            add_slots(world, ods, schedule, [at(2, hour, 10 * minute), at(3, hour, 10 * minute)])

    sign_in(page, live_server.url, practice_admin.username)
    page.goto(f"{live_server.url}/booking/practices/A10001/campaigns/new/")
    today = timezone.localdate()
    page.get_by_label("Campaign name").fill("Covid booster")
    page.get_by_label("Appointment type").fill("Covid-19 vaccination")
    page.get_by_label("First day").fill(today.isoformat())
    page.get_by_label("Last day").fill((today + timedelta(days=6)).isoformat())
    types = page.get_by_test_id("filter-slot_service_types")
    expect(types.get_by_label("NHS Health Check")).to_be_visible()  # seen in EMIS: offered
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Choose at least one slot type")

    page.get_by_test_id("filter-slot_service_types").get_by_label("Covid-19 vaccination").check()
    channels = page.get_by_test_id("filter-delivery_channels")
    expect(channels.get_by_label("In-person")).to_be_checked()
    expect(channels.get_by_label("Telephone")).not_to_be_checked()
    page.get_by_role("button", name="Save campaign").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Covid booster")
    page.get_by_test_id("refresh-slots").click()
    sources = page.get_by_test_id("slot-sources")
    expect(sources.locator("tr[data-source=practice]").get_by_test_id("free-count")).to_have_text(
        "2"
    )
    expect(sources.locator("tr[data-source=pcn]").get_by_test_id("free-count")).to_have_text("2")
    expect(page.get_by_test_id("slot-filter")).to_have_text("Covid-19 vaccination (In-person)")

    campaign = Campaign.objects.get(name="Covid booster")
    patient = PatientFactory(practice=practice_a)
    services.campaign_add_patients(user=practice_admin, campaign=campaign, patients=[patient])
    page.goto(f"{live_server.url}/booking/campaigns/{campaign.pk}/patients/{patient.pk}/book/")
    staff_shown = set()
    expect(page.get_by_test_id("day-link")).to_have_count(2)
    for day in range(2):
        page.get_by_test_id("day-link").nth(day).click()
        options = page.get_by_test_id("slot-option")
        expect(options).to_have_count(2)
        for option in options.all():
            expect(option).to_have_attribute("data-service-type", "Covid-19 vaccination")
            expect(option).to_have_attribute("data-channel", "In-person")
        expect(page.locator("#main-form")).not_to_contain_text("Health Check")
        expect(page.locator("#main-form")).not_to_contain_text("Telephone")
        staff_shown |= {
            int(v)
            for v in page.locator("input[name=slot]").evaluate_all(
                "inputs => inputs.map(i => i.value)"
            )
        }

    invite, token = make_invite(campaign, patient)
    page.goto(f"{live_server.url}/book/{token}/")
    dob = patient.date_of_birth
    page.get_by_label("Day").fill(str(dob.day))
    page.get_by_label("Month").fill(str(dob.month))
    page.get_by_label("Year").fill(str(dob.year))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a day")
    self_shown = set()
    for day in range(2):
        page.get_by_test_id("day-option").nth(day).locator("label").click()
        page.get_by_test_id("day-continue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a time")
        expect(page.get_by_test_id("slot-option")).to_have_count(2)
        expect(page.locator("#slots")).not_to_contain_text("Health Check")
        expect(page.locator("#slots")).not_to_contain_text("Telephone")
        self_shown |= {
            int(v)
            for v in page.locator("input[name=slot]").evaluate_all(
                "inputs => inputs.map(i => i.value)"
            )
        }
        page.get_by_test_id("change-day").click()
    offered = set(campaign_offerable_slots(campaign=campaign).values_list("pk", flat=True))
    assert staff_shown == self_shown == offered
    for slot in Slot.objects.filter(pk__in=offered):
        assert (slot.service_type, slot.delivery_channel) == ("Covid-19 vaccination", "In-person")
