"""The poller's state per PCN connection: its cursor and lease, its runs, and the
snapshot of sessions, slots and patients it diffs the next sweep against."""

from __future__ import annotations

from django.db import models

from .tasks import TracingTask


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
