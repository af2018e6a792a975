"""One home per rule: overdue, due today and appointment within 24 hours are
TracingTask queryset methods, and the worklist's filters, the digest and the
dashboard all agree with them, including on the days the clocks change."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from tracing.models import TracingPolicy, TracingTask, end_of_london_day
from tracing.services.digest import tracing_digest_counts, tracing_digest_send

from .helpers import make_task

LONDON = ZoneInfo("Europe/London")
CHANGELIST = "admin:tracing_tracingtask_changelist"

# (now, the end of that London day). BST starts at 01:00 UTC on the last Sunday
# of March (a 23-hour day) and ends at 01:00 UTC on the last Sunday of October
# (a 25-hour day).
CLOCKS = {
    "ordinary afternoon": (
        datetime(2026, 11, 25, 14, 0, tzinfo=LONDON),
        datetime(2026, 11, 26, 0, 0, tzinfo=UTC),
    ),
    "late evening": (
        datetime(2026, 11, 25, 23, 30, tzinfo=LONDON),
        datetime(2026, 11, 26, 0, 0, tzinfo=UTC),
    ),
    "summer afternoon": (
        datetime(2026, 7, 15, 16, 0, tzinfo=LONDON),
        datetime(2026, 7, 15, 23, 0, tzinfo=UTC),
    ),
    "BST starts (29 March, 23 hours)": (
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 23, 0, tzinfo=UTC),
    ),
    "BST ends (25 October, 25 hours)": (
        datetime(2026, 10, 24, 23, 30, tzinfo=UTC),  # 00:30 BST on the 25th
        datetime(2026, 10, 26, 0, 0, tzinfo=UTC),
    ),
}


def _tasks_around(connection, now: datetime, end: datetime) -> None:
    """Tasks on either side of each rule's edges, named for what they are."""
    far = now + timedelta(days=10)
    later = now + timedelta(days=5)
    for name, status, due_at, start in (
        ("overdue", "open", now - timedelta(minutes=1), far),
        ("claimed-overdue", "claimed", now - timedelta(hours=2), far),
        ("traced-late", "traced", now - timedelta(minutes=1), far),
        ("due-now", "open", now, far),
        ("due-before-midnight", "claimed", end - timedelta(minutes=1), far),
        ("due-at-midnight", "open", end, far),
        ("soon", "open", later, now + timedelta(hours=23, minutes=59)),
        ("in-24h-exactly", "open", later, now + timedelta(hours=24)),
        ("started", "open", later, now - timedelta(minutes=1)),
        ("soon-traced", "traced", later, now + timedelta(hours=2)),
        ("soon-not-needed", "not_needed", later, now + timedelta(hours=2)),
    ):
        make_task(
            connection,
            status=status,
            due_at=due_at,
            appointment_start=start,
            patient_family_name=name,
        )


def _names(queryset) -> set[str]:
    return set(queryset.values_list("patient_family_name", flat=True))


@pytest.mark.parametrize("clock", list(CLOCKS), ids=list(CLOCKS))
def test_queryset_rules_at_several_clock_times(live_pcn_a, clock):
    now, end = CLOCKS[clock]
    assert end_of_london_day(now) == end
    assert end_of_london_day(now).astimezone(LONDON).time() == time(0, 0)
    _tasks_around(live_pcn_a, now, end)
    tasks = TracingTask.objects.all()
    assert _names(tasks.active()) == _names(tasks.filter(status__in=["open", "claimed"]))
    assert _names(tasks.overdue(now)) == {"overdue", "claimed-overdue"}
    assert _names(tasks.due_today(now)) == {"due-now", "due-before-midnight"}
    assert _names(tasks.within_24h(now)) == {"soon"}
    # Overdue and due today never overlap.
    assert not _names(tasks.overdue(now)) & _names(tasks.due_today(now))
    # The in-memory predicates (list columns, badges) say the same for each task.
    for task in tasks:
        assert task.is_overdue(now) == (task in tasks.overdue(now))
        assert task.is_due_today(now) == (task in tasks.due_today(now))
        assert task.is_within_24h(now) == (task in tasks.within_24h(now))


def test_due_today_follows_the_london_day_not_the_utc_day(live_pcn_a):
    # 00:30 BST on 25 October is still 24 October in UTC: a task due at 23:30
    # GMT that evening is due today in London, 23 hours on.
    now = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    make_task(
        live_pcn_a,
        due_at=datetime(2026, 10, 25, 23, 30, tzinfo=LONDON),
        patient_family_name="evening-after-the-change",
    )
    # On 29 March, midnight comes an hour early in UTC: 23:30 UTC is tomorrow.
    make_task(
        live_pcn_a,
        due_at=datetime(2026, 3, 29, 23, 30, tzinfo=UTC),
        patient_family_name="after-midnight-bst",
    )
    tasks = TracingTask.objects.all()
    assert _names(tasks.due_today(now)) == {"evening-after-the-change"}
    assert _names(tasks.due_today(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))) == set()


def _worklist_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200
    return response.context["cl"].result_count


@pytest.mark.parametrize("clock", list(CLOCKS), ids=list(CLOCKS))
def test_digest_figures_equal_the_worklist_links_it_sends(
    live_pcn_a, pcn_a, pcn_tracer, client_for, clock
):
    now, end = CLOCKS[clock]
    pcn_tracer.email = "a.tracer@example.nhs.uk"
    pcn_tracer.save()
    _tasks_around(live_pcn_a, now, end)
    with time_machine.travel(now, tick=False):
        counts = tracing_digest_counts(owner=pcn_a, now=now)
        assert (counts.overdue, counts.due_today, counts.next_24h_untraced) == (2, 2, 1)
        assert tracing_digest_send(owner=pcn_a, now=now)
        (message,) = mail.outbox
        assert message.subject == (
            "Tracing for Alpha PCN: 2 overdue, 2 due today, 1 appointment in 24 hours not traced"
        )
        client = client_for(pcn_tracer)
        lines = message.body.splitlines()
        for label, figure in (
            ("Overdue:", counts.overdue),
            ("Due today (from now until midnight):", counts.due_today),
            ("Appointments in the next 24 hours not traced yet:", counts.next_24h_untraced),
        ):
            (index,) = [i for i, line in enumerate(lines) if line.strip().startswith(label)]
            assert lines[index].strip() == f"{label} {figure}"
            link = urlsplit(lines[index + 1].strip())
            assert link.path == reverse(CHANGELIST)
            # The count staff see behind the link is the figure in the email.
            assert _worklist_count(client, f"{link.path}?{link.query}") == figure


def test_task_owner_is_a_planning_rule_still_importable_from_selectors(pcn_a, practice_a, pcn_b):
    from tracing import planning, selectors

    assert selectors.task_owner is planning.task_owner
    practice_led = TracingPolicy(pcn=pcn_a, mode="practice_led")
    assert (
        planning.task_owner(
            policy=practice_led,
            pcn=pcn_a,
            booking_organisation=practice_a,
            registered_practice=None,
        )
        == practice_a
    )
    daily = TracingPolicy(pcn=pcn_a, mode="pcn_batch_daily")
    assert (
        selectors.task_owner(
            policy=daily, pcn=pcn_a, booking_organisation=practice_a, registered_practice=None
        )
        == pcn_a
    )


def test_now_defaults_to_the_current_time(live_pcn_a):
    make_task(live_pcn_a, due_at=timezone.now() - timedelta(minutes=5))
    assert TracingTask.objects.overdue().count() == 1
    assert TracingTask.objects.overdue(timezone.now() - timedelta(hours=1)).count() == 0
