"""Auto-verify against the PCN's EMIS, and "Register at PCN"."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from emis_integration.sandbox.models import Patient, RegistrationType
from hippo_pcn.audit.models import AuditEntry
from tracing.models import TracingPolicy, TracingTask
from tracing.poller import poll_connection
from tracing.services import tracing_tasks_auto_verify
from tracing.tasks import auto_verify_due_tasks

from .helpers import simulate
from .test_worklist_admin import act, messages_of

CHANGELIST = "admin:tracing_tracingtask_changelist"


def _register_at_pcn(world, nhs_number, birth_date=None):
    """The patient registers at the PCN in EMIS: the record EMIS made for their
    appointment becomes a temporary registration (with the patient's own date of
    birth, unless another is given)."""
    task = TracingTask.objects.filter(patient_nhs_number=nhs_number).first()
    Patient.objects.update_or_create(
        organisation=world.orgs["U10001"],
        nhs_number=nhs_number,
        defaults={
            "family": "Already",
            "given": "There",
            "birth_date": birth_date or task.patient_birth_date,
            "registration_type": RegistrationType.TEMPORARY,
            "registered_practice_ods": "A10001",
        },
    )


def _due_soon():
    TracingTask.objects.update(due_at=timezone.now() + timedelta(hours=2))


def test_auto_verify_marks_registered_patients_not_needed_with_evidence(pcn_connection, pcn_world):
    simulate(3)
    poll_connection(connection=pcn_connection)
    _due_soon()
    registered, *others = list(TracingTask.objects.order_by("pk"))
    _register_at_pcn(pcn_world, registered.patient_nhs_number)
    assert tracing_tasks_auto_verify() == 1
    registered.refresh_from_db()
    assert registered.status == "not_needed"
    assert "Registered at the PCN's EMIS" in registered.verification_note
    assert AuditEntry.objects.get(action="tracing_task.not_needed").actor_label == (
        "system: auto-verify"
    )
    for task in others:
        task.refresh_from_db()
        assert task.status == "open" and task.verified_at is not None
    # Checked ones are not asked again on the next run.
    auto_verify_due_tasks()
    assert TracingTask.objects.filter(status="not_needed").count() == 1


def test_a_pcn_record_with_another_date_of_birth_never_closes_the_task(pcn_connection, pcn_world):
    """Same NHS number, another date of birth: perhaps another person (a mistyped
    number). The task stays open, says why, and the history tells it in words."""
    simulate(1)
    poll_connection(connection=pcn_connection)
    _due_soon()
    task = TracingTask.objects.get()
    _register_at_pcn(
        pcn_world, task.patient_nhs_number, birth_date=task.patient_birth_date - timedelta(days=800)
    )
    assert tracing_tasks_auto_verify() == 0
    task.refresh_from_db()
    assert task.status == "open"
    assert "different date of birth" in task.verification_note
    assert AuditEntry.objects.filter(action="tracing_task.identity_mismatch").count() == 1
    from tracing.history import tracing_task_history_lines

    lines = [line.sentence for line in tracing_task_history_lines(task=task)]
    assert any("different date of birth" in line for line in lines), lines


def test_auto_verify_respects_the_policy_and_the_horizon(pcn_connection, pcn_world, pcn_a):
    simulate(2)
    poll_connection(connection=pcn_connection)
    TracingTask.objects.update(due_at=timezone.now() + timedelta(days=10))
    for task in TracingTask.objects.all():
        _register_at_pcn(pcn_world, task.patient_nhs_number)
    assert tracing_tasks_auto_verify() == 0  # not due soon
    _due_soon()
    TracingPolicy.objects.create(pcn=pcn_a, auto_verify=False)
    assert tracing_tasks_auto_verify() == 0  # switched off
    assert TracingTask.objects.filter(status="open").count() == 2


def test_auto_verify_survives_emis_being_down(pcn_connection, pcn_world):
    simulate(2)
    poll_connection(connection=pcn_connection)
    _due_soon()
    pcn_world.faults("U10001", error_rate=1.0)
    assert tracing_tasks_auto_verify() == 0
    assert TracingTask.objects.filter(status="open", verified_at__isnull=True).count() == 2


def test_auto_verify_asks_again_once_a_day_until_the_task_is_due(pcn_connection, pcn_world):
    from tracing.services.verification import NOT_REGISTERED_NOTE

    simulate(2)
    poll_connection(connection=pcn_connection)
    now = timezone.now()
    later, sooner = list(TracingTask.objects.order_by("pk"))
    TracingTask.objects.filter(pk=later.pk).update(due_at=now + timedelta(hours=40))
    TracingTask.objects.filter(pk=sooner.pk).update(due_at=now + timedelta(hours=20))
    assert tracing_tasks_auto_verify(now=now) == 0
    first_checks = dict(TracingTask.objects.values_list("pk", "verified_at"))
    assert all(first_checks.values())
    assert set(TracingTask.objects.values_list("verification_note", flat=True)) == {
        NOT_REGISTERED_NOTE
    }
    # Both patients register at the PCN after the first check.
    for task in (later, sooner):
        _register_at_pcn(pcn_world, task.patient_nhs_number)
    # Within the day: not asked again.
    assert tracing_tasks_auto_verify(now=now + timedelta(hours=6)) == 0
    assert dict(TracingTask.objects.values_list("pk", "verified_at")) == first_checks
    # A day on: the task not yet due is asked again and found registered; the
    # one already due is not (its tracer works it now).
    assert tracing_tasks_auto_verify(now=now + timedelta(hours=25)) == 1
    later.refresh_from_db()
    sooner.refresh_from_db()
    assert later.status == "not_needed"
    assert "Registered at the PCN's EMIS" in later.verification_note
    assert sooner.status == "open" and sooner.verified_at == first_checks[sooner.pk]


def test_verify_now_action(pcn_connection, pcn_world, pcn_tracer, client_for):
    simulate(1)
    poll_connection(connection=pcn_connection)
    task = TracingTask.objects.get()
    response = act(client_for(pcn_tracer), "verify_now", [task])
    assert any("not registered at the PCN yet" in m for m in messages_of(response))
    _register_at_pcn(pcn_world, task.patient_nhs_number)
    response = act(client_for(pcn_tracer), "verify_now", [task])
    assert any("already registered at the PCN" in m for m in messages_of(response))
    task.refresh_from_db()
    assert task.status == "not_needed"


def test_register_at_pcn_needs_the_policy_switch(
    pcn_connection, pcn_world, pcn_tracer, client_for, pcn_a
):
    simulate(1)
    poll_connection(connection=pcn_connection)
    task = TracingTask.objects.get()
    client = client_for(pcn_tracer)
    response = act(client, "register_at_pcn", [task])
    assert any("does not allow “Register at PCN”" in m for m in messages_of(response))
    TracingPolicy.objects.create(pcn=pcn_a, allow_register_at_pcn=True)
    response = act(client, "register_at_pcn", [task])
    assert "1 task registered at the PCN and marked traced." in messages_of(response)
    task.refresh_from_db()
    assert task.status == "traced"
    assert "temporary registration" in task.verification_note
    patient = Patient.objects.get(
        organisation=pcn_world.orgs["U10001"], nhs_number=task.patient_nhs_number
    )
    assert patient.registration_type == RegistrationType.TEMPORARY
    assert AuditEntry.objects.filter(action="tracing_task.registered_at_pcn").exists()


def test_register_at_pcn_when_already_registered_is_not_needed(
    pcn_connection, pcn_world, pcn_tracer, client_for, pcn_a
):
    simulate(1)
    poll_connection(connection=pcn_connection)
    TracingPolicy.objects.create(pcn=pcn_a, allow_register_at_pcn=True)
    task = TracingTask.objects.get()
    _register_at_pcn(pcn_world, task.patient_nhs_number)
    act(client_for(pcn_tracer), "register_at_pcn", [task])
    task.refresh_from_db()
    assert task.status == "not_needed"


def test_register_at_pcn_refuses_without_nhs_number(pcn_connection, pcn_tracer, client_for, pcn_a):
    simulate(1)
    poll_connection(connection=pcn_connection)
    TracingPolicy.objects.create(pcn=pcn_a, allow_register_at_pcn=True)
    TracingTask.objects.update(patient_nhs_number="")
    response = act(client_for(pcn_tracer), "register_at_pcn", [TracingTask.objects.get()])
    assert any("lacks an NHS number" in m for m in messages_of(response))
    assert reverse(CHANGELIST)
