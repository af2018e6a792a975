"""Bookings: appointments hippo-pcn made in EMIS, and which of them hold a slot."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .campaigns import Campaign


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


# The statuses that hold a slot (and the patient's one booking in a campaign):
# the rule behind BookingQuerySet.active() and the partial unique constraints below.
ACTIVE_BOOKING_STATUSES = (
    BookingStatus.PENDING,
    BookingStatus.OUTCOME_UNKNOWN,
    BookingStatus.BOOKED,
)
# Not yet settled: EMIS has to be asked whether the appointment exists.
UNSETTLED_BOOKING_STATUSES = (BookingStatus.PENDING, BookingStatus.OUTCOME_UNKNOWN)


class BookingQuerySet(models.QuerySet["Booking"]):
    """Booking rules that several places need, defined once."""

    @staticmethod
    def active_q() -> models.Q:
        """The bookings that hold their slot and count as the patient's booking in
        the campaign: being booked, waiting for EMIS's answer, or booked."""
        return models.Q(status__in=ACTIVE_BOOKING_STATUSES)

    def active(self) -> BookingQuerySet:
        return self.filter(self.active_q())


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

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "emis_slot_id"],
                condition=models.Q(status__in=[s.value for s in ACTIVE_BOOKING_STATUSES]),
                name="booking_one_active_per_slot",
            ),
            models.UniqueConstraint(
                fields=["campaign", "patient"],
                condition=models.Q(status__in=[s.value for s in ACTIVE_BOOKING_STATUSES]),
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
