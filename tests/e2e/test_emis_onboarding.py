"""A practice whose PCN is not connected asks for onboarding; support sees it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from emis_integration.models import OnboardingRequest

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
