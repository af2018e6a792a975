"""Sign in through the real login form as each role and check what the staff home
page and the admin index offer.

Data comes from the shared fixtures in tests/conftest.py (Alpha PCN U10001 with
Alpha Surgery A10001, plus Beta PCN/Beta Surgery as "someone else's" data). They
request `db`, which pytest-django turns into a transactional database when the test
also uses `live_server`, so the live server thread sees the committed rows.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .helpers import sign_in

PRACTICE_LINKS_SEEN_BY_ALL_STAFF = ["Organisations", "Audit log"]
SUPPORT_ONLY_LINKS = ["User accounts", "Scheduled jobs"]

# Admin index sections (app captions) and the models listed in them.
ORGANISATIONS_SECTION = "Organisations and roles"
AUDIT_SECTION = "Audit log"
AUTH_SECTION = "Authentication and Authorization"
BEAT_SECTION = "Periodic tasks"


# --- helpers -------------------------------------------------------------------------
def admin_section(page: Page, name: str):
    """The admin index table for one app, found by its caption (case aside:
    django-celery-beat calls its app "Periodic Tasks")."""
    caption = re.compile(rf"^{re.escape(name)}$", re.IGNORECASE)
    return page.locator("#content-main").get_by_role("table", name=caption)


def expect_admin_sections(page: Page, *, present: dict[str, list[str]], absent: list[str]):
    expect(page.get_by_role("heading", level=1, name="Administration")).to_be_visible()
    for section, models in present.items():
        table = admin_section(page, section)
        expect(table).to_be_visible()
        for model in models:
            expect(table.get_by_role("rowheader", name=model, exact=True)).to_be_visible()
    for section in absent:
        expect(admin_section(page, section)).to_have_count(0)


def staff_links(page: Page):
    return page.get_by_test_id("staff-links").get_by_role("link")


def expect_staff_links(page: Page, *, present: list[str], absent: list[str]) -> None:
    links = page.get_by_test_id("staff-links")
    expect(links).to_be_visible()
    for title in present:
        expect(links.get_by_role("link", name=title, exact=True)).to_be_visible()
    for title in absent:
        expect(links.get_by_role("link", name=title, exact=True)).to_have_count(0)


def expect_welcome(page: Page, base_url: str, user) -> None:
    expect(page).to_have_url(f"{base_url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {user.get_full_name()}")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(user.get_full_name())


# --- practice roles ------------------------------------------------------------------
PRACTICE_ROLES = [
    pytest.param("practice_staff", "Practice staff", False, id="practice_staff"),
    pytest.param("practice_admin", "Practice admin", True, id="practice_admin"),
]


@pytest.mark.parametrize(("role", "role_label", "manages_staff"), PRACTICE_ROLES)
def test_practice_roles_see_their_practice_and_a_scoped_admin(
    live_server, page: Page, request, practice_b, role, role_label, manages_staff
):
    user = request.getfixturevalue(role)
    sign_in(page, live_server.url, user.username)

    expect_welcome(page, live_server.url, user)
    expect(page.get_by_test_id("support-notice")).to_have_count(0)

    card = page.get_by_test_id("organisation-card")
    expect(card).to_have_count(1)
    expect(card.get_by_role("heading", name="Alpha Surgery")).to_be_visible()
    expect(card).to_contain_text("A10001")
    expect(card).to_contain_text("GP practice")
    expect(card.get_by_test_id("roles")).to_have_text(role_label)
    expect(card).to_contain_text("Alpha PCN (U10001)")
    expect(page.get_by_text("Beta Surgery")).to_have_count(0)

    staff_and_roles = ["Staff and roles"]
    expect_staff_links(
        page,
        present=PRACTICE_LINKS_SEEN_BY_ALL_STAFF + (staff_and_roles if manages_staff else []),
        absent=SUPPORT_ONLY_LINKS + ([] if manages_staff else staff_and_roles),
    )

    # The header's "Admin" item takes staff to the admin index.
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Admin").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect_admin_sections(
        page,
        present={
            ORGANISATIONS_SECTION: ["Organisations", "Memberships"],
            AUDIT_SECTION: ["Audit log"],
        },
        absent=[AUTH_SECTION, BEAT_SECTION],
    )


# --- PCN roles -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "role_label", "manages_staff"),
    [
        pytest.param("pcn_admin", "PCN admin", True, id="pcn_admin"),
        pytest.param("pcn_tracer", "PCN tracer", False, id="pcn_tracer"),
    ],
)
def test_pcn_roles_see_their_pcn_and_its_member_practices(
    live_server,
    page: Page,
    request,
    practice_a,
    practice_a2,
    practice_b,
    role,
    role_label,
    manages_staff,
):
    user = request.getfixturevalue(role)
    sign_in(page, live_server.url, user.username)

    expect_welcome(page, live_server.url, user)
    card = page.get_by_test_id("organisation-card")
    expect(card).to_have_count(1)
    expect(card.get_by_role("heading", name="Alpha PCN")).to_be_visible()
    expect(card).to_contain_text("U10001")
    expect(card).to_contain_text("Primary Care Network")
    expect(card.get_by_test_id("roles")).to_have_text(role_label)
    expect(card.get_by_role("listitem")).to_have_text(
        ["Alpha Second Surgery (A10002)", "Alpha Surgery (A10001)"]
    )
    expect(page.get_by_text("Beta Surgery")).to_have_count(0)

    staff_and_roles = ["Staff and roles"]
    expect_staff_links(
        page,
        present=PRACTICE_LINKS_SEEN_BY_ALL_STAFF + (staff_and_roles if manages_staff else []),
        absent=SUPPORT_ONLY_LINKS + ([] if manages_staff else staff_and_roles),
    )

    page.goto(f"{live_server.url}/admin/")
    expect_admin_sections(
        page,
        present={
            ORGANISATIONS_SECTION: ["Organisations", "Memberships"],
            AUDIT_SECTION: ["Audit log"],
        },
        absent=[AUTH_SECTION, BEAT_SECTION],
    )


# --- support ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["support_user", "superuser"])
def test_support_sees_the_support_notice_and_the_account_admin(
    live_server, page: Page, request, practice_a, role
):
    user = request.getfixturevalue(role)
    sign_in(page, live_server.url, user.username)

    expect_welcome(page, live_server.url, user)
    expect(page.get_by_test_id("support-notice")).to_be_visible()
    expect(page.get_by_test_id("support-notice")).to_contain_text("support team")
    # Support has no membership of its own: no "Your organisations" cards.
    expect(page.get_by_test_id("organisation-card")).to_have_count(0)
    expect_staff_links(
        page,
        present=PRACTICE_LINKS_SEEN_BY_ALL_STAFF + ["Staff and roles"] + SUPPORT_ONLY_LINKS,
        absent=[],
    )

    page.goto(f"{live_server.url}/admin/")
    expect_admin_sections(
        page,
        present={
            ORGANISATIONS_SECTION: ["Organisations", "Memberships"],
            AUDIT_SECTION: ["Audit log"],
            AUTH_SECTION: ["Users", "Groups"],
        },
        absent=[],
    )


@pytest.mark.parametrize(
    "role",
    ["support_user", "superuser"],
)
def test_support_sees_periodic_tasks_in_the_admin(live_server, page: Page, request, role):
    user = request.getfixturevalue(role)
    sign_in(page, live_server.url, user.username)
    expect_welcome(page, live_server.url, user)

    page.goto(f"{live_server.url}/admin/")
    expect_admin_sections(page, present={BEAT_SECTION: ["Periodic tasks"]}, absent=[])


# --- every link on the home page opens ---------------------------------------------------
@pytest.mark.parametrize(
    "role",
    [
        "practice_staff",
        "practice_admin",
        "pcn_admin",
        "pcn_tracer",
        "support_user",
        "superuser",
    ],
)
def test_every_home_page_link_opens_for_the_role(
    live_server, page: Page, request, practice_a, role
):
    """staff_links_for_user promises "only links to pages the user may open"."""
    user = request.getfixturevalue(role)
    sign_in(page, live_server.url, user.username)
    expect_welcome(page, live_server.url, user)

    links = staff_links(page)
    titles = links.all_inner_texts()
    assert titles, "the home page offers no links"
    refused = []
    for title in titles:
        page.goto(f"{live_server.url}/")
        with page.expect_navigation() as navigation:
            staff_links(page).get_by_text(title, exact=True).click()
        response = navigation.value
        if response is None or response.status != 200:
            refused.append((title, page.url, response.status if response else None))
        else:
            expect(page.get_by_role("heading", name="You cannot do that")).to_have_count(0)
    assert refused == []


# --- no membership ---------------------------------------------------------------------
def test_user_without_membership_is_told_and_kept_out_of_the_admin(
    live_server, page: Page, no_membership_user, practice_a
):
    sign_in(page, live_server.url, no_membership_user.username)

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your account is not linked to an organisation yet"
    )
    expect(page.get_by_text("Alpha Surgery")).to_have_count(0)
    # No staff navigation (Home/Admin) for someone without a role.
    expect(page.get_by_role("navigation", name="Menu")).to_have_count(0)

    page.goto(f"{live_server.url}/admin/")
    # The admin refuses: it sends a signed-in user without access back through the
    # admin login, which redirects home (where the reason is explained) rather than
    # showing the sign-in form again.
    expect(page).not_to_have_url(re.compile(r"/admin/"))
    expect(page.get_by_role("heading", name="Administration")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your account is not linked to an organisation yet"
    )


# --- errors and signing out ---------------------------------------------------------------
def test_wrong_password_shows_the_error_summary(live_server, page: Page, practice_staff):
    sign_in(page, live_server.url, practice_staff.username, password="not-the-password")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.locator("#id_username")).to_have_value(practice_staff.username)
    expect(page.locator("#id_password")).to_have_value("")
    expect(page.get_by_test_id("signed-in-as")).to_have_count(0)


def test_signing_out_returns_to_the_login_page(live_server, page: Page, practice_staff):
    sign_in(page, live_server.url, practice_staff.username)
    expect_welcome(page, live_server.url, practice_staff)

    page.get_by_role("navigation", name="Account").get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in to hippo-pcn")).to_be_visible()
    expect(page.get_by_test_id("signed-in-as")).to_have_count(0)

    # The session is gone: the home page asks to sign in again.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
