"""Booking's tables.

Sections:
* Patients: a practice's patients, imported from CSV files.
* Patient imports: an uploaded CSV file, parsed and checked, waiting for (or done
  with) the user's confirmation.
* Campaigns, the slot mirror and bookings.
* Invitations: a patient's link to book, its delivery and the patient's response.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from hippo_pcn.organisations.roles import OrganisationKind

from .patient_data import (
    E164_UK_MOBILE,
    NAME_MAX_LENGTH,
    format_nhs_number,
    format_uk_mobile,
    mask_uk_mobile,
    validate_nhs_number,
    validate_uk_mobile,
)

# --- Patients -------------------------------------------------------------------------


class Patient(models.Model):
    """A patient of one practice. The same person registered at two practices
    (after moving) is two rows: each practice owns its own list."""

    practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="patients",
        limit_choices_to={"kind": OrganisationKind.PRACTICE},
    )
    nhs_number = models.CharField(
        "NHS number",
        max_length=10,
        validators=[validate_nhs_number],
        help_text="10 digits, stored without spaces.",
    )
    first_name = models.CharField(max_length=NAME_MAX_LENGTH)
    last_name = models.CharField(max_length=NAME_MAX_LENGTH)
    date_of_birth = models.DateField()
    mobile = models.CharField(
        "mobile number",
        max_length=13,
        blank=True,
        validators=[validate_uk_mobile],
        help_text="UK mobile in international form, e.g. +447700900123.",
    )
    email = models.EmailField("email address", blank=True)
    opted_out_of_messages = models.BooleanField(
        default=False, help_text="The patient asked not to be sent invitations by text or email."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "nhs_number"], name="patient_unique_nhs_number_per_practice"
            ),
            models.CheckConstraint(
                name="patient_nhs_number_ten_digits",
                condition=models.Q(nhs_number__regex=r"^[0-9]{10}$"),
            ),
            models.CheckConstraint(
                name="patient_mobile_e164_uk",
                condition=models.Q(mobile="") | models.Q(mobile__regex=E164_UK_MOBILE.pattern),
            ),
        ]
        indexes = [
            models.Index(
                fields=["practice", "last_name", "first_name"], name="patient_practice_name_idx"
            ),
        ]

    def __str__(self) -> str:
        # Shown in the admin and as the audit log's object label: the record's id,
        # never the patient's name or NHS number.
        return f"Patient {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def nhs_number_display(self) -> str:
        """The NHS number as staff read it: 943 476 5919."""
        return format_nhs_number(self.nhs_number)

    @property
    def mobile_display(self) -> str:
        return format_uk_mobile(self.mobile)

    @property
    def mobile_masked(self) -> str:
        """07••• •••123: only the last three digits shown."""
        return mask_uk_mobile(self.mobile)

    def clean(self) -> None:
        if self.practice_id is not None and self.practice.kind != OrganisationKind.PRACTICE:
            raise ValidationError({"practice": "Patients belong to a GP practice, not a PCN."})


# --- Patient imports ------------------------------------------------------------------


class PatientImportStatus(models.TextChoices):
    PREVIEWED = "previewed", "Waiting for confirmation"
    IMPORTED = "imported", "Imported"
    DISCARDED = "discarded", "Cancelled"


class PatientImport(models.Model):
    """One uploaded CSV file of patients. The upload is parsed and checked at once
    and kept here (`rows`, `errors`) until the user confirms or cancels: patients
    are written only on confirmation, from these rows, never from anything the
    browser sends back. The rows are emptied once imported or cancelled."""

    practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="patient_imports",
        limit_choices_to={"kind": OrganisationKind.PRACTICE},
    )
    status = models.CharField(
        max_length=16, choices=PatientImportStatus.choices, default=PatientImportStatus.PREVIEWED
    )
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(help_text="Bytes.")
    encoding = models.CharField(
        max_length=40, help_text="How the file's text was read, e.g. UTF-8 or Windows-1252."
    )
    optional_columns = models.JSONField(
        default=list,
        blank=True,
        help_text="Which of the optional columns (mobile, email) the file has. A column the "
        "file does not have is left as it is on existing patients.",
    )
    ignored_columns = models.JSONField(
        default=list, blank=True, help_text="Column headings in the file that were not used."
    )

    row_count = models.PositiveIntegerField("rows read", default=0)
    valid_count = models.PositiveIntegerField("valid rows", default=0)
    new_count = models.PositiveIntegerField("new patients", default=0)
    update_count = models.PositiveIntegerField("updated patients", default=0)
    unchanged_count = models.PositiveIntegerField("unchanged patients", default=0)
    error_count = models.PositiveIntegerField("rows with errors", default=0)

    rows = models.JSONField(
        default=list,
        blank=True,
        help_text="The valid rows, cleaned, waiting for confirmation. Emptied once imported "
        "or cancelled.",
    )
    errors = models.JSONField(
        default=list,
        blank=True,
        help_text="Rows with errors (the first ones, if there are very many) and why.",
    )

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("uploaded at", auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    imported_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="cancelled by",
    )
    discarded_at = models.DateTimeField("cancelled at", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                name="patientimport_status_valid",
                condition=models.Q(status__in=[s.value for s in PatientImportStatus]),
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "-created_at"], name="patientimport_practice_idx"),
        ]

    def __str__(self) -> str:
        return f"Patient import {self.pk}"

    @property
    def is_previewed(self) -> bool:
        return self.status == PatientImportStatus.PREVIEWED

    @property
    def is_imported(self) -> bool:
        return self.status == PatientImportStatus.IMPORTED

    @property
    def is_discarded(self) -> bool:
        return self.status == PatientImportStatus.DISCARDED


# --- campaigns, the slot mirror and bookings ----------------------------------------


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


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


class Slot(models.Model):
    """Local mirror of one free EMIS slot as seen by one practice (PCN slots can
    differ per booking practice: EMIS filters by booking organisation). For
    display only: booking always asks EMIS. A slot EMIS says is taken is deleted."""

    connection = models.ForeignKey(
        "emis_integration.EmisConnection", on_delete=models.CASCADE, related_name="mirrored_slots"
    )
    viewer = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The practice whose slot search returned this slot.",
    )
    emis_slot_id = models.CharField(max_length=64)
    start = models.DateTimeField()
    end = models.DateTimeField()
    is_pcn = models.BooleanField(default=False)
    site_name = models.CharField(max_length=200, blank=True)
    site_address = models.CharField(max_length=300, blank=True)
    practitioner = models.CharField(max_length=200, blank=True)
    service_type = models.CharField(max_length=200, blank=True)
    delivery_channel = models.CharField(max_length=40, blank=True)
    location_id = models.CharField(
        "EMIS location id",
        max_length=64,
        blank=True,
        help_text="The slot's Location at the provider: the booking names it.",
    )
    practitioner_id = models.CharField(
        "EMIS practitioner id",
        max_length=64,
        blank=True,
        help_text="The slot's Practitioner at the provider, when its schedule has one.",
    )
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "viewer", "emis_slot_id"], name="slot_unique_per_viewer"
            ),
        ]
        indexes = [models.Index(fields=["viewer", "start"])]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} at {self.site_name or 'practice'}"

    @property
    def source_label(self) -> str:
        return "PCN" if self.is_pcn else "Practice"


class BookingStatus(models.TextChoices):
    # Reserved while EMIS is asked; never seen by anyone for more than a few seconds.
    PENDING = "pending", "Being booked in EMIS"
    # EMIS may have made the appointment but its answer was lost: the slot stays
    # reserved until booking_settle asks EMIS (at once, then the reconciler).
    OUTCOME_UNKNOWN = "outcome_unknown", "Checking with EMIS"
    BOOKED = "booked", "Booked"
    # Rebooked: the new appointment exists; the old one is being cancelled in EMIS.
    CANCELLING = "cancelling", "Being cancelled in EMIS"
    CANCELLED = "cancelled", "Cancelled"


# The statuses that hold a slot (and the patient's one booking in a campaign).
ACTIVE_BOOKING_STATUSES = (
    BookingStatus.PENDING,
    BookingStatus.OUTCOME_UNKNOWN,
    BookingStatus.BOOKED,
)
# Not yet settled: EMIS has to be asked whether the appointment exists.
UNSETTLED_BOOKING_STATUSES = (BookingStatus.PENDING, BookingStatus.OUTCOME_UNKNOWN)


class BookedVia(models.TextChoices):
    STAFF = "staff", "Practice staff"
    SELF_BOOK = "self_book", "Patient (self-booking link)"


class Booking(models.Model):
    """An appointment hippo-pcn made in EMIS for a campaign patient."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="bookings")
    patient = models.ForeignKey(
        "booking.Patient", on_delete=models.PROTECT, related_name="bookings"
    )
    practice = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    connection = models.ForeignKey(
        "emis_integration.EmisConnection", on_delete=models.PROTECT, related_name="bookings"
    )
    is_pcn = models.BooleanField(default=False)
    emis_slot_id = models.CharField(max_length=64)
    emis_appointment_id = models.CharField(max_length=64, blank=True)
    emis_version = models.CharField(max_length=32, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    site_name = models.CharField(max_length=200, blank=True)
    site_address = models.CharField(max_length=300, blank=True)
    practitioner = models.CharField(max_length=200, blank=True)
    service_type = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=16, choices=BookingStatus.choices, default=BookingStatus.BOOKED
    )
    booked_via = models.CharField(max_length=12, choices=BookedVia.choices)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    booked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # PCN bookings: the patient agreed to be seen by the PCN and to their record
    # being shared with it (EMIS cross-organisation booking asks for this).
    pcn_consent = models.BooleanField(default=False)
    pcn_consent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pcn_consent_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancellation_reason = models.CharField(max_length=300, blank=True)
    cancel_error = models.TextField(blank=True)
    replaced_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaces"
    )
    tracing_task = models.ForeignKey(
        "tracing.TracingTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "emis_slot_id"],
                condition=models.Q(status__in=["pending", "outcome_unknown", "booked"]),
                name="booking_one_active_per_slot",
            ),
            models.UniqueConstraint(
                fields=["campaign", "patient"],
                condition=models.Q(status__in=["pending", "outcome_unknown", "booked"]),
                name="booking_one_active_per_campaign_patient",
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "status", "start"]),
            models.Index(fields=["campaign", "status"]),
        ]

    def __str__(self) -> str:
        return f"Booking {self.pk} ({self.get_status_display()})"

    @property
    def source_label(self) -> str:
        return "PCN" if self.is_pcn else "Practice"

    @property
    def is_active(self) -> bool:
        return self.status == BookingStatus.BOOKED


