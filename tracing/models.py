from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from hippo_pcn.organisations.roles import OrganisationKind


class PolicyMode(models.TextChoices):
    PCN_BATCH_DAILY = "pcn_batch_daily", "PCN-led batch, each working morning (recommended)"
    PCN_BATCH_WEEKLY = "pcn_batch_weekly", "PCN-led batch, weekly"
    PRACTICE_LED = "practice_led", "Practice-led: the booking practice traces after each booking"
    ON_THE_DAY = "on_the_day", "On the day: the PCN traces when the patient arrives"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class TracingPolicy(models.Model):
    """How one PCN makes sure each booking is traced: who owns each task and when
    it is due. Due times are never after the appointment start."""

    pcn = models.OneToOneField(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="tracing_policy",
        limit_choices_to={"kind": OrganisationKind.PCN},
        verbose_name="PCN",
    )
    mode = models.CharField(
        max_length=20, choices=PolicyMode.choices, default=PolicyMode.PCN_BATCH_DAILY
    )
    batch_time = models.TimeField(
        default=time(8, 0), help_text="Europe/London time of the PCN's tracing batch."
    )
    batch_weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices,
        default=Weekday.MONDAY,
        help_text="For the weekly batch: the day it runs.",
    )
    practice_working_hours = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(40)],
        help_text="Practice-led: working hours after booking by which the practice traces.",
    )
    auto_verify = models.BooleanField(
        default=True,
        help_text="Before a task is due, ask the PCN's EMIS whether the patient is already "
        "registered there; if so the task needs no tracing.",
    )
    allow_register_at_pcn = models.BooleanField(
        "allow “Register at PCN”",
        default=False,
        help_text="Let tracers register the patient at the PCN through GP Connect "
        "(always a temporary registration).",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "tracing policy"
        verbose_name_plural = "tracing policies"

    def __str__(self) -> str:
        return f"{self.pcn.name}: {self.get_mode_display()}"


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


LONDON = ZoneInfo("Europe/London")
APPOINTMENT_SOON = timedelta(hours=24)


def end_of_london_day(now: datetime) -> datetime:
    """Midnight at the end of `now`'s day in Europe/London (aware). Computed
    from the London date, so it is right on the days the clocks change (23- and
    25-hour days)."""
    day: date = now.astimezone(LONDON).date() + timedelta(days=1)
    return datetime.combine(day, time(0, 0), tzinfo=LONDON)


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
        now = now or timezone.now()
        return Q(status__in=ACTIVE_STATUSES, due_at__lt=now)

    @staticmethod
    def due_today_q(now: datetime | None = None) -> Q:
        now = now or timezone.now()
        return Q(status__in=ACTIVE_STATUSES, due_at__gte=now, due_at__lt=end_of_london_day(now))

    @staticmethod
    def due_within_week_q(now: datetime | None = None) -> Q:
        """Active and due from now until 7 days from now."""
        now = now or timezone.now()
        return Q(status__in=ACTIVE_STATUSES, due_at__gte=now, due_at__lt=now + timedelta(days=7))

    @staticmethod
    def within_24h_q(now: datetime | None = None) -> Q:
        now = now or timezone.now()
        return Q(
            status__in=ACTIVE_STATUSES,
            appointment_start__gte=now,
            appointment_start__lt=now + APPOINTMENT_SOON,
        )

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

    # The queryset rules for one task in memory (list columns, badges).
    def is_overdue(self, now: datetime | None = None) -> bool:
        """TracingTaskQuerySet.overdue for this task."""
        return self.is_active and self.due_at < (now or timezone.now())

    def is_due_today(self, now: datetime | None = None) -> bool:
        """TracingTaskQuerySet.due_today for this task."""
        now = now or timezone.now()
        return self.is_active and now <= self.due_at < end_of_london_day(now)

    def is_within_24h(self, now: datetime | None = None) -> bool:
        """TracingTaskQuerySet.within_24h for this task."""
        now = now or timezone.now()
        return self.is_active and now <= self.appointment_start < now + APPOINTMENT_SOON


class PollCursor(models.Model):
    """One PCN connection's polling state: when its sessions were last all swept,
    its health, and the lease that keeps two workers from polling it at once."""

    connection = models.OneToOneField(
        "emis_integration.EmisConnection", on_delete=models.CASCADE, related_name="poll_cursor"
    )
    last_full_sweep_at = models.DateTimeField(
        "last full sweep",
        null=True,
        blank=True,
        help_text="When every session in the window last had its slots read (a full sweep "
        "catches changes that leave a session's counts as they were).",
    )
    last_success_at = models.DateTimeField("last successful poll", null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=36, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    alert_raised_at = models.DateTimeField(
        "poll alert raised", null=True, blank=True, help_text="Set while support is alerted."
    )

    class Meta:
        verbose_name = "poll cursor"

    def __str__(self) -> str:
        return f"Poll cursor for connection {self.connection_id}"


class PollRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (another poll was running)"


class PollRun(models.Model):
    """One poll of one PCN connection."""

    connection = models.ForeignKey(
        "emis_integration.EmisConnection", on_delete=models.CASCADE, related_name="poll_runs"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=PollRunStatus.choices, default=PollRunStatus.RUNNING
    )
    full_sweep = models.BooleanField(default=False)
    emis_calls = models.PositiveIntegerField("EMIS calls", default=0)
    sessions_listed = models.PositiveIntegerField(default=0)
    sessions_fetched = models.PositiveIntegerField(default=0)
    appointments_seen = models.PositiveIntegerField(
        default=0, help_text="Booked slots read in the sessions fetched."
    )
    created = models.PositiveIntegerField("tasks created", default=0)
    cancelled = models.PositiveIntegerField("tasks cancelled", default=0)
    moved = models.PositiveIntegerField("tasks re-dated", default=0)
    updated = models.PositiveIntegerField(
        "tasks otherwise updated",
        default=0,
        help_text="Linked to a booking made through hippo-pcn, reopened, NHS number found, "
        "or slot status changed.",
    )
    warnings = models.TextField(
        blank=True, help_text="Items EMIS sent that were skipped or could not be resolved."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["connection", "-started_at"])]
        verbose_name = "poll run"

    def __str__(self) -> str:
        return f"Poll of connection {self.connection_id} at {self.started_at:%Y-%m-%d %H:%M}"


class PollSession(models.Model):
    """The poller's snapshot of one EMIS appointment session: what its counts
    looked like when its slots were last read. A session whose counts change is
    read again."""

    connection = models.ForeignKey(
        "emis_integration.EmisConnection",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    session_id = models.BigIntegerField()
    session_date = models.DateField()
    signature = models.CharField(
        max_length=64, help_text="A digest of the session's times and slot counts."
    )
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "session_id"], name="pollsession_one_per_session"
            )
        ]
        verbose_name = "polled session"

    def __str__(self) -> str:
        return f"Session {self.session_id} on {self.session_date:%Y-%m-%d}"


