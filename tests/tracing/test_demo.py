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