# --- Invitations ----------------------------------------------------------------------


class InviteChannel(models.TextChoices):
    SMS = "sms", "Text message"
    EMAIL = "email", "Email"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class DeclineReason(models.TextChoices):
    HAD_IT_ELSEWHERE = "elsewhere", "Already had it elsewhere"
    DO_NOT_WANT = "do_not_want", "Don't want it"
    OTHER = "other", "Other"


class CallOutcome(models.TextChoices):
    BOOKED_BY_PHONE = "booked_by_phone", "Booked by phone"
    DECLINED = "declined", "Declined"
    NO_ANSWER = "no_answer", "No answer"
    WRONG_NUMBER = "wrong_number", "Wrong number"


class Invite(models.Model):
    """One patient's invitation to book in a campaign. The link carries a 256-bit
    token derived (HMAC) from a random salt and a server-side key; the database
    holds the salt and the token's SHA-256 hash, never the token (see
    booking/tokens.py). The link books once, expires, and can still show and
    cancel its own booking."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invites")
    patient = models.ForeignKey("booking.Patient", on_delete=models.CASCADE, related_name="invites")
    token_salt = models.CharField(max_length=32, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    channel = models.CharField(max_length=10, choices=InviteChannel.choices)
    delivery_status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    delivery_error = models.CharField(max_length=300, blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # The booking made through this link (single use for booking).
    used_at = models.DateTimeField(null=True, blank=True)
    booking = models.ForeignKey(
        Booking, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=20, choices=DeclineReason.choices, blank=True)
    decline_note = models.CharField(max_length=300, blank=True)
    dob_failures = models.PositiveSmallIntegerField(default=0)
    dob_locked_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    # A reminder is queued (claimed) and not settled yet: it counts in `reminders_sent`
    # (with `last_reminder_at`) only once it is sent.
    reminder_queued_at = models.DateTimeField(null=True, blank=True)
    # The last reminder failed for good (a bad number): the next try waits an interval.
    reminder_failed_at = models.DateTimeField(null=True, blank=True)
    call_outcome = models.CharField(max_length=20, choices=CallOutcome.choices, blank=True)
    call_outcome_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    call_outcome_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "patient"], name="invite_once_per_campaign"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "delivery_status"]),
            models.Index(fields=["campaign", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"Invite {self.pk} (campaign {self.campaign_id})"


# --- Messages sent (one row per message, so nothing is sent twice) ---------------------------


class MessageSendStatus(models.TextChoices):
    PENDING = "pending", "Not sent yet"
    SENDING = "sending", "Being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Not sent"


class MessageKind(models.TextChoices):
    INVITE = "invite", "Invitation"
    REMINDER = "reminder", "Reminder"
    CONFIRMATION = "confirmation", "Booking confirmation"
    CANCELLATION = "cancellation", "Cancellation"
    CHANGE = "change", "Change of time"


class MessageSend(models.Model):
    """The send record of one message to a patient: an invitation, reminder N, or
    the confirmation or cancellation of one booking. Its unique key makes a
    redelivered task find it. "Sending" is committed before the notifier is called,
    with a reference unique to this message; a task that finds "sending" asks the
    notifier for that reference rather than sending again (booking/invites/)."""

    key = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    invite = models.ForeignKey(Invite, on_delete=models.CASCADE, related_name="message_sends")
    booking = models.ForeignKey(
        Booking, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    number = models.PositiveSmallIntegerField(default=0, help_text="The reminder's number.")
    reference = models.CharField(max_length=80, unique=True)
    status = models.CharField(
        max_length=10, choices=MessageSendStatus.choices, default=MessageSendStatus.PENDING
    )
    sending_since = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "message to a patient"
        verbose_name_plural = "messages to patients"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key} ({self.get_status_display()})"
