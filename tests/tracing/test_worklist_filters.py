"""The worklist's filter rules live once, in tracing.selectors; the admin's list
filters and the API's query parameters both go through them (issue 16)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tracing import selectors
from tracing.api.filters import tracing_tasks_filter
from tracing.models import TaskStatus, TracingTask

from .helpers import make_task

CHANGELIST = "admin:tracing_tracingtask_changelist"


@pytest.fixture
def tasks(live_pcn_a, practice_a, practice_a2, pcn_tracer):
    now = timezone.now()
    return {
        "open": make_task(live_pcn_a, patient_family_name="Open"),
        "mine": make_task(live_pcn_a, status="claimed", claimed_by=pcn_tracer),
        "traced": make_task(live_pcn_a, status="traced"),
        "overdue": make_task(
            live_pcn_a,
            due_in=timedelta(hours=-2),
            appointment_start=now + timedelta(hours=6),
            registered_practice=practice_a2,
        ),
        "practice": make_task(
            live_pcn_a, owner=practice_a, site_name="Second Site", source="booked_via_app"
        ),
        "later": make_task(live_pcn_a, due_in=timedelta(days=9)),
    }


def names(queryset, tasks) -> set[str]:
    by_pk = {task.pk: name for name, task in tasks.items()}
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True)}


def test_status_rules(tasks, pcn_tracer):
    every = TracingTask.objects.all()
    to_do = selectors.tracing_tasks_with_status(queryset=every)
    assert names(to_do, tasks) == {"open", "mine", "overdue", "practice", "later"}
    mine = selectors.tracing_tasks_with_status(
        queryset=every, mine=True, statuses=[TaskStatus.TRACED], user_id=pcn_tracer.pk
    )
    assert names(mine, tasks) == {"mine"}  # "mine" wins over the statuses
    both = selectors.tracing_tasks_with_status(queryset=every, statuses=["traced", "claimed"])
    assert names(both, tasks) == {"traced", "mine"}
    assert selectors.tracing_tasks_with_status(
        queryset=every, statuses=["traced", selectors.ALL_STATUSES]
    ).count() == len(tasks)


def test_due_and_matching_rules(tasks, practice_a, practice_a2, pcn_a):
    every = TracingTask.objects.all()
    assert names(selectors.tracing_tasks_due(queryset=every, due="overdue"), tasks) == {"overdue"}
    assert names(selectors.tracing_tasks_due(queryset=every, due="soon"), tasks) == {"overdue"}
    assert "later" not in names(selectors.tracing_tasks_due(queryset=every, due="week"), tasks)
    # No value, or one it does not know, leaves the list as it is.
    assert selectors.tracing_tasks_due(queryset=every, due="").count() == len(tasks)
    assert selectors.tracing_tasks_due(queryset=every, due="someday").count() == len(tasks)
    match = selectors.tracing_tasks_matching
    assert names(match(queryset=every, owner_id=practice_a.pk), tasks) == {"practice"}
    assert names(match(queryset=every, practice_id=practice_a2.pk), tasks) == {"overdue"}
    assert names(match(queryset=every, site="Second Site"), tasks) == {"practice"}
    assert names(match(queryset=every, source="booked_via_app"), tasks) == {"practice"}
    assert match(queryset=every, source="by pigeon").count() == len(tasks)
    assert match(queryset=every, pcn_id=pcn_a.pk, site="").count() == len(tasks)


def test_the_api_filter_is_the_selectors_together(tasks, pcn_tracer, practice_a):
    """The API's parameters, validated, map straight onto tracing_tasks_filtered."""
    every = TracingTask.objects.all()
    now = timezone.now()
    params = {"status": {"open", "claimed"}, "due": "week", "owner": practice_a.pk, "q": ""}
    through_api = tracing_tasks_filter(queryset=every, params=params, user_id=None, now=now)
    direct = selectors.tracing_tasks_filtered(
        queryset=every, statuses=["open", "claimed"], due="week", owner_id=practice_a.pk, now=now
    )
    assert names(through_api, tasks) == names(direct, tasks) == {"practice"}
    mine = tracing_tasks_filter(queryset=every, params={"mine": True}, user_id=pcn_tracer.pk)
    assert names(mine, tasks) == {"mine"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"open", "mine", "overdue", "practice", "later"}),
        ({"status": "mine"}, {"mine"}),
        ({"status": "traced"}, {"traced"}),
        ({"status": "all", "due": "overdue"}, {"overdue"}),
        ({"site": "Second Site", "source": "booked_via_app"}, {"practice"}),
        # A status the worklist does not know shows every status, as it always has.
        ({"status": "bogus"}, {"open", "mine", "traced", "overdue", "practice", "later"}),
    ],
)
def test_the_admin_list_filters_apply_the_same_rules(
    client_for, pcn_tracer, tasks, query, expected
):
    response = client_for(pcn_tracer).get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    shown = {task.pk for task in response.context["cl"].result_list}
    assert names(TracingTask.objects.filter(pk__in=shown), tasks) == expected


def _site_choices(client, **query) -> list[str]:
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    for spec in response.context["cl"].filter_specs:
        if getattr(spec, "parameter_name", "") == "site":
            return [value for value, _ in spec.lookup_choices]
    return []


def test_site_choices_are_one_pcns_and_support_chooses_a_pcn_first(
    tasks, live_pcn_b, pcn_a, pcn_b, pcn_tracer, other_pcn_tracer, support_user, client_for
):
    make_task(live_pcn_b, site_name="Beta Hub")
    # A tracer sees their own PCN's sites, never another PCN's.
    assert "Second Site" in _site_choices(client_for(pcn_tracer))
    assert "Beta Hub" not in _site_choices(client_for(pcn_tracer))
    assert _site_choices(client_for(other_pcn_tracer)) == ["Beta Hub"]
    # Support sees every PCN: no mixed list of all their sites until a PCN is chosen.
    support = client_for(support_user)
    assert _site_choices(support) == []
    assert "Second Site" in _site_choices(support, pcn=pcn_a.pk)
    assert _site_choices(support, pcn=pcn_b.pk) == ["Beta Hub"]
    # The site filter itself still works for support without a PCN chosen.
    response = support.get(reverse(CHANGELIST), {"site": "Beta Hub"})
    assert response.context["cl"].result_count == 1
