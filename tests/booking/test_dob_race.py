"""The date-of-birth lockout under real concurrency on PostgreSQL: guesses sent at
the same time (threads, each with its own database connection) each count, and
the link locks after exactly SELFBOOK_DOB_MAX_FAILURES of them."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from booking import selfbook, services
from booking.models import Invite
from hippo_pcn.audit.models import AuditEntry

from .factories import PatientFactory
from .test_selfbook import make_invite

# Each test here opens a database connection per racing thread: one such test
# at a time across the xdist workers (the many_connections fixture).
pytestmark = [
    pytest.mark.usefixtures("many_connections"),
    pytest.mark.django_db(transaction=True),
]

GUESSES = 30


@pytest.fixture
def link(settings, practice_a, practice_admin):
    """An invitation link (no slots needed: the date of birth comes first)."""
    assert settings.SELFBOOK_DOB_MAX_FAILURES == 5
    today = timezone.localdate()
    campaign = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Race",
        appointment_type="Flu",
        start_date=today,
        end_date=today + timedelta(days=7),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    patient = PatientFactory(practice=practice_a)
    invite, token = make_invite(campaign, patient)
    return invite, token, patient


def _together(jobs):
    """Run every job at once, each thread on its own database connection."""
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(index, job):
        try:
            barrier.wait(timeout=30)
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - a crash is a result to look at
            results[index] = exc
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _date_form(day):
    return {"day": day.day, "month": day.month, "year": day.year}


def test_thirty_wrong_guesses_at_once_lock_the_link_after_exactly_five(link):
    invite, token, patient = link
    wrong = _date_form(patient.date_of_birth - timedelta(days=1))
    clients = [Client() for _ in range(GUESSES)]
    codes = _together([lambda c=c: c.post(f"/book/{token}/", wrong).status_code for c in clients])
    summary = {code: codes.count(code) for code in set(codes)}
    assert all(isinstance(code, int) for code in codes), codes  # every guess answered
    # Four "does not match" pages; the fifth failure locks, and every guess after
    # it is refused without being checked.
    assert summary == {400: 4, 403: GUESSES - 4}, summary
    invite.refresh_from_db()
    assert invite.dob_failures == 5
    assert invite.dob_locked_at is not None
    locks = AuditEntry.objects.filter(action="invite.dob_locked", object_id=str(invite.pk))
    assert locks.count() == 1
    assert locks.get().details == {"failures": 5}
    # The right date is refused now too.
    right = Client().post(f"/book/{token}/", _date_form(patient.date_of_birth))
    assert right.status_code == 403
    assert b"Contact your practice to book" in right.content
    assert Client().get(f"/book/{token}/").status_code == 403


def test_guesses_checked_against_stale_copies_still_count(link):
    """The service itself, given copies of the invite read before any guess (as
    each request reads it before it checks): the lock is decided on the row."""
    invite, _, patient = link
    stale = [
        Invite.objects.select_related("campaign__practice").get(pk=invite.pk)
        for _ in range(GUESSES)
    ]
    wrong = patient.date_of_birth - timedelta(days=1)
    results = _together(
        [lambda copy=copy: selfbook.dob_check(invite=copy, entered=wrong) for copy in stale]
    )
    summary = {result: results.count(result) for result in set(results)}
    assert summary == {selfbook.DobResult.WRONG: 4, selfbook.DobResult.LOCKED: GUESSES - 4}
    invite.refresh_from_db()
    assert invite.dob_failures == 5 and invite.dob_locked_at is not None
    # A copy read before the lock, still showing the link open, cannot get the
    # right date in.
    late = Invite.objects.select_related("campaign__practice").get(pk=invite.pk)
    late.dob_locked_at = None
    late.dob_failures = 0
    assert selfbook.dob_check(invite=late, entered=patient.date_of_birth) == (
        selfbook.DobResult.LOCKED
    )
