"""The slot mirror: EMIS free slots as a practice last saw them."""

from __future__ import annotations

from django.db import models


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
