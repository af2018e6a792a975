"""One definition of each worklist rule's cut-offs (tracing.models.TaskTimeRule):
the queryset filters and a task in memory read the same [start, end), so they
agree on every edge, including on the days the clocks change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracing.models import (
    TaskTimeRule,
    TracingTask,
    due_today_rule,
    due_within_week_rule,
    end_of_london_day,
    overdue_rule,
    within_24h_rule,
)

from .helpers import make_task

LONDON = ZoneInfo("Europe/London")

INSTANTS = {
    "winter afternoon": datetime(2026, 11, 25, 14, 0, tzinfo=LONDON),
    "BST starts (23-hour day)": datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    "BST ends (25-hour day)": datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
}

RULES = {
    "overdue": overdue_rule,
    "due_today": due_today_rule,
    "due_within_week": due_within_week_rule,
    "within_24h": within_24h_rule,
}


def test_the_rules_cut_offs():
    now = INSTANTS["BST ends (25-hour day)"]
    assert overdue_rule(now) == TaskTimeRule("due_at", None, now)
    assert due_today_rule(now) == TaskTimeRule("due_at", now, end_of_london_day(now))
    # 00:30 BST on the 25th: the London day has 25 hours, so midnight is 24.5 h on.
    assert end_of_london_day(now) - now == timedelta(hours=24, minutes=30)
    assert due_within_week_rule(now) == TaskTimeRule("due_at", now, now + timedelta(days=7))
    assert within_24h_rule(now) == TaskTimeRule("appointment_start", now, now + timedelta(hours=24))


def _edges(rule: TaskTimeRule) -> list[datetime]:
    """Each bound, a microsecond either side of it, and well inside and outside."""
    bounds = [b for b in (rule.start, rule.end) if b is not None]
    moments: list[datetime] = []
    for bound in bounds:
        moments += [bound - timedelta(microseconds=1), bound, bound + timedelta(microseconds=1)]
    moments += [min(bounds) - timedelta(days=30), max(bounds) + timedelta(days=30)]
    return moments


@pytest.mark.parametrize("instant", list(INSTANTS), ids=list(INSTANTS))
@pytest.mark.parametrize("name", list(RULES))
def test_queryset_and_task_agree_on_every_edge(live_pcn_a, instant, name):
    now = INSTANTS[instant]
    rule = RULES[name](now)
    other = "appointment_start" if rule.field == "due_at" else "due_at"
    far = now + timedelta(days=60)
    for status in ("open", "claimed", "traced", "cancelled"):
        for moment in _edges(rule):
            make_task(live_pcn_a, status=status, **{rule.field: moment, other: far})
    matched = set(TracingTask.objects.filter(rule.q()).values_list("pk", flat=True))
    tasks = list(TracingTask.objects.all())
    assert {t.pk for t in tasks if rule.matches(t)} == matched
    # The queryset method and the task's predicate of the same name are this rule.
    if name != "due_within_week":
        assert set(getattr(TracingTask.objects, name)(now).values_list("pk", flat=True)) == matched
        assert {t.pk for t in tasks if getattr(t, f"is_{name}")(now)} == matched
    # Inclusive start, exclusive end, active tasks only.
    statuses = {t.status for t in tasks if t.pk in matched}
    assert statuses == {"open", "claimed"}
    values = [getattr(t, rule.field) for t in tasks if t.pk in matched]
    if rule.start is not None:
        assert min(values) == rule.start
    if rule.end is not None:
        assert max(values) == rule.end - timedelta(microseconds=1)
