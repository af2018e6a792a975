"""Campaigns: a practice's drive to book patients, its window of dates and its
sending state, and the patients on it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from hippo_pcn.organisations.roles import OrganisationKind


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class SendingState(models.TextChoices):
    """Where the campaign's invitation waves stand, as the last wave found it
    (booking.invites.waves). Blank until the first wave."""

    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    DONE = "done", "Done"


class Campaign(models.Model):
    """A practice's drive to book patients (a flu clinic, health checks...), into
    its own slots and, when its PCN is live and the campaign opts in, PCN slots."""

    practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="campaigns",
        limit_choices_to={"kind": OrganisationKind.PRACTICE},
    )
    name = models.CharField(max_length=120)
    appointment_type = models.CharField(
        max_length=100,
        help_text="What patients are booked for, e.g. “Flu vaccination”. Sent to EMIS with "
        "each booking.",
    )
    start_date = models.DateField()
    end_date = models.DateField()
    use_pcn_slots = models.BooleanField(
        "offer PCN slots",
        default=True,
        help_text="Offer the PCN's shared slots beside the practice's own (once the PCN's "
        "EMIS Community is live).",
    )
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    # Which slots the campaign offers (booking.selectors.campaign_offerable_slots).
    slot_service_types = models.JSONField(
        "slot types",
        default=list,
        blank=True,
        help_text="GP Connect Slot.serviceType texts, e.g. “Flu vaccination”. None: no slot "
        "is offered, and the campaign cannot go active.",
    )
    delivery_channels = models.JSONField(
        "delivery channels",
        default=list,
        blank=True,
        help_text="In-person, Telephone, Video (GP Connect's delivery channel). None: any.",
    )
    slot_sites = models.JSONField(
        "sites", default=list, blank=True, help_text="Site (Location) names. None: any site."
    )
    slot_clinicians = models.JSONField(
        "clinicians",
        default=list,
        blank=True,
        help_text="Clinician (Practitioner) names. None: any clinician.",
    )
    patients = models.ManyToManyField(
        "booking.Patient", through="booking.CampaignPatient", related_name="campaigns"
    )
    # Invitations: sent in waves matched to free capacity, within sending hours.
    invites_per_free_slot = models.DecimalField(
        "invites per free slot",
        max_digits=4,
        decimal_places=1,
        default=3,
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("20"))],
        help_text="How many patients to invite for each free slot across the campaign's "
        "sources. Over-inviting leaves patients with nothing to book.",
    )
    daily_invite_cap = models.PositiveIntegerField(
        "invites per day (at most)",
        default=200,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
    )
    sending_from = models.TimeField("send from", default=time(9, 0))
    sending_until = models.TimeField("send until", default=time(19, 0))
    invite_channel = models.CharField(
        "send by",
        max_length=10,
        choices=[("sms", "Text message"), ("email", "Email")],
        default="sms",
        help_text="Patients without a mobile number get an email instead, and the other way round.",
    )
    chaser_count = models.PositiveSmallIntegerField(
        "reminders",
        default=2,
        validators=[MaxValueValidator(3)],
        help_text="Up to 3 reminders to patients who have not booked, declined or opted out.",
    )
    chaser_interval_days = models.PositiveSmallIntegerField(
        "days between reminders",
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
    )
    invite_expiry_days = models.PositiveSmallIntegerField(
        "invitation link valid for (days)",
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
    )
    message_patients_on_staff_changes = models.BooleanField(
        "message patients when staff book, move or cancel",
        default=True,
        help_text="Send the patient a text message or email with the appointment's details and "
        "their link to change or cancel it.",
    )
    # The sending state the last wave recorded, set in the same transaction as its
    # "invites.wave_state" audit entry (the entries are the history; this is now).
    sending_state = models.CharField(
        max_length=10, choices=SendingState.choices, blank=True, default="", editable=False
    )
    sending_reason = models.CharField(
        max_length=60,
        blank=True,
        default="",
        editable=False,
        help_text="Why the campaign is paused or done (blank while sending).",
    )
    sending_state_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_date", "name"]
        indexes = [models.Index(fields=["practice", "status"])]
        constraints = [
            models.CheckConstraint(
                name="campaign_window_ordered",
                condition=models.Q(end_date__gte=models.F("start_date")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.practice.ods_code})"

    @property
    def is_active(self) -> bool:
        return self.status == CampaignStatus.ACTIVE

    def full_window(self) -> tuple[datetime, datetime]:
        """[its first day 00:00, the day after its last day 00:00) in local time
        (settings.TIME_ZONE), so a day the clocks change is 23 or 25 hours long."""
        start = timezone.make_aware(datetime.combine(self.start_date, time.min))
        end = timezone.make_aware(datetime.combine(self.end_date + timedelta(days=1), time.min))
        return start, end

    def bookable_window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """[start, end) of the times a patient may still be booked into: the full
        window, never before now."""
        start, end = self.full_window()
        return max(start, now or timezone.now()), end


class CampaignPatient(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="entries")
    patient = models.ForeignKey("booking.Patient", on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "patient"], name="campaignpatient_unique"),
        ]

    def __str__(self) -> str:
        return f"Patient {self.patient_id} in campaign {self.campaign_id}"
