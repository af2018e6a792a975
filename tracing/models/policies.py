"""A PCN's tracing policy: who owns each task and when it is due."""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

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
