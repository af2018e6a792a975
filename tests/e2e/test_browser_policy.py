"""The main pages of each audience render in Chromium with no Content-Security-Policy
violation: patients' self-book pages, staff pages, the admin (every changelist and
add form on its index, and the tracing and EMIS pages), sign-in, 404 and 500.

The `page` fixture (tests/e2e/conftest.py) fails any e2e test whose pages violate
the policy; this module opens each kind of page on purpose, and first proves that the
watcher does see a violation when there is one.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import path
from django.utils import timezone
from playwright.sync_api import Page, expect

from booking import services
from booking.models import Booking, Invite
from booking.tokens import new_token_fields, token_for_salt
from emis_integration.models import EmisConnection
from hippo_pcn import urls as project_urls
from tests.booking.factories import PatientFactory
from tests.emis_world import EmisWorld, at
from tests.tracing.helpers import make_task
from tracing.models import PollCursor

from .helpers import sign_in
from .test_selfbook import invited_patient


def _server_error(request):
    raise RuntimeError("A deliberate failure: the 500 page is rendered under the policy.")


# This module doubles as a URLconf (test_sign_in_404_and_500_pages): the project's
# URLs plus one view that fails.
urlpatterns = [path("e2e-server-error/", _server_error), *project_urls.urlpatterns]


def visit(page: Page, url: str, *, status: int = 200) -> None:
    """Open `url`, check its status and that it carries the policy, and wait until its
    styles and scripts have loaded (any violation is reported by then)."""
    response = page.goto(url)
    assert response is not None, url
    assert response.status == status, (url, response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, (url, policy)
    page.wait_for_load_state("load")


def world_with_a_campaign(live_server, pcn_a, practice_a, practice_a2, practice_admin):
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    world.slots("U10001", [at(2, 10), at(3, 11)])
    world.slots("A10001", [at(2, 9), at(4, 9)])
    invite, patient = invited_patient(
        practice_a, practice_admin, name="Flu", appointment_type="Flu vaccination", days=7
    )
    return world, invite, patient


def test_the_watcher_reports_inline_script_and_style(live_server, page: Page, csp_violations):
    visit(page, f"{live_server.url}/accounts/login/")
    page.evaluate(
        """() => {
          const holder = document.createElement("div");
          holder.innerHTML = '<p id="styled" style="color: rgb(255, 0, 0)">Styled</p>';
          document.body.append(holder);
          const script = document.createElement("script");
          script.textContent = "window.__inlineScriptRan = true;";
          document.body.append(script);
        }"""
    )
    page.wait_for_function("window.__cspViolations.length >= 2")
    # The browser refused both.
    assert page.evaluate("window.__inlineScriptRan === undefined")
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != (
        "rgb(255, 0, 0)"
    )
    for _ in range(50):  # the binding's reports reach the test asynchronously
        if any("style-src-attr" in v for v in csp_violations) and any(
            "script-src-elem" in v for v in csp_violations
        ):
            break
        page.wait_for_timeout(100)
    assert any("style-src-attr" in v for v in csp_violations), csp_violations
    assert any("script-src-elem" in v for v in csp_violations), csp_violations
    # Seen and expected: not a failure of this test. Closing the page first lets every
    # report still on its way (Chromium's console errors) arrive before the list is cleared.
    page.close()
    csp_violations.clear()


def test_sign_in_404_and_500_pages(live_server, page: Page, practice_staff, settings):
    visit(page, f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(practice_staff.username)
    page.locator("#id_password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    visit(page, f"{live_server.url}/no-such-page/", status=404)
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")

    # A form sent without its CSRF cookie: our 403_csrf.html, not Django's inline-styled page.
    visit(page, f"{live_server.url}/accounts/login/")
    page.context.clear_cookies()
    page.locator("#id_username").fill(practice_staff.username)
    page.locator("#id_password").fill("not the password")
    with page.expect_response(lambda response: response.status == 403):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The form could not be sent")

    settings.ROOT_URLCONF = __name__
    visit(page, f"{live_server.url}/e2e-server-error/", status=500)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sorry, there is a problem with the service"
    )
    # Its stylesheet applied: the page is a centred column, not the browser's default.
    assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"


def test_patient_self_book_pages(
    live_server, page: Page, pcn_a, practice_a, practice_a2, practice_admin
):
    _world, invite, patient = world_with_a_campaign(
        live_server, pcn_a, practice_a, practice_a2, practice_admin
    )
    link = f"{live_server.url}/book/{token_for_salt(invite.token_salt)}/"
    visit(page, link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Book your appointment")
    page.get_by_label("Day").fill("1")
    page.get_by_label("Month").fill("1")
    page.get_by_label("Year").fill("1901")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("does not match")
    dob = patient.date_of_birth
    page.get_by_label("Day").fill(str(dob.day))
    page.get_by_label("Month").fill(str(dob.month))
    page.get_by_label("Year").fill(str(dob.year))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a day")
    page.get_by_test_id("day-continue").click()  # no day chosen: the error summary
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    page.get_by_test_id("day-option").first.locator("label").click()
    page.get_by_test_id("day-continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a time")
    page.get_by_test_id("book-button").click()  # no time chosen: the error summary
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    page.locator("[data-testid=slot-option][data-source=pcn]").first.locator("label").click()
    page.get_by_test_id("book-button").click()
    # A PCN site: the consent page, first without the tick (its error summary).
    page.get_by_test_id("consent-book-button").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    page.locator("input[name=pcn_consent]").check()
    page.get_by_test_id("consent-book-button").click()
    expect(page.get_by_test_id("confirmation")).to_contain_text("Appointment booked")
    visit(page, link)  # the booked page
    page.get_by_role("link", name="Change the time").click()
    page.get_by_test_id("day-option").first.locator("label").click()
    page.get_by_test_id("day-continue").click()
    expect(page.get_by_test_id("slot-option").first).to_be_visible()
    page.get_by_test_id("change-day").click()
    expect(page.get_by_test_id("day-option").first).to_be_visible()
    visit(page, f"{link}cancel/")
    page.get_by_role("button", name="Cancel appointment").click()
    expect(page.get_by_test_id("cancelled")).to_contain_text("Appointment cancelled")

    # Another patient declines; a third is locked out after wrong dates of birth.
    for other in ("decline", "lock"):
        other_patient = PatientFactory(practice=practice_a)
        services.campaign_add_patients(
            user=practice_admin, campaign=invite.campaign, patients=[other_patient]
        )
        other_invite = Invite.objects.create(
            campaign=invite.campaign,
            patient=other_patient,
            channel="sms",
            expires_at=timezone.now() + timedelta(days=7),
            **new_token_fields(),
        )
        other_link = f"{live_server.url}/book/{token_for_salt(other_invite.token_salt)}/"
        if other == "decline":
            visit(page, other_link)
            other_dob = other_patient.date_of_birth
            page.get_by_label("Day").fill(str(other_dob.day))
            page.get_by_label("Month").fill(str(other_dob.month))
            page.get_by_label("Year").fill(str(other_dob.year))
            page.get_by_role("button", name="Continue").click()
            visit(page, f"{other_link}decline/")
            page.get_by_role("button", name="Send").click()  # no reason: the error summary
            expect(page.locator(".nhsuk-error-summary")).to_be_visible()
            page.locator("input[name=reason]").first.check()
            page.get_by_role("button", name="Send").click()
            expect(page.get_by_role("heading", level=1)).not_to_have_text(
                "You do not want this appointment"
            )
        else:
            visit(page, other_link)
            for _ in range(5):
                page.get_by_label("Day").fill("2")
                page.get_by_label("Month").fill("2")
                page.get_by_label("Year").fill("1902")
                page.get_by_role("button", name="Continue").click()
                page.wait_for_load_state("load")
            visit(page, other_link, status=403)  # locked
    visit(page, f"{live_server.url}/book/not-a-real-link/", status=404)


def test_staff_pages(live_server, page: Page, pcn_a, practice_a, practice_a2, practice_admin):
    _world, invite, patient = world_with_a_campaign(
        live_server, pcn_a, practice_a, practice_a2, practice_admin
    )
    campaign = invite.campaign
    base = live_server.url
    sign_in(page, base, practice_admin.username)
    expect(page.get_by_test_id("signed-in-as")).to_be_visible()
    # The NHS.UK frontend scripts, now static files, ran: JavaScript is flagged on the
    # body and the header component is initialised.
    expect(page.locator("body")).to_have_class(re.compile(r"\bnhsuk-frontend-supported\b"))
    expect(page.locator("header.nhsuk-header")).to_have_attribute("data-nhsuk-header-init", "")
    for url in (
        "/",
        "/booking/campaigns/",
        "/booking/practices/A10001/campaigns/",
        "/booking/practices/A10001/campaigns/new/",
        f"/booking/campaigns/{campaign.pk}/",
        f"/booking/campaigns/{campaign.pk}/edit/",
        f"/booking/campaigns/{campaign.pk}/invites/",
        f"/booking/campaigns/{campaign.pk}/non-responders/",
        "/booking/practices/A10001/demo-messages/",
        "/booking/patients/",
        "/booking/practices/A10001/patients/",
        "/booking/practices/A10001/patients/import/",
        "/emis/pcn-connection/",
        "/accounts/security/",
        "/accounts/security/set-up/",  # the QR code is a data: image
    ):
        visit(page, f"{base}{url}")

    # A form with errors, then a booking, and its move and cancel pages.
    visit(page, f"{base}/booking/practices/A10001/campaigns/new/")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    visit(page, f"{base}/booking/campaigns/{campaign.pk}/patients/{patient.pk}/book/")
    page.locator("[data-testid=slot-option][data-source=practice]").first.locator("input").check()
    page.get_by_test_id("confirm-booking").click()
    expect(page.get_by_role("status")).to_contain_text("is booked")
    booking = Booking.objects.get(patient=patient, status="booked")
    visit(page, f"{base}/booking/bookings/{booking.pk}/move/")
    visit(page, f"{base}/booking/bookings/{booking.pk}/cancel/")
    visit(page, f"{base}/no-such-page/", status=404)
    # The API's tokens page and its docs (Swagger UI from local files).
    visit(page, f"{base}/accounts/api-tokens/")
    visit(page, f"{base}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible()


def _admin_links(page: Page) -> list[str]:
    hrefs = page.locator("#content-main a").evaluate_all("links => links.map(a => a.href)")
    return sorted({href for href in hrefs if re.search(r"/admin/[^#?]+/$", href)})


@pytest.mark.parametrize("role", ["superuser", "pcn_tracer"])
def test_admin_pages(
    live_server, page: Page, request, role, pcn_a, practice_a, practice_a2, practice_admin
):
    world, _invite, _patient = world_with_a_campaign(
        live_server, pcn_a, practice_a, practice_a2, practice_admin
    )
    connection = world.connections["U10001"]
    task = make_task(connection, patient_family_name="Overdue", due_in=timedelta(hours=-2))
    make_task(connection, appointment_start=timezone.now() + timedelta(hours=3))
    # Not polled for an hour: the banner is worked out live from that.
    hour_ago = timezone.now() - timedelta(hours=1)
    EmisConnection.objects.filter(pk=connection.pk).update(
        status_changed_at=hour_ago, created_at=hour_ago
    )
    PollCursor.objects.update_or_create(
        connection=connection,
        defaults={"last_success_at": hour_ago, "last_error": "EMIS did not answer"},
    )
    user = request.getfixturevalue(role)
    base = live_server.url
    sign_in(page, base, user.username)
    visit(page, f"{base}/admin/")
    links = _admin_links(page)
    assert links, "the admin index lists no models"
    for link in links:  # every changelist and add form on the index
        visit(page, link)
    for url in (
        "/admin/tracing/tracingtask/",
        "/admin/tracing/tracingtask/?due=overdue",
        f"/admin/tracing/tracingtask/{task.pk}/change/",
        "/admin/tracing/tracingtask/dashboard/",
        "/admin/emis_integration/emisconnection/",
        f"/admin/emis_integration/emisconnection/{connection.pk}/change/",
    ):
        visit(page, f"{base}{url}")
    # An action's intermediate page (admin/tracing/cannot_trace.html), with its errors.
    visit(page, f"{base}/admin/tracing/tracingtask/")
    page.locator(f"input[name=_selected_action][value='{task.pk}']").check()
    page.locator("select[name=action]").select_option(label="Cannot trace…")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Why can these patients not be traced?"
    )
    page.get_by_label("Reason:").select_option(label="Other (explain)")  # with no note
    page.get_by_role("button", name="Record “cannot trace”").click()
    expect(page.locator("p.errornote")).to_contain_text("Say why the patient cannot be traced")
    if role == "superuser":
        visit(page, f"{base}/admin/tracing/tracingtask/{task.pk}/history/")
        # Support's poll alert banner, and the user admin's password pages.
        visit(page, f"{base}/admin/")
        expect(page.locator("#tracing-poll-alert")).to_be_visible()
        visit(page, f"{base}/admin/auth/user/{practice_admin.pk}/change/")
        visit(page, f"{base}/admin/auth/user/{practice_admin.pk}/password/")
        visit(page, f"{base}/admin/password_change/")
        group = Group.objects.create(name="Browser policy check")
        visit(page, f"{base}/admin/auth/group/{group.pk}/delete/")
        expect(page.get_by_role("button", name=re.compile("Yes"))).to_be_visible()
        # django-celery-beat's form, its inline script moved to a static file: it runs.
        visit(page, f"{base}/admin/django_celery_beat/periodictask/add/")
        expect(page.locator(".field-crontab_translation")).to_be_hidden()
