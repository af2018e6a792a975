"""Tracing tasks (the worklist) and the rules that sort them: active, overdue,
due today, due this week, appointment within 24 hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TaskSource(models.TextChoices):
    BOOKED_VIA_APP = "booked_via_app", "Booked through hippo-pcn"
    FOUND_BY_POLL = "found_by_poll", "Found in EMIS by polling"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    TRACED = "traced", "Traced"
    CANNOT_TRACE = "cannot_trace", "Cannot trace"
    NOT_NEEDED = "not_needed", "Not needed (already registered at the PCN)"
    CANCELLED = "cancelled", "Cancelled (appointment cancelled or moved)"


ACTIVE_STATUSES = (TaskStatus.OPEN, TaskStatus.CLAIMED)


APPOINTMENT_SOON = timedelta(hours=24)
DUE_WITHIN_WEEK = timedelta(days=7)


def end_of_london_day(now: datetime) -> datetime:
    """Midnight at the end of `now`'s day in local time (settings.TIME_ZONE,
    Europe/London), aware. Computed from the local date, so it is right on the
    days the clocks change (23- and 25-hour days)."""
    day: date = timezone.localtime(now).date() + timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time(0, 0)))


@dataclass(frozen=True)
class TaskTimeRule:
    """One worklist rule: an active task whose `field` (a time) lies in
    [start, end); a side that is None is open. The queryset's filters (`q`) and
    a task in memory (`matches`) read the same cut-offs, so they cannot disagree."""

    field: str
    start: datetime | None = None
    end: datetime | None = None

    def q(self) -> Q:
        lookups: dict[str, datetime] = {}
        if self.start is not None:
            lookups[f"{self.field}__gte"] = self.start
        if self.end is not None:
            lookups[f"{self.field}__lt"] = self.end
        return Q(status__in=ACTIVE_STATUSES, **lookups)

    def matches(self, task: TracingTask) -> bool:
        if task.status not in ACTIVE_STATUSES:
            return False
        value: datetime = getattr(task, self.field)
        if self.start is not None and value < self.start:
            return False
        return self.end is None or value < self.end


def overdue_rule(now: datetime | None = None) -> TaskTimeRule:
    """Active and its due time has passed: due_at < now."""
    return TaskTimeRule("due_at", end=now or timezone.now())


def due_today_rule(now: datetime | None = None) -> TaskTimeRule:
    """Active and due from now until the end of the local day:
    now <= due_at < next local midnight. Never overlaps overdue."""
    now = now or timezone.now()
    return TaskTimeRule("due_at", start=now, end=end_of_london_day(now))


def due_within_week_rule(now: datetime | None = None) -> TaskTimeRule:
    """Active and due from now until 7 days from now."""
    now = now or timezone.now()
    return TaskTimeRule("due_at", start=now, end=now + DUE_WITHIN_WEEK)


def within_24h_rule(now: datetime | None = None) -> TaskTimeRule:
    """Active (so not traced) and its appointment starts in the next 24 hours:
    now <= appointment_start < now + 24 h."""
    now = now or timezone.now()
    return TaskTimeRule("appointment_start", start=now, end=now + APPOINTMENT_SOON)


def tracing_task_label(
    *, task_id: int | None, appointment_start: datetime | None, site_name: str
) -> str:
    """How a task is named where its patient is not shown (the audit log, delete
    pages): "Tracing task 12: appointment Tue 3 Dec 10:30 at Alpha Hub"."""
    when = ""
    if appointment_start is not None:
        local = timezone.localtime(appointment_start)
        when = f": appointment {local:%a} {local.day} {local:%b %H:%M}"
    where = f" at {site_name}" if site_name and when else ""
    return f"Tracing task {task_id or 'not saved'}{when}{where}"


class TracingTaskQuerySet(models.QuerySet["TracingTask"]):
    """The tracing rules that several places need, defined once. The worklist's
    filters and badges, the digest, the dashboard and the admin index all call
    these; each takes `now` (default: the current time) so that figures shown
    together are computed at one instant.

    * active: open or claimed (someone still has to trace it);
    * overdue: active and its due time has passed (due_at < now);
    * due today: active and due from now until the end of today in
      Europe/London (now <= due_at < next London midnight). Overdue tasks are
      not "due today": the two never overlap, so their counts add up;
    * appointment within 24 hours: active (so not traced) and its appointment
      starts from now until 24 hours from now (now <= appointment_start <
      now + 24 h)."""

    # Q builders: the same rules for filters and for aggregates (Count(filter=...)).
    @staticmethod
    def active_q() -> Q:
        return Q(status__in=ACTIVE_STATUSES)

    @staticmethod
    def overdue_q(now: datetime | None = None) -> Q:
        return overdue_rule(now).q()

    @staticmethod
    def due_today_q(now: datetime | None = None) -> Q:
        return due_today_rule(now).q()

    @staticmethod
    def due_within_week_q(now: datetime | None = None) -> Q:
        """Active and due from now until 7 days from now."""
        return due_within_week_rule(now).q()

    @staticmethod
    def within_24h_q(now: datetime | None = None) -> Q:
        return within_24h_rule(now).q()

    def active(self) -> TracingTaskQuerySet:
        """Open or claimed tasks."""
        return self.filter(self.active_q())

    def overdue(self, now: datetime | None = None) -> TracingTaskQuerySet:
        """Active tasks whose due time has passed (due_at < now)."""
        return self.filter(self.overdue_q(now))

    def due_today(self, now: datetime | None = None) -> TracingTaskQuerySet:
        """Active tasks due from now until the end of today in Europe/London
        (now <= due_at < next London midnight); overdue tasks are not included."""
        return self.filter(self.due_today_q(now))

    def within_24h(self, now: datetime | None = None) -> TracingTaskQuerySet:
        """Active (not traced) tasks whose appointment starts in the next 24
        hours (now <= appointment_start < now + 24 h)."""
        return self.filter(self.within_24h_q(now))


class CannotTraceReason(models.TextChoices):
    NO_NHS_NUMBER = "no_nhs_number", "No NHS number"
    DEMOGRAPHICS_MISMATCH = "demographics_mismatch", "Demographics do not match the spine"
    RECORD_NOT_SHARED = "record_not_shared", "Registered practice does not share the record"
    PATIENT_DECEASED = "patient_deceased", "Patient recorded as deceased"
    NOT_REGISTERED = "not_registered", "Patient not registered with a GP"
    EMIS_ERROR = "emis_error", "EMIS error while tracing"
    OTHER = "other", "Other (explain)"


class TracingTask(models.Model):
    """One PCN appointment that needs its patient traced into the PCN's EMIS
    Community: unique per (PCN connection, EMIS appointment id)."""

    # connection, pcn and owner lead a composite index or the unique constraint
    # below, which serve their lookups: no single-column index of their own (every
    # index is paid for on each of the poller's inserts).
    connection = models.ForeignKey(
        "emis_integration.EmisConnection",
        on_delete=models.PROTECT,
        related_name="tracing_tasks",
        db_index=False,
    )
    emis_appointment_id = models.CharField("EMIS appointment id", max_length=64)
    pcn = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="PCN",
        db_index=False,
    )

    patient_nhs_number = models.CharField("NHS number", max_length=10, blank=True)
    patient_family_name = models.CharField(max_length=100, blank=True)
    patient_given_name = models.CharField(max_length=100, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_gender = models.CharField(max_length=20, blank=True)
    registered_practice_ods = models.CharField(max_length=10, blank=True)
    registered_practice_name = models.CharField(max_length=200, blank=True)
    registered_practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    booking_org_ods = models.CharField(max_length=10, blank=True)
    booking_organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    appointment_start = models.DateTimeField()
    appointment_end = models.DateTimeField()
    site_name = models.CharField(max_length=200, blank=True)
    practitioner = models.CharField(max_length=200, blank=True)
    service = models.CharField(max_length=200, blank=True)
    emis_version = models.CharField(max_length=32, blank=True)
    emis_last_updated = models.DateTimeField(null=True, blank=True)
    # Where the Partner API shows the appointment: the slot (GP Connect's Slot id
    # too), its session, the patient's record number at the PCN, and the slot's
    # status as EMIS words it (kept as sent, never guessed).
    emis_slot_id = models.BigIntegerField("EMIS slot id", null=True, blank=True)
    emis_session_id = models.BigIntegerField("EMIS session id", null=True, blank=True)
    emis_patient_number = models.BigIntegerField("EMIS patient number", null=True, blank=True)
    emis_slot_status = models.CharField("EMIS slot status", max_length=40, blank=True)

    source = models.CharField(max_length=20, choices=TaskSource.choices)
    owner = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="owned_tracing_tasks",
        db_index=False,
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    cannot_trace_reason = models.CharField(
        max_length=30, choices=CannotTraceReason.choices, blank=True
    )
    cannot_trace_note = models.TextField(blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TracingTaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "emis_appointment_id"],
                name="tracingtask_one_per_appointment",
            ),
        ]
        indexes = [
            models.Index(fields=["pcn", "status", "due_at"]),
            models.Index(fields=["owner", "status", "due_at"]),
            models.Index(fields=["status", "due_at"]),
            # The worklist's default view (open and claimed, by due time) of a user
            # who sees every PCN: read in order, counted from the index alone.
            models.Index(
                fields=["due_at", "id"],
                condition=models.Q(status__in=ACTIVE_STATUSES),
                name="tracingtask_active_due",
            ),
            models.Index(fields=["appointment_start"]),
            models.Index(fields=["patient_nhs_number"]),
            # The poller matches an appointment it finds to a task opened by a
            # booking through hippo-pcn (or cancelled earlier) by slot.
            models.Index(fields=["connection", "emis_slot_id"], name="tracingtask_conn_slot"),
        ]
        verbose_name = "tracing task"

    def __str__(self) -> str:
        return tracing_task_label(
            task_id=self.pk, appointment_start=self.appointment_start, site_name=self.site_name
        )

    @property
    def patient_label(self) -> str:
        """How staff recognise the task: the patient's name, never logged."""
        name = f"{self.patient_given_name} {self.patient_family_name}".strip()
        return name or f"the patient of appointment {self.emis_appointment_id}"

    @property
    def nhs_number_display(self) -> str:
        n = self.patient_nhs_number
        return f"{n[:3]} {n[3:6]} {n[6:]}" if len(n) == 10 else n

    @property
    def has_nhs_number(self) -> bool:
        return bool(self.patient_nhs_number)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    # The queryset rules for one task in memory (list columns, badges): the same
    # TaskTimeRule cut-offs the queryset filters by.
    def is_overdue(self, now: datetime | None = None) -> bool:
        """TracingTaskQuerySet.overdue for this task."""
        return overdue_rule(now).matches(self)

    def is_due_today(self, now: datetime | None = None) -> bool:
        """TracingTaskQuerySet.due_today for this task."""
        return due_today_rule(now).matches(self)

    def is_within_24h(self, now: datetime | None = None) -> bool:
        """TracingTaskQuerySet.within_24h for this task."""
        return within_24h_rule(now).matches(self)
