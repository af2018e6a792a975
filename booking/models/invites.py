"""Invitations (a patient's link to book, its delivery and the patient's
response) and the record of each message sent to a patient."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .bookings import Booking
from .campaigns import Campaign

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
