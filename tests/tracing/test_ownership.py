"""Ownership governs actions (issue 14, part 3): PCN staff act on every task of
their PCN, practice staff only on tasks their practice owns under the policy,
support on any task, audited as support. The services refuse, not just the
worklist."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from hippo_pcn.audit.models import AuditEntry
from tracing.models import PolicyMode, TaskStatus, TracingPolicy, TracingTask
from tracing.services import TracingActionError
from tracing.services.actions import (
    tracing_task_cannot_trace,
    tracing_task_claim,
    tracing_task_mark_traced,
    tracing_task_may_act,
    tracing_task_register_at_pcn,
    tracing_task_release,
    tracing_task_verify_now,
    tracing_tasks_actionable_by,
    user_may_act_on_tracing,
)

from .helpers import make_task

CHANGELIST = "admin:tracing_tracingtask_changelist"
TASK_ACTIONS = {"claim", "release", "mark_traced", "cannot_trace", "verify_now", "register_at_pcn"}


def act(client, action, tasks, **extra):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, ACTION_CHECKBOX_NAME: [t.pk for t in tasks], **extra},
        follow=True,
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def offered_actions(client):
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is offered at all
    return set() if form is None else {value for value, _ in form.fields["action"].choices if value}


@pytest.fixture
def pcn_led(pcn_a):
    return TracingPolicy.objects.create(pcn=pcn_a, mode=PolicyMode.PCN_BATCH_DAILY)


@pytest.fixture
def practice_led(pcn_a):
    return TracingPolicy.objects.create(
        pcn=pcn_a, mode=PolicyMode.PRACTICE_LED, allow_register_at_pcn=True
    )


@pytest.fixture
def booked_pcn_owned(live_pcn_a, practice_a):
    """Booked by Alpha Surgery, owned by Alpha PCN (PCN-led): the practice sees it."""
    return make_task(
        live_pcn_a,
        booking_organisation=practice_a,
        patient_given_name="Mary",
        patient_family_name="Booked",
    )


@pytest.fixture
def practice_owned(live_pcn_a, practice_a):
    return make_task(
        live_pcn_a,
        owner=practice_a,
        booking_organisation=practice_a,
        patient_given_name="Owen",
        patient_family_name="Owned",
    )


def _unchanged(task):
    task.refresh_from_db()
    assert (task.status, task.claimed_by_id, task.done_by_id) == (TaskStatus.OPEN, None, None)
    assert not AuditEntry.objects.filter(object_id=str(task.pk), action__startswith="tracing_task.")


# --- the services refuse -------------------------------------------------------------------


SERVICES = {
    "claim": lambda task, user: tracing_task_claim(task=task, user=user),
    "mark_traced": lambda task, user: tracing_task_mark_traced(task=task, user=user),
    "cannot_trace": lambda task, user: tracing_task_cannot_trace(
        task=task, user=user, reason="record_not_shared", note="Rang them"
    ),
    "register_at_pcn": lambda task, user: tracing_task_register_at_pcn(task=task, user=user),
    "verify_now": lambda task, user: tracing_task_verify_now(task=task, user=user),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_practice_staff_are_refused_by_the_service_on_a_pcn_owned_task(
    service, practice_staff, pcn_led, booked_pcn_owned
):
    with pytest.raises(TracingActionError) as refused:
        SERVICES[service](booked_pcn_owned, practice_staff)
    assert refused.value.message == (
        "Mary Booked: this task belongs to Alpha PCN, and only its staff can trace it."
    )
    _unchanged(booked_pcn_owned)


def test_practice_staff_cannot_release_a_pcn_owned_task(
    practice_staff, pcn_tracer, pcn_led, booked_pcn_owned
):
    tracing_task_claim(task=booked_pcn_owned, user=pcn_tracer)
    with pytest.raises(TracingActionError, match="belongs to Alpha PCN"):
        tracing_task_release(task=booked_pcn_owned, user=practice_staff)
    booked_pcn_owned.refresh_from_db()
    assert (booked_pcn_owned.status, booked_pcn_owned.claimed_by) == ("claimed", pcn_tracer)


def test_another_pcns_tracer_is_refused_by_the_service(other_pcn_tracer, practice_owned):
    with pytest.raises(TracingActionError, match="belongs to Alpha Surgery"):
        tracing_task_claim(task=practice_owned, user=other_pcn_tracer)
    _unchanged(practice_owned)


# --- the worklist ---------------------------------------------------------------------------


def test_practice_staff_under_a_pcn_led_policy_are_offered_no_actions(
    client_for, practice_staff, pcn_tracer, pcn_led, booked_pcn_owned
):
    client = client_for(practice_staff)
    response = client.get(reverse(CHANGELIST))
    assert list(response.context["cl"].result_list) == [booked_pcn_owned]  # they still see it
    assert offered_actions(client).isdisjoint(TASK_ACTIONS)
    assert offered_actions(client_for(pcn_tracer)) >= TASK_ACTIONS
    # Posting an action anyway does nothing.
    act(client, "claim", [booked_pcn_owned])
    act(client, "mark_traced", [booked_pcn_owned])
    _unchanged(booked_pcn_owned)


def test_a_refused_task_in_a_selection_is_named_and_left_alone(
    client_for, practice_staff, practice_led, booked_pcn_owned, practice_owned
):
    client = client_for(practice_staff)
    assert offered_actions(client) >= TASK_ACTIONS
    response = act(client, "claim", [booked_pcn_owned, practice_owned])
    shown = messages_of(response)
    assert (
        "Nothing was done to Mary Booked: this task belongs to Alpha PCN, "
        "so only its staff can trace it."
    ) in shown
    assert "1 task claimed by you." in shown
    practice_owned.refresh_from_db()
    assert (practice_owned.status, practice_owned.claimed_by) == ("claimed", practice_staff)
    _unchanged(booked_pcn_owned)


@pytest.mark.parametrize("action", ["mark_traced", "verify_now", "register_at_pcn"])
def test_practice_staff_are_refused_through_the_admin_action(
    client_for, practice_staff, practice_led, booked_pcn_owned, action
):
    response = act(client_for(practice_staff), action, [booked_pcn_owned])
    assert any(
        "Mary Booked: this task belongs to Alpha PCN" in message
        for message in messages_of(response)
    )
    _unchanged(booked_pcn_owned)


def test_practice_staff_are_refused_cannot_trace_through_the_admin(
    client_for, practice_staff, practice_led, booked_pcn_owned
):
    response = act(
        client_for(practice_staff),
        "cannot_trace",
        [booked_pcn_owned],
        apply="1",
        reason="record_not_shared",
        note="Rang them",
    )
    assert any("belongs to Alpha PCN" in message for message in messages_of(response))
    _unchanged(booked_pcn_owned)


def test_practice_staff_trace_the_tasks_their_practice_owns(
    client_for, practice_staff, practice_led, practice_owned
):
    client = client_for(practice_staff)
    assert "1 task claimed by you." in messages_of(act(client, "claim", [practice_owned]))
    assert "1 task marked traced." in messages_of(act(client, "mark_traced", [practice_owned]))
    practice_owned.refresh_from_db()
    assert (practice_owned.status, practice_owned.done_by) == ("traced", practice_staff)


def test_pcn_staff_act_on_every_task_of_their_pcn(
    client_for, pcn_tracer, pcn_led, booked_pcn_owned, practice_owned
):
    client = client_for(pcn_tracer)
    response = act(client, "claim", [booked_pcn_owned, practice_owned])
    assert "2 tasks claimed by you." in messages_of(response)
    response = act(client, "mark_traced", [booked_pcn_owned, practice_owned])
    assert "2 tasks marked traced." in messages_of(response)
    assert set(
        TracingTask.objects.filter(pk__in=[booked_pcn_owned.pk, practice_owned.pk]).values_list(
            "status", flat=True
        )
    ) == {"traced"}


def test_support_acts_on_any_task_and_is_audited_as_support(
    client_for, support_user, pcn_led, booked_pcn_owned, practice_owned
):
    client = client_for(support_user)
    assert offered_actions(client) >= TASK_ACTIONS
    response = act(client, "claim", [booked_pcn_owned])
    assert "1 task claimed by you." in messages_of(response)
    tracing_task_cannot_trace(
        task=practice_owned, user=support_user, reason="other", note="Moved away"
    )
    entries = AuditEntry.objects.filter(
        object_id__in=[str(booked_pcn_owned.pk), str(practice_owned.pk)]
    ).order_by("id")
    assert [(e.action, e.actor_id, e.details.get("as")) for e in entries] == [
        ("tracing_task.claimed", support_user.pk, "support"),
        ("tracing_task.cannot_trace", support_user.pk, "support"),
    ]


def test_pcn_staff_are_not_audited_as_support(pcn_tracer, booked_pcn_owned):
    tracing_task_claim(task=booked_pcn_owned, user=pcn_tracer)
    entry = AuditEntry.objects.get(object_id=str(booked_pcn_owned.pk))
    assert "as" not in entry.details


# --- one rule, two forms --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("pcn_tracer", {"booked", "owned", "second_practice"}),
        ("pcn_admin", {"booked", "owned", "second_practice"}),
        ("practice_staff", {"owned"}),
        ("practice_admin", {"owned"}),
        ("other_practice_staff", set()),
        ("other_pcn_tracer", {"beta"}),
        ("support_user", {"booked", "owned", "second_practice", "beta"}),
    ],
)
def test_the_rule_and_its_queryset_agree(
    request, role, expected, booked_pcn_owned, practice_owned, live_pcn_a, live_pcn_b, practice_a2
):
    tasks = {
        "booked": booked_pcn_owned,
        "owned": practice_owned,
        "second_practice": make_task(
            live_pcn_a, owner=practice_a2, booking_organisation=practice_a2
        ),
        "beta": make_task(live_pcn_b, patient_nhs_number="4010232137"),
    }
    user = request.getfixturevalue(role)
    by_rule = {name for name, task in tasks.items() if tracing_task_may_act(task=task, user=user)}
    by_queryset = {
        name
        for name, task in tasks.items()
        if tracing_tasks_actionable_by(user=user, queryset=TracingTask.objects.all())
        .filter(pk=task.pk)
        .exists()
    }
    assert by_rule == by_queryset == expected


def test_who_could_ever_act(
    pcn_tracer, practice_staff, other_practice_staff, pcn_a, practice_owned
):
    assert user_may_act_on_tracing(user=pcn_tracer)
    assert user_may_act_on_tracing(user=practice_staff)  # their practice owns an open task
    assert not user_may_act_on_tracing(user=other_practice_staff)
    TracingTask.objects.filter(pk=practice_owned.pk).update(status=TaskStatus.TRACED)
    assert not user_may_act_on_tracing(user=practice_staff)
    TracingPolicy.objects.create(pcn=pcn_a, mode=PolicyMode.PRACTICE_LED)
    assert user_may_act_on_tracing(user=practice_staff)


def test_the_cannot_trace_form_asks_only_about_tasks_the_user_may_act_on(
    client_for, practice_staff, practice_led, booked_pcn_owned, practice_owned
):
    client = client_for(practice_staff)
    form = act(client, "cannot_trace", [booked_pcn_owned, practice_owned])
    body = form.content.decode()
    assert "Why can these patients not be traced?" in body
    assert f'name="{ACTION_CHECKBOX_NAME}" value="{practice_owned.pk}"' in body
    assert f'name="{ACTION_CHECKBOX_NAME}" value="{booked_pcn_owned.pk}"' not in body
    assert any("Nothing was done to Mary Booked" in m for m in messages_of(form))
    done = client.post(
        reverse(CHANGELIST),
        {
            "action": "cannot_trace",
            ACTION_CHECKBOX_NAME: [practice_owned.pk],
            "apply": "1",
            "reason": "other",
            "note": "Moved away",
        },
        follow=True,
    )
    assert "1 task recorded as cannot trace." in messages_of(done)
    practice_owned.refresh_from_db()
    assert (practice_owned.status, practice_owned.cannot_trace_note) == (
        "cannot_trace",
        "Moved away",
    )
    _unchanged(booked_pcn_owned)
