"""No link anywhere in the app leads to a 403 or a 404 (issue 14).

The demo data as `make demo` seeds it, then a breadth-first crawl from "/" and
"/admin/" as each kind of demo login, and of the self-book pages as a patient,
following every same-site link and navigating form (redirects included). Every
403, 404 or 5xx reached, and every signed-in person sent back to sign in, is
collected and reported together: who, the URL, its status and the page that
linked to it. See tests/link_crawl.py for what is followed and the bounds."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from booking.invites import invites_send_batch
from booking.models import Booking, BookingStatus, Campaign, Invite
from booking.tokens import new_token_fields, token_for_salt

from .link_crawl import Crawl, Finding, links_in, url_kind

# The test client's host, and the one links in messages are written with.
HOSTS = frozenset({"testserver", urlsplit(settings.PUBLIC_BASE_URL).netloc})

# Every kind of person the demo has (README, "Demo logins").
ROLES = {
    "support": "support team",
    "b82001.admin": "practice admin, Hillside Health Centre (campaign with bookings)",
    "b82001.staff": "practice staff, Hillside Health Centre",
    "a81001.admin": "practice admin, Riverside Surgery (its PCN still in testing)",
    "u00002.admin": "PCN admin, Hillside PCN (live)",
    "u00002.tracer": "PCN tracer, Hillside PCN (live)",
    "u00001.admin": "PCN admin, Riverside PCN (in testing, practice-led tracing)",
    "u00001.tracer": "PCN tracer, Riverside PCN",
    "u00003.admin": "PCN admin, Brookside PCN (not connected)",
    "d84001.admin": "practice admin, Brookside Surgery (its PCN not connected)",
    "c83001.staff": "practice staff, Fenwick Road Surgery (no PCN)",
}
# The crawl is no formality: it opens the pages each kind of person works in.
OWN_PAGES = {
    "b82001.admin": {
        "/booking/campaigns/<id>/",
        "/booking/campaigns/<id>/patients/<id>/book/",
        "/booking/bookings/<id>/move/",
        "/booking/practices/<ods>/demo-messages/",
        "/emis/pcn-connection/",
        "/accounts/security/",
        "/admin/booking/patient/<id>/change/",
    },
    "u00002.tracer": {
        "/admin/tracing/tracingtask/",
        "/admin/tracing/tracingtask/<id>/change/",
    },
    "support": {
        "/admin/auth/user/<id>/change/",
        "/admin/emis_integration/emisconnection/<id>/change/",
        "/admin/emis_sandbox/slot/",
    },
    "d84001.admin": {"/emis/pcn-connection/", "/booking/practices/<ods>/campaigns/new/"},
}


def _assert_no_broken_links(findings: list[Finding]) -> None:
    if findings:
        pytest.fail("Broken links:\n" + "\n".join(map(str, findings)), pytrace=False)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo data, seeded once for the module as `make demo` does and rolled
    back after it; each test runs in a savepoint inside."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", stdout=StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo_db(demo, db, emis_in_process, settings, tmp_path):
    """The seeded demo, EMIS (the sandbox) reached in-process as in the demo, and
    one invitation sent to a Winter flu clinic patient through the demo's message
    file, so that the "Demo messages" page lists it with its link."""
    settings.NOTIFY_BACKEND = "file"
    settings.NOTIFY_FILE_PATH = str(tmp_path / "messages.jsonl")
    # The demo's scheduler is running (its heartbeat is fresh), so the footer's
    # "Service status" (/healthz) answers 200 however long the suite has run.
    from hippo_pcn.health.services import heartbeat_touch

    heartbeat_touch()
    campaign = Campaign.objects.get(name="Winter flu clinic")
    now = timezone.localtime()
    # Inside its sending hours whatever the time of day (the seed's end at 23:59).
    Campaign.objects.filter(pk=campaign.pk).update(
        sending_from=(now - timedelta(hours=1)).time(),
        sending_until=(now + timedelta(hours=1)).time(),
    )
    booked = Booking.objects.filter(campaign=campaign, status=BookingStatus.BOOKED)
    invite = Invite.objects.create(
        campaign=campaign,
        patient=campaign.patients.exclude(pk__in=booked.values("patient")).first(),
        channel="sms",
        expires_at=timezone.now() + timedelta(days=7),
        **new_token_fields(),
    )
    assert invites_send_batch(invite_ids=[invite.pk]).sent == 1
    return invite


def _staff_client(username: str) -> Client:
    client = Client(raise_request_exception=False)  # a 500 is a finding, not a crash
    client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.mark.parametrize("username", list(ROLES))
def test_no_link_leads_to_a_403_or_404(demo_db, username):
    crawl = Crawl(who=username, client=_staff_client(username), hosts=HOSTS)
    crawl.run(["/", "/admin/"])
    opened = {url_kind(url)[0] for url in crawl.visited}
    assert {"/", "/admin/", *OWN_PAGES.get(username, ())} <= opened, sorted(opened)
    # The bound cut nothing off: every kind of page linked was opened.
    assert not crawl.unvisited_kinds, sorted(crawl.unvisited_kinds)
    _assert_no_broken_links(crawl.findings)


def _patient(link: str, *, date_of_birth: date | None) -> tuple[Client, str]:
    """A patient's browser on their link, past the date of birth step if given."""
    start = urlsplit(link).path
    client = Client(raise_request_exception=False)
    if date_of_birth is not None:
        response = client.post(
            start,
            {"day": date_of_birth.day, "month": date_of_birth.month, "year": date_of_birth.year},
        )
        assert response.status_code == 302, response.status_code
    return client, start


