"""seed_demo adds tracing: policies, tasks in every state, the beat poller on."""

from __future__ import annotations

from django.core.management import call_command

from tracing.models import TaskStatus, TracingPolicy, TracingTask


def test_seed_demo_adds_policies_and_tasks_in_every_state(db, settings):
    call_command("seed_demo")
    assert set(TracingPolicy.objects.values_list("pcn__ods_code", flat=True)) == {
        "U00001",
        "U00002",
    }
    statuses = set(
        TracingTask.objects.filter(pcn__ods_code="U00002").values_list("status", flat=True)
    )
    assert statuses == set(TaskStatus.values)
    count = TracingTask.objects.count()
    call_command("seed_demo")
    assert TracingTask.objects.count() == count


def test_seed_demo_gives_the_dashboard_two_weeks_of_history(db, settings):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from hippo_pcn.audit.models import AuditEntry
    from tracing.selectors import tracing_dashboard

    call_command("seed_demo")
    history = TracingTask.objects.filter(emis_appointment_id__startswith="HIST-")
    assert history.exists()
    assert all(t.status == TaskStatus.TRACED for t in history)
    assert all(t.appointment_start < timezone.now() for t in history)  # past: never polled
    assert all(t.created_at < t.done_at for t in history)
    assert (
        AuditEntry.objects.filter(action="tracing_task.traced", details__demo_history=True).count()
        == history.count()
    )
    tracer = get_user_model().objects.get(username="u00002.tracer")
    (panel,) = tracing_dashboard(user=tracer)
    assert 50 < panel.before_appointment_rate < 100  # some were traced late
    assert panel.median_hours_to_trace > 0


def test_seed_demo_includes_overdue_tasks_the_worklist_shows_in_red(db, settings, client):
    from django.contrib.auth import get_user_model
    from django.urls import reverse
    from django.utils import timezone

    call_command("seed_demo")
    now = timezone.now()
    overdue = TracingTask.objects.filter(pcn__ods_code="U00002").overdue(now)
    assert overdue.count() >= 2
    for task in overdue:
        assert task.due_at < now < task.appointment_start  # still ahead: red, not missed
        assert task.created_at < task.due_at  # found before it fell due
    ids = set(overdue.values_list("pk", flat=True))
    count = TracingTask.objects.count()
    call_command("seed_demo")
    assert TracingTask.objects.count() == count
    assert set(TracingTask.objects.overdue().values_list("pk", flat=True)) == ids
    client.force_login(get_user_model().objects.get(username="u00002.tracer"))
    page = client.get(reverse("admin:tracing_tracingtask_changelist") + "?due=overdue")
    assert page.context["cl"].result_count == len(ids)
    assert page.content.decode().count('class="hippo-overdue"') == len(ids)


def test_seed_demo_shows_practice_staff_a_pcn_owned_task_they_may_not_act_on(db, settings, client):
    """Under Hillside PCN's PCN-led policy, a task its practice booked is on the
    practice's worklist, but the practice's staff are offered no action on it."""
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    call_command("seed_demo")
    booked = TracingTask.objects.filter(
        pcn__ods_code="U00002", booking_organisation__isnull=False
    ).active()
    assert booked.count() == 1
    task = booked.get()
    assert task.owner.ods_code == "U00002"
    call_command("seed_demo")
    assert TracingTask.objects.filter(booking_organisation__isnull=False).active().count() == 1
    staff = get_user_model().objects.get(
        username=f"{task.booking_organisation.ods_code.lower()}.staff"
    )
    client.force_login(staff)
    page = client.get(reverse("admin:tracing_tracingtask_changelist"))
    assert page.context["cl"].result_count == 1
    assert 'name="action"' not in page.content.decode()
