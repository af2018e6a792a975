"""Demo tracing (run by `seed_demo` after the organisations, EMIS connections,
sandbox and bookings exist):

* a tracing policy for each demo PCN: Hillside (U00002, live) traces in a daily
  08:00 batch with auto-verify and "Register at PCN" allowed; Riverside (U00001,
  still in testing) is practice-led;
* a few bookings made directly in Hillside's sandbox EMIS, found by one poll, and
  tasks in every state (open, claimed, traced, cannot trace, not needed,
  cancelled);
* some of those open tasks overdue (found days ago, so their planned due time
  has passed while the appointment is still ahead), so the worklist's red
  "overdue" state, the digest and the dashboard show one;
* two weeks of past, already traced appointments at Hillside (history only:
  their appointments are over, so no poll touches them), so the dashboard's
  chart, traced-before-appointment rate and median time to trace have data;
* the beat poller entry left enabled, so `simulate_emis_bookings --pcn U00002`
  shows new tasks within one poll interval (TRACING_POLL_INTERVAL_SECONDS).

EMIS is reached in-process (no web server runs while seeding). Idempotent."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from emis_integration.demo_emis import DemoEmisError, demo_emis
from emis_integration.models import EmisConnection, EmisSystem
from hippo_pcn.organisations.models import Organisation

from .models import (
    CannotTraceReason,
    PolicyMode,
    TaskSource,
    TaskStatus,
    TracingPolicy,
    TracingTask,
)
from .planning import plan_due
from .poller import poll_connection
from .selectors import policy_for_pcn, policy_view
from .services import (
    TracingActionError,
    tracing_task_cannot_trace,
    tracing_task_claim,
    tracing_task_mark_traced,
    tracing_task_verify,
)

POLICIES: dict[str, dict[str, object]] = {
    "U00002": {
        "mode": PolicyMode.PCN_BATCH_DAILY,
        "batch_time": time(8, 0),
        "auto_verify": True,
        "allow_register_at_pcn": True,
    },
    "U00001": {"mode": PolicyMode.PRACTICE_LED, "practice_working_hours": 4},
}
LIVE_PCN = "U00002"
DEMO_BOOKINGS = 8
HISTORY_DAYS = 14
OVERDUE_TASKS = 2
HISTORY_PREFIX = "HIST-"  # never an EMIS appointment id (the sandbox's are numbers)
FAMILY_NAMES = ["Patel", "Hughes", "Okafor", "Morgan", "Byrne", "Ahmed", "Evans", "Novak"]
GIVEN_NAMES = ["Sam", "Priya", "Tom", "Grace", "Aled", "Maryam", "Chloe", "Jonas"]


def _local(day: date, at: time) -> datetime:
    """`at` on `day` in local time (settings.TIME_ZONE, Europe/London)."""
    return timezone.make_aware(datetime.combine(day, at))


def _policies(stdout: TextIO) -> None:
    for ods, fields in POLICIES.items():
        pcn = Organisation.objects.filter(ods_code=ods).first()
        if pcn is not None:
            _, created = TracingPolicy.objects.get_or_create(pcn=pcn, defaults=fields)
            if created:
                stdout.write(
                    f"  Tracing policy for {pcn.name}: {PolicyMode(str(fields['mode'])).label}"
                )


def _enable_beat_poller() -> None:
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name="tracing-poll-all-pcn-connections").update(enabled=True)


def _tasks_in_every_state(pcn: Organisation, stdout: TextIO) -> None:
    connection = EmisConnection.objects.filter(
        organisation=pcn, system=EmisSystem.EMIS_COMMUNITY
    ).first()
    if connection is None or not connection.is_live:
        stdout.write(f"  {pcn.name} has no live EMIS Community connection: no demo tasks")
        return
    if TracingTask.objects.filter(pcn=pcn).count() >= DEMO_BOOKINGS:
        return
    emis = demo_emis()
    if emis is None:
        stdout.write(f"  No test EMIS to book demo appointments in: no demo tasks at {pcn.name}")
        return
    try:
        emis.book_appointments(pcn_ods=pcn.ods_code, count=DEMO_BOOKINGS)
    except DemoEmisError as exc:
        stdout.write(f"  Could not book demo appointments in EMIS: {exc}")
    run = poll_connection(connection=connection)
    stdout.write(f"  Poll of {pcn.name}: {run.created} tasks found in EMIS")
    User = get_user_model()
    tracer = User.objects.filter(username=f"{pcn.ods_code.lower()}.tracer").first()
    if tracer is None:
        return
    tasks = list(
        TracingTask.objects.filter(pcn=pcn, status=TaskStatus.OPEN)
        .select_related("connection", "connection__organisation", "pcn")
        .order_by("appointment_start")
    )
    if len(tasks) < 5:
        return
    try:
        tracing_task_claim(task=tasks[0], user=tracer)
        tracing_task_claim(task=tasks[1], user=tracer)
        tracing_task_mark_traced(task=tasks[1], user=tracer)
        tracing_task_cannot_trace(
            task=tasks[2],
            user=tracer,
            reason=CannotTraceReason.RECORD_NOT_SHARED,
            note="Registered practice asked to enable record sharing.",
        )
        # Already registered at the PCN: auto-verify finds it.
        emis.register_patient(
            organisation_ods=pcn.ods_code,
            nhs_number=tasks[3].patient_nhs_number,
            family=tasks[3].patient_family_name or "Unknown",
            given=tasks[3].patient_given_name,
            birth_date=tasks[3].patient_birth_date or timezone.localdate(),
            registered_practice_ods=tasks[3].registered_practice_ods,
        )
        tracing_task_verify(task=tasks[3], actor=tracer)
    except TracingActionError as exc:
        stdout.write(f"  Demo tracing step skipped: {exc.message}")
    # Cancelled in EMIS: the next poll follows.
    emis.cancel_appointment(
        organisation_ods=pcn.ods_code, patient_number=tasks[4].emis_patient_number
    )
    poll_connection(connection=connection)
    stdout.write(
        f"  Tracing tasks at {pcn.name}: "
        + ", ".join(
            f"{status.label.split(' (')[0].lower()} {TracingTask.objects.filter(pcn=pcn, status=status).count()}"
            for status in TaskStatus
        )
    )


def _overdue(pcn: Organisation, stdout: TextIO) -> None:
    """Make OVERDUE_TASKS of the PCN's open tasks overdue: as if the poller had
    found them some days ago, so the policy's due time (planned from when a
    task was found, as every re-plan does) has passed while the appointment is
    still ahead. Idempotent: tasks already overdue count, nothing is created."""
    now = timezone.now()
    pcn_tasks = TracingTask.objects.filter(pcn=pcn).exclude(
        emis_appointment_id__startswith=HISTORY_PREFIX
    )
    missing = OVERDUE_TASKS - pcn_tasks.overdue(now).count()
    if missing <= 0:
        return
    view = policy_view(policy_for_pcn(pcn=pcn))
    candidates = list(
        pcn_tasks.filter(
            status=TaskStatus.OPEN, due_at__gte=now, appointment_start__gt=now
        ).order_by("-appointment_start", "pk")[:missing]
    )
    made = 0
    for task in candidates:
        for days_back in range(2, 15):  # back past any weekend or bank holidays
            found = now - timedelta(days=days_back)
            due = plan_due(policy=view, found_at=found, appointment_start=task.appointment_start)
            if due < now:
                TracingTask.objects.filter(pk=task.pk).update(created_at=found, due_at=due)
                made += 1
                break
    if made:
        stdout.write(f"  {made} open tasks at {pcn.name} made overdue (the worklist's red state)")


def _booked_by_a_practice(pcn: Organisation, stdout: TextIO) -> None:
    """One open task as if its patient's own practice had booked it through
    hippo-pcn: under the PCN-led policy the PCN owns it, so that practice's staff
    see it on their worklist but may not act on it. Idempotent."""
    tasks = TracingTask.objects.filter(pcn=pcn).exclude(
        emis_appointment_id__startswith=HISTORY_PREFIX
    )
    if tasks.active().filter(booking_organisation__isnull=False).exists():
        return
    practices = {p.ods_code: p for p in Organisation.objects.filter(pcn=pcn)}
    for task in tasks.filter(status=TaskStatus.OPEN).order_by("appointment_start", "pk"):
        practice = practices.get(task.registered_practice_ods)
        if practice is not None and task.owner_id == pcn.pk:
            TracingTask.objects.filter(pk=task.pk).update(
                booking_organisation=practice, source=TaskSource.BOOKED_VIA_APP
            )
            stdout.write(
                f"  One open task at {pcn.name} booked by {practice.name}: its staff see it "
                "but the PCN traces it"
            )
            return


def _history(pcn: Organisation, stdout: TextIO) -> None:
    """Past appointments traced over the last two weeks (one in eight traced
    only after the appointment), with their audit entries."""
    from django.contrib.contenttypes.models import ContentType

    from hippo_pcn.audit.services import AuditRow, audit_bulk_append

    connection = EmisConnection.objects.filter(
        organisation=pcn, system=EmisSystem.EMIS_COMMUNITY
    ).first()
    tracer = get_user_model().objects.filter(username=f"{pcn.ods_code.lower()}.tracer").first()
    if connection is None or tracer is None:
        return
    if TracingTask.objects.filter(
        connection=connection, emis_appointment_id__startswith=HISTORY_PREFIX
    ).exists():
        return
    practices = list(Organisation.objects.filter(pcn=pcn).order_by("ods_code"))
    today = timezone.localdate()
    tasks: list[TracingTask] = []
    found_at: dict[str, datetime] = {}
    n = 0
    for days_ago in range(HISTORY_DAYS + 2, 2, -1):
        day: date = today - timedelta(days=days_ago)
        if day.weekday() >= 5:
            continue
        for i in range(3 + (days_ago * 7) % 5):
            n += 1
            found = _local(day, time(9, 0)) + timedelta(minutes=47 * i)
            start = _local(day + timedelta(days=2), time(10, 0))
            start += timedelta(minutes=20 * i)
            late = n % 8 == 0
            done = start + timedelta(hours=2) if late else found + timedelta(hours=2 + n % 20)
            practice = practices[n % len(practices)] if practices else None
            found_at[f"{HISTORY_PREFIX}{n}"] = found
            tasks.append(
                TracingTask(
                    connection=connection,
                    emis_appointment_id=f"{HISTORY_PREFIX}{n}",
                    pcn=pcn,
                    patient_nhs_number="",
                    patient_family_name=FAMILY_NAMES[n % len(FAMILY_NAMES)],
                    patient_given_name=GIVEN_NAMES[(n * 3) % len(GIVEN_NAMES)],
                    registered_practice_ods=practice.ods_code if practice else "",
                    registered_practice_name=practice.name if practice else "",
                    registered_practice=practice,
                    appointment_start=start,
                    appointment_end=start + timedelta(minutes=10),
                    site_name="Hillside Hub",
                    source="booked_via_app" if n % 3 else "found_by_poll",
                    owner=pcn,
                    due_at=min(start, found + timedelta(days=1)),
                    status=TaskStatus.TRACED,
                    done_by=tracer,
                    done_at=done,
                )
            )
    made = TracingTask.objects.bulk_create(tasks)
    # created_at is stamped on insert; history needs the time each task was found.
    for task in made:
        task.created_at = found_at[task.emis_appointment_id]
    TracingTask.objects.bulk_update(made, ["created_at"])
    task_type = ContentType.objects.get_for_model(TracingTask)
    audit_bulk_append(
        [
            AuditRow(
                actor_label=tracer.get_username(),
                actor_id=tracer.pk,
                action="tracing_task.traced",
                content_type_id=task_type.pk,
                object_id=str(task.pk),
                object_repr=str(task),
                organisation_id=pcn.pk,
                details={"demo_history": True, "done_at": task.done_at},
            )
            for task in made
        ]
    )
    stdout.write(f"  {len(made)} past traced appointments at {pcn.name} for the dashboard")


def seed_demo(*, stdout: TextIO) -> None:
    _policies(stdout)
    previous = settings.EMIS_HTTP_TRANSPORT_FACTORY
    settings.EMIS_HTTP_TRANSPORT_FACTORY = "emis_integration.inprocess.in_process_transport"
    try:
        pcn = Organisation.objects.filter(ods_code=LIVE_PCN).first()
        if pcn is not None:
            _tasks_in_every_state(pcn, stdout)
            _overdue(pcn, stdout)
            _booked_by_a_practice(pcn, stdout)
            _history(pcn, stdout)
    finally:
        settings.EMIS_HTTP_TRANSPORT_FACTORY = previous
    _enable_beat_poller()
    stdout.write(
        f"  Beat polls live PCN connections every {settings.TRACING_POLL_INTERVAL_SECONDS} s "
        "(set TRACING_POLL_INTERVAL_SECONDS=30 for a quicker demo); try "
        f"`manage.py simulate_emis_bookings --pcn {LIVE_PCN} --count 5 --cancel 1 --move 1`."
    )