class PollSlot(models.Model):
    """The poller's snapshot of one booked slot: which patient was in it when its
    session was last read, and the task that traces them. Free slots are not kept."""

    connection = models.ForeignKey(
        "emis_integration.EmisConnection",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    session_id = models.BigIntegerField()
    slot_id = models.BigIntegerField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=40, blank=True)
    patient_number = models.BigIntegerField()
    task = models.ForeignKey(
        TracingTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "slot_id"], name="pollslot_one_per_slot")
        ]
        indexes = [
            models.Index(fields=["connection", "session_id"], name="pollslot_conn_session"),
        ]
        verbose_name = "polled booked slot"

    def __str__(self) -> str:
        return f"Slot {self.slot_id} (patient {self.patient_number})"


class PollPatient(models.Model):
    """Demographics the poller resolved for a patient number at one PCN's EMIS
    (GetPatientDemographics), cached so a patient is looked up once."""

    connection = models.ForeignKey(
        "emis_integration.EmisConnection",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    patient_number = models.BigIntegerField()
    nhs_number = models.CharField(max_length=10, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    given_names = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=20, blank=True)
    registered_practice_ods = models.CharField(max_length=10, blank=True)
    registered_practice_name = models.CharField(max_length=200, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "patient_number"], name="pollpatient_one_per_number"
            )
        ]
        verbose_name = "polled patient"

    def __str__(self) -> str:
        return f"Patient number {self.patient_number}"