def test_self_book_pages_have_no_broken_links(demo_db):
    invite = demo_db
    # The link as the patient got it: from the "Demo messages" page.
    messages = _staff_client("b82001.admin").get("/booking/practices/B82001/demo-messages/")
    (link,) = {href for href in links_in(messages.content.decode()) if "/book/" in href}
    assert link == f"{settings.PUBLIC_BASE_URL}/book/{token_for_salt(invite.token_salt)}/"
    # A patient staff booked was sent a link to change or cancel it.
    booked = Invite.objects.filter(
        campaign=invite.campaign, booking__status=BookingStatus.BOOKED
    ).first()
    assert booked is not None
    booked_link = f"/book/{token_for_salt(booked.token_salt)}/"
    findings: list[Finding] = []
    opened: dict[str, set[str]] = {}
    for who, start, dob, extra in (
        ("patient before the date of birth step", link, None, []),
        ("patient invited", link, invite.patient.date_of_birth, []),
        ("patient booked by staff", booked_link, booked.patient.date_of_birth, ["confirmed/"]),
    ):
        client, path = _patient(start, date_of_birth=dob)
        crawl = Crawl(who=who, client=client, hosts=HOSTS, signed_in=False)
        crawl.run([path, *(path + page for page in extra)])
        assert not crawl.unvisited_kinds, sorted(crawl.unvisited_kinds)
        opened[who] = {url_kind(url)[0] + "?" * bool(url_kind(url)[1]) for url in crawl.visited}
        findings += crawl.findings
    # Past the date of birth: the days, a day's times, other days; change, cancel.
    assert {"/book/<token>/", "/book/<token>/?", "/book/<token>/decline/"} <= opened[
        "patient invited"
    ]
    assert {"/book/<token>/change/?", "/book/<token>/cancel/"} <= opened["patient booked by staff"]
    _assert_no_broken_links(findings)


# --- the crawler itself ------------------------------------------------------------------


def test_links_and_navigating_forms_are_followed_and_actions_are_not():
    html = """
        <a href="/booking/campaigns/">Campaigns</a> <a href="#main">Skip</a>
        <form method="get" action="/book/x/?old=1"><input type="hidden" name="from"
          value="2026-12-01"><input type="radio" name="day" value="a"><input
          type="radio" name="day" value="b"><select name="n"><option value="1">
          <option value="2"></select><button>Go</button></form>
        <form method="post" action="/booking/campaigns/1/refresh-slots/">
          <input type="hidden" name="csrfmiddlewaretoken" value="x"></form>"""
    assert links_in(html) == ["/booking/campaigns/", "#main", "/book/x/?from=2026-12-01&day=a&n=1"]
    assert url_kind("/admin/booking/patient/12/change/?o=1") == (
        "/admin/booking/patient/<id>/change/",
        ("?",),
    )
    assert url_kind(f"/book/{'a' * 43}/?day=2026-12-01&from=2026-12-01") == (
        "/book/<token>/",
        ("day", "from"),
    )
    assert url_kind("/booking/practices/A81001/patients/") == (
        "/booking/practices/<ods>/patients/",
        (),
    )


def test_a_broken_link_and_a_signed_in_person_sent_to_sign_in_are_findings(
    client_for, practice_staff, practice_a
):
    crawl = Crawl(who="staff", client=client_for(practice_staff), hosts=HOSTS)
    crawl.client.raise_request_exception = False
    crawl.run(["/booking/campaigns/999999/", "mailto:x@example.org", "/emis-sandbox/"])
    assert crawl.findings == [Finding("staff", "(start)", "/booking/campaigns/999999/", 404)]
    signed_out = Crawl(who="nobody", client=Client(), hosts=HOSTS)
    signed_out.run(["/"])
    assert [(f.url, f.status) for f in signed_out.findings] == [("/", 200)]
    assert "sent to sign in at /accounts/login/" in signed_out.findings[0].note
