"""The tracing worklist in admin: scoping, defaults, columns, actions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from hippo_pcn.audit.models import AuditEntry
from tracing.models import TaskStatus, TracingPolicy, TracingTask
from tracing.services import TracingActionError, tracing_task_claim

from .helpers import make_task

CHANGELIST = "admin:tracing_tracingtask_changelist"


def change_url(task):
    return reverse("admin:tracing_tracingtask_change", args=[task.pk])


def act(client, action, tasks, **extra):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, ACTION_CHECKBOX_NAME: [t.pk for t in tasks], **extra},
        follow=True,
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def tasks_a(live_pcn_a, practice_a):
    return {
        "open": make_task(live_pcn_a, patient_family_name="Openshaw"),
        "claimed": make_task(live_pcn_a, status="claimed", patient_family_name="Clayton"),
        "traced": make_task(live_pcn_a, status="traced", patient_family_name="Tracey"),
        "practice_owned": make_task(
            live_pcn_a,
            owner=practice_a,
            booking_organisation=practice_a,
            patient_family_name="Prac",
        ),
    }


@pytest.fixture
def task_b(live_pcn_b):
    return make_task(live_pcn_b, patient_family_name="Betaperson", patient_nhs_number="4010232137")


def test_the_worklist_defaults_to_open_and_claimed_ordered_by_due(
    client_for, pcn_tracer, tasks_a, task_b
):
    TracingTask.objects.filter(pk=tasks_a["claimed"].pk).update(
        due_at=timezone.now() - timedelta(hours=1)
    )
    response = client_for(pcn_tracer).get(reverse(CHANGELIST))
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown[0] == tasks_a["claimed"]
    assert set(shown) == {tasks_a["open"], tasks_a["claimed"], tasks_a["practice_owned"]}
    body = response.content.decode()
    assert "943 476 5919" in body
    assert "(overdue)" in body
    assert "Betaperson" not in body


def test_appointment_within_24_hours_untraced_is_amber(client_for, pcn_tracer, live_pcn_a):
    make_task(live_pcn_a, appointment_start=timezone.now() + timedelta(hours=5))
    body = client_for(pcn_tracer).get(reverse(CHANGELIST)).content.decode()
    assert "Appointment within 24 hours and not traced yet" in body


def test_a_patient_without_nhs_number_is_flagged(client_for, pcn_tracer, live_pcn_a):
    make_task(live_pcn_a, patient_nhs_number="")
    body = client_for(pcn_tracer).get(reverse(CHANGELIST)).content.decode()
    assert "No NHS number" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "all"}, {"open", "claimed", "traced", "practice_owned"}),
        ({"status": "traced"}, {"traced"}),
        ({"q": "943 476 5919"}, {"open", "claimed", "practice_owned"}),
        ({"q": "opens"}, {"open"}),
        ({"source": "booked_via_app"}, set()),
        ({"due": "week"}, {"open", "claimed", "practice_owned"}),
        ({"due": "overdue"}, set()),
    ],
)
def test_filters_and_search(client_for, pcn_tracer, tasks_a, task_b, query, expected):
    response = client_for(pcn_tracer).get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {tasks_a[k] for k in expected}


def test_owner_filter(client_for, pcn_tracer, tasks_a, practice_a):
    response = client_for(pcn_tracer).get(reverse(CHANGELIST), {"owner": practice_a.pk})
    assert list(response.context["cl"].result_list) == [tasks_a["practice_owned"]]


# --- tenancy -------------------------------------------------------------------------------


def test_pcn_b_tracers_never_see_pcn_a_tasks(client_for, other_pcn_tracer, tasks_a, task_b, pcn_a):
    client = client_for(other_pcn_tracer)
    response = client.get(reverse(CHANGELIST), {"status": "all"})
    assert list(response.context["cl"].result_list) == [task_b]
    body = response.content.decode()
    assert "Openshaw" not in body and "Alpha PCN" not in body  # not even as a filter choice
    for task in tasks_a.values():
        assert client.get(change_url(task)).status_code == 404
    # Search and filters do not reach across either.
    response = client.get(reverse(CHANGELIST), {"q": "943 476 5919", "status": "all"})
    assert list(response.context["cl"].result_list) == []
    response = client.get(reverse(CHANGELIST), {"owner": pcn_a.pk, "status": "all"})
    assert list(response.context["cl"].result_list) == []
    # Actions on another PCN's tasks do nothing.
    act(client, "claim", [tasks_a["open"]])
    act(client, "mark_traced", [tasks_a["open"]])
    tasks_a["open"].refresh_from_db()
    assert tasks_a["open"].status == "open"


def test_practice_staff_see_only_tasks_their_practice_owns_or_booked(
    client_for, practice_staff, other_practice_staff, tasks_a, live_pcn_a, practice_a
):
    booked = make_task(live_pcn_a, booking_organisation=practice_a, patient_family_name="Booked")
    response = client_for(practice_staff).get(reverse(CHANGELIST), {"status": "all"})
    assert set(response.context["cl"].result_list) == {tasks_a["practice_owned"], booked}
    response = client_for(other_practice_staff).get(reverse(CHANGELIST), {"status": "all"})
    assert list(response.context["cl"].result_list) == []


def test_support_sees_every_pcn(client_for, support_user, tasks_a, task_b):
    response = client_for(support_user).get(reverse(CHANGELIST), {"status": "all"})
    assert len(response.context["cl"].result_list) == 5


# --- actions ---------------------------------------------------------------------------------


def test_claim_release_trace_through_admin(client_for, pcn_tracer, tasks_a):
    client = client_for(pcn_tracer)
    task = tasks_a["open"]
    response = act(client, "claim", [task])
    assert "1 task claimed by you." in messages_of(response)
    task.refresh_from_db()
    assert (task.status, task.claimed_by) == ("claimed", pcn_tracer)
    response = act(client, "release", [task])
    assert "1 task released." in messages_of(response)
    act(client, "claim", [task])
    response = act(client, "mark_traced", [task])
    assert "1 task marked traced." in messages_of(response)
    task.refresh_from_db()
    assert (task.status, task.done_by) == ("traced", pcn_tracer)
    actions = list(
        AuditEntry.objects.filter(object_id=str(task.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "tracing_task.claimed",
        "tracing_task.released",
        "tracing_task.claimed",
        "tracing_task.traced",
    ]
    page = client.get(change_url(task))
    assert page.status_code == 200
    body = page.content.decode()
    # The history on the change page, in words: never the raw action codes.
    name = f"{pcn_tracer.first_name} {pcn_tracer.last_name}"
    assert f"{name} claimed this" in body
    assert f"{name} marked this traced" in body
    assert "tracing_task." not in body


def test_claiming_a_claimed_task_says_who_has_it(client_for, pcn_tracer, tasks_a):
    response = act(client_for(pcn_tracer), "claim", [tasks_a["claimed"]])
    assert any("has just claimed it" in m or "is now" in m for m in messages_of(response))


def test_someone_elses_claimed_task_cannot_be_marked_traced(
    client_for, pcn_tracer, pcn_admin, tasks_a
):
    task = tasks_a["open"]
    tracing_task_claim(task=task, user=pcn_admin)
    response = act(client_for(pcn_tracer), "mark_traced", [task])
    assert any("has just claimed it" in m for m in messages_of(response))
    task.refresh_from_db()
    assert task.status == "claimed"


def test_cannot_trace_asks_for_a_reason(client_for, pcn_tracer, tasks_a):
    client = client_for(pcn_tracer)
    task = tasks_a["open"]
    form = act(client, "cannot_trace", [task])
    assert "Why can these patients not be traced?" in form.content.decode()
    refused = act(client, "cannot_trace", [task], apply="1", reason="other", note="")
    body = refused.content.decode()
    assert "Say why the patient cannot be traced" in body
    assert "Please choose a reason" not in body  # the reason was chosen: the note is missing
    task.refresh_from_db()
    assert task.status == "open"
    done = act(
        client, "cannot_trace", [task], apply="1", reason="record_not_shared", note="Rang them"
    )
    assert "1 task recorded as cannot trace." in messages_of(done)
    task.refresh_from_db()
    assert (task.status, task.cannot_trace_reason, task.cannot_trace_note) == (
        "cannot_trace",
        "record_not_shared",
        "Rang them",
    )


@pytest.mark.django_db(transaction=True)
def test_claim_race_one_wins_the_other_is_told(live_pcn_a, pcn_tracer, pcn_admin):
    task = make_task(live_pcn_a)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def claim(user):
        try:
            barrier.wait()
            tracing_task_claim(task=TracingTask.objects.get(pk=task.pk), user=user)
            outcomes[user.username] = "won"
        except TracingActionError as exc:
            outcomes[user.username] = exc.message
        finally:
            db_connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (pcn_tracer, pcn_admin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()).count("won") == 1
    loser_message = next(m for m in outcomes.values() if m != "won")
    assert "has just claimed it" in loser_message
    task.refresh_from_db()
    assert task.status == TaskStatus.CLAIMED
    assert AuditEntry.objects.filter(action="tracing_task.claimed").count() == 1


# --- smoke per role, and query counts ---------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["pcn_tracer", "pcn_admin", "practice_staff", "practice_admin", "support_user"]
)
def test_smoke_per_role(request, client_for, role, tasks_a):
    user = request.getfixturevalue(role)
    client = client_for(user)
    assert client.get(reverse(CHANGELIST)).status_code == 200
    visible = TracingTask.objects.filter(pk=tasks_a["practice_owned"].pk)
    assert client.get(change_url(visible.get())).status_code == 200
    assert client.get(reverse("admin:tracing_dashboard")).status_code == 200
    assert client.get(reverse("admin:tracing_tracingpolicy_changelist")).status_code == 200
    assert client.get(reverse("admin:tracing_pollcursor_changelist")).status_code == 200
    assert client.get(reverse("admin:tracing_pollrun_changelist")).status_code == 200


def test_no_membership_user_cannot_open_the_worklist(client_for, no_membership_user, tasks_a):
    response = client_for(no_membership_user).get(reverse(CHANGELIST))
    assert response.status_code == 302


@pytest.mark.parametrize("page_size", [20, 100])
def test_changelist_query_count_does_not_grow_with_rows(
    client_for, pcn_tracer, live_pcn_a, django_assert_max_num_queries, page_size, practice_a
):
    client = client_for(pcn_tracer)
    for i in range(5):
        make_task(live_pcn_a, status="claimed" if i % 2 else "open", claimed_by=pcn_tracer)
    client.get(reverse(CHANGELIST))  # warm caches (content types, session)
    # The ceiling includes the admin's per-model permission checks (app list).
    with django_assert_max_num_queries(50) as small:
        client.get(reverse(CHANGELIST))
    for _ in range(120):
        make_task(live_pcn_a, status="claimed", claimed_by=pcn_tracer, owner=practice_a)
    from tracing.admin import TracingTaskAdmin

    TracingTaskAdmin.list_per_page = page_size
    try:
        with django_assert_max_num_queries(len(small.captured_queries)):
            response = client.get(reverse(CHANGELIST))
    finally:
        TracingTaskAdmin.list_per_page = 100
    assert len(response.context["cl"].result_list) == page_size


# --- policy ------------------------------------------------------------------------------------


def test_pcn_admin_changes_the_policy_and_open_tasks_are_replanned(
    client_for, pcn_admin, live_pcn_a, pcn_a
):
    policy = TracingPolicy.objects.create(pcn=pcn_a)
    for _ in range(3):
        make_task(live_pcn_a, due_in=timedelta(hours=30))
    make_task(live_pcn_a, status="traced")
    response = client_for(pcn_admin).post(
        reverse("admin:tracing_tracingpolicy_change", args=[policy.pk]),
        {
            "mode": "on_the_day",
            "batch_time": "08:00",
            "batch_weekday": "0",
            "practice_working_hours": "4",
            "auto_verify": "on",
        },
        follow=True,
    )
    assert "3 open tasks were re-planned for Alpha PCN's new policy." in messages_of(response)
    for task in TracingTask.objects.filter(status="open"):
        assert task.due_at == task.appointment_start
    assert AuditEntry.objects.filter(action="tracing_policy.updated").exists()


def test_tracers_and_other_pcns_cannot_change_the_policy(
    client_for, pcn_tracer, pcn_b, pcn_a, superuser
):
    from hippo_pcn.organisations.roles import Role
    from tests.conftest import _member

    policy = TracingPolicy.objects.create(pcn=pcn_a)
    url = reverse("admin:tracing_tracingpolicy_change", args=[policy.pk])
    data = {
        "mode": "on_the_day",
        "batch_time": "08:00",
        "batch_weekday": "0",
        "practice_working_hours": "4",
    }
    client_for(pcn_tracer).post(url, data)
    other_admin = _member("b.pcn_admin", pcn_b, Role.PCN_ADMIN)
    assert client_for(other_admin).get(url).status_code == 404
    client_for(other_admin).post(url, data)
    policy.refresh_from_db()
    assert policy.mode == "pcn_batch_daily"


def test_pcn_admin_adds_their_pcns_policy_only(client_for, pcn_admin, pcn_a, pcn_b, live_pcn_a):
    make_task(live_pcn_a, due_in=timedelta(days=5))
    client = client_for(pcn_admin)
    url = reverse("admin:tracing_tracingpolicy_add")
    data = {
        "mode": "on_the_day",
        "batch_time": "08:00",
        "batch_weekday": "0",
        "practice_working_hours": "4",
    }
    refused = client.post(url, {**data, "pcn": pcn_b.pk})
    assert "Select a valid choice" in refused.content.decode()
    response = client.post(url, {**data, "pcn": pcn_a.pk}, follow=True)
    assert "1 open task was re-planned for Alpha PCN's new policy." in messages_of(response)
    assert TracingPolicy.objects.get().pcn == pcn_a


def test_each_rows_checkbox_is_the_markup_djangos_own_renders(client_for, pcn_tracer, live_pcn_a):
    """The worklist writes each row's action checkbox itself (a widget template
    per row cost a third of a page's time): the same markup as Django's, with a
    label (the task's site here) that needs escaping, and the select-all box kept."""
    from django.contrib import admin

    task = make_task(live_pcn_a, site_name="St Mary's <Annexe> & Co", status="open")
    model_admin = admin.site._registry[TracingTask]

    assert "&lt;Annexe&gt; &amp; Co" in model_admin.action_checkbox(task)
    assert model_admin.action_checkbox(task) == admin.ModelAdmin.action_checkbox(model_admin, task)
    response = client_for(pcn_tracer).get(reverse(CHANGELIST))
    assert str(model_admin.action_checkbox(task)) in response.content.decode()
    assert 'id="action-toggle"' in response.content.decode()  # the select-all header stays
