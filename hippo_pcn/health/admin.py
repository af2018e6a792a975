"""Beat's schedules in admin (support only, as django_celery_beat's own pages): the
crontab form offers the service's own time zone and UTC, not all ~600 of the world's."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import Field
from django.forms import Field as FormField
from django.http import HttpRequest
from django_celery_beat.admin import CrontabScheduleAdmin
from django_celery_beat.models import CrontabSchedule
from timezone_field.forms import TimeZoneFormField


def crontab_time_zones() -> list[str]:
    """The zones a schedule may be set in: the service's (Europe/London: the
    practices' clocks, summer time included), UTC, and any zone a schedule already
    uses, so that editing one never changes its zone behind the user's back."""
    zones = [settings.TIME_ZONE, "UTC"]
    for zone in CrontabSchedule.objects.values_list("timezone", flat=True).distinct():
        if str(zone) not in zones:
            zones.append(str(zone))
    return zones


class HippoCrontabScheduleAdmin(CrontabScheduleAdmin):
    def formfield_for_dbfield(
        self, db_field: Field, request: HttpRequest, **kwargs: Any
    ) -> FormField | None:
        if db_field.name == "timezone":
            return TimeZoneFormField(
                choices=[(zone, zone) for zone in crontab_time_zones()],
                initial=settings.TIME_ZONE,
                label=db_field.verbose_name.capitalize(),
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)


admin.site.unregister(CrontabSchedule)
admin.site.register(CrontabSchedule, HippoCrontabScheduleAdmin)
