"""A practice whose PCN is not connected asks for onboarding; support sees it,
and the whole journey to the PCN's slots in a campaign."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from booking.models import Campaign, CampaignStatus
from emis_integration.demo import demo_connection_fill
from emis_integration.models import EmisConnection, OnboardingRequest
from hippo_pcn.organisations.roles import Role
from tests.emis_world import EmisWorld, at
from tests.factories import MembershipFactory, UserFactory

from .helpers import sign_in


def test_practice_user_requests_onboarding_and_support_sees_it(
    live_server, new_context, page: Page, practice_staff, practice_a, support_user
):
    sign_in(page, live_server.url, practice_staff.username)
    page.get_by_test_id("staff-links").get_by_role("link", name="PCN connection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your PCN's EMIS connection")
    notice = page.get_by_test_id("pcn-diagnosis")
    expect(notice).to_have_attribute("data-state", "not_connected")
    expect(notice).to_contain_text("Your PCN's EMIS Community is not connected to hippo-pcn yet")

    notice.get_by_role("button", name="Request onboarding").click()

    expect(page.get_by_role("status")).to_contain_text("has been requested")
    expect(page.get_by_test_id("pcn-diagnosis")).to_have_attribute("data-state", "requested")
    expect(page.get_by_test_id("request-onboarding")).to_have_count(0)
    request = OnboardingRequest.objects.get()
    assert request.practice == practice_a
    assert request.requested_by == practice_staff

    support = new_context()
    try:
        support_page = support.new_page()
        sign_in(support_page, live_server.url, support_user.username)
        support_page.get_by_test_id("staff-links").get_by_role(
            "link", name="Onboarding requests"
        ).click()
        row = support_page.locator("#result_list tbody tr").first
        expect(row).to_contain_text("Alpha PCN")
        expect(row).to_contain_text("Alpha Surgery")
        expect(row).to_contain_text("Open")
    finally:
        support.close()


def _run_action(page: Page, pk: int, label: str) -> None:
    page.locator(f"input[name=_selected_action][value='{pk}']").check()
    page.locator("select[name=action]").select_option(label=label)
    page.get_by_role("button", name="Go").click()


def test_the_onboarding_journey_from_request_to_pcn_slots(
    live_server,
    new_context,
    page: Page,
    settings,
    practice_admin,
    practice_a,
    practice_a2,
    pcn_a,
    support_user,
):
    """Request, a second practice joins, support's test fails and support says why,
    the practices see the reason, support takes it live, the requesters are
    emailed, and the campaign shows the PCN's slots without a Refresh."""
    world = EmisWorld(base_url=live_server.url).add_practice(practice_a)
    world.slots(practice_a.ods_code, [at(1, 9), at(1, 10)])
    campaign = Campaign.objects.create(
        practice=practice_a,
        created_by=practice_admin,
        name="Winter flu",
        appointment_type="Flu vaccination",
        start_date=timezone.localdate(),
        end_date=timezone.localdate() + timedelta(days=27),
        use_pcn_slots=True,
        status=CampaignStatus.ACTIVE,
        slot_service_types=["Flu vaccination"],
    )
    second = UserFactory(username="a2.practice_admin")
    MembershipFactory(user=second, organisation=practice_a2, role=Role.PRACTICE_ADMIN)

    # 1. The first practice asks.
    sign_in(page, live_server.url, practice_admin.username)
    page.goto(f"{live_server.url}/emis/pcn-connection/")
    page.get_by_test_id("request-onboarding").click()
    expect(page.get_by_role("status")).to_contain_text("has been requested")

    # 2. A second practice of the PCN joins the open request from the same page.
    other = new_context()
    other_page = other.new_page()
    sign_in(other_page, live_server.url, second.username)
    other_page.goto(f"{live_server.url}/emis/pcn-connection/")
    expect(other_page.get_by_test_id("open-request")).to_have_attribute("data-joined", "no")
    other_page.get_by_test_id("join-onboarding").click()
    expect(other_page.get_by_role("status")).to_contain_text("you have been added")
    expect(other_page.get_by_test_id("open-request")).to_have_attribute("data-joined", "yes")
    expect(other_page.get_by_test_id("join-onboarding")).to_have_count(0)
    request = OnboardingRequest.objects.get()
    assert request.requesters.count() == 2

    # 3. Support starts onboarding, tests the still-empty connection: it fails, and
    #    support marks it failed saying why.
    support = new_context()
    support_page = support.new_page()
    sign_in(support_page, live_server.url, support_user.username)
    support_page.goto(f"{live_server.url}/admin/emis_integration/onboardingrequest/")
    _run_action(support_page, request.pk, "Start onboarding (creates the PCN's connection)")
    expect(support_page.locator(".messagelist")).to_contain_text("onboarding started")
    connection = EmisConnection.objects.get(organisation=pcn_a)
    support_page.goto(f"{live_server.url}/admin/emis_integration/emisconnection/")
    _run_action(support_page, connection.pk, "Move to testing")
    _run_action(support_page, connection.pk, "Test connection (calls EMIS)")
    expect(support_page.locator(".messagelist")).to_contain_text("test failed")
    reason = "EMIS has not sent Alpha PCN's connection details yet; we have chased them."
    _run_action(support_page, connection.pk, "Mark failed…")
    support_page.locator("textarea[name=reason]").fill(reason)
    support_page.get_by_role("button", name="Confirm").click()
    expect(support_page.locator(".messagelist")).to_contain_text("is now failed")

    # 4. The practices see the reason, in support's words.
    page.goto(f"{live_server.url}/emis/pcn-connection/")
    notice = page.get_by_test_id("pcn-diagnosis")
    expect(notice).to_have_attribute("data-state", "failed")
    expect(page.get_by_test_id("support-reason")).to_contain_text(reason)
    expect(other_page.get_by_test_id("support-reason")).to_have_count(0)  # not reloaded yet
    other_page.reload()
    expect(other_page.get_by_test_id("support-reason")).to_contain_text(reason)
    other.close()

    # 5. EMIS's details arrive (the sandbox's, here), support tests again and marks live.
    world.add_pcn(pcn_a, [practice_a, practice_a2])
    world.slots(pcn_a.ods_code, [at(1, 9), at(1, 10), at(2, 9)])
    settings.EMIS_SANDBOX_BASE_URL = f"{live_server.url}/emis-sandbox"
    demo_connection_fill(ods_code=pcn_a.ods_code)
    mail.outbox.clear()
    support_page.goto(f"{live_server.url}/admin/emis_integration/emisconnection/")
    _run_action(support_page, connection.pk, "Move to testing")
    _run_action(support_page, connection.pk, "Test connection (calls EMIS)")
    expect(support_page.locator(".messagelist")).to_contain_text("test passed")
    _run_action(support_page, connection.pk, "Mark live (after a passed test)")
    expect(support_page.locator(".messagelist")).to_contain_text("is now live")
    support.close()

    # 6. Each requester is emailed once.
    assert sorted(m.to[0] for m in mail.outbox) == sorted([practice_admin.email, second.email])
    assert all("Alpha PCN" in m.subject and len(m.to) == 1 for m in mail.outbox)

    # 7. The campaign shows the PCN's slots at once: nobody pressed Refresh.
    page.goto(f"{live_server.url}/booking/campaigns/{campaign.pk}/")
    pcn_row = page.locator("[data-testid=slot-sources] tr[data-source=pcn]")
    expect(pcn_row.get_by_test_id("free-count")).to_have_text("3")
    expect(page.get_by_test_id("pcn-diagnosis")).to_have_attribute("data-state", "live")
