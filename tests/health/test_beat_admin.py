"""Beat's crontab schedules in admin: a short list of time zones, none lost."""

import re

from django.urls import reverse
from django_celery_beat.models import CrontabSchedule


def _zone_options(page: str) -> list[str]:
    select = re.search(r'<select name="timezone"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def _with_inline_management(data: dict[str, str]) -> dict[str, str]:
    """The add page's inline (the periodic tasks using the schedule) has no rows."""
    return {
        "periodictask_set-TOTAL_FORMS": "0",
        "periodictask_set-INITIAL_FORMS": "0",
        **data,
    }


def test_a_new_crontab_offers_the_services_zone_and_utc(client_for, support_user):
    client = client_for(support_user)
    page = client.get(reverse("admin:django_celery_beat_crontabschedule_add")).content.decode()
    assert _zone_options(page) == ["Europe/London", "UTC"]
    assert re.search(r'<option value="Europe/London" selected>', page)

    response = client.post(
        reverse("admin:django_celery_beat_crontabschedule_add"),
        _with_inline_management(
            {
                "minute": "30",
                "hour": "7",
                "day_of_month": "*",
                "month_of_year": "*",
                "day_of_week": "1-5",
                "timezone": "Europe/London",
            }
        ),
    )
    assert response.status_code == 302
    assert str(CrontabSchedule.objects.get(minute="30", hour="7").timezone) == "Europe/London"


def test_a_zone_outside_the_list_is_refused_with_a_message(client_for, support_user):
    response = client_for(support_user).post(
        reverse("admin:django_celery_beat_crontabschedule_add"),
        _with_inline_management(
            {
                "minute": "0",
                "hour": "6",
                "day_of_month": "*",
                "month_of_year": "*",
                "day_of_week": "*",
                "timezone": "Asia/Tokyo",
            }
        ),
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not CrontabSchedule.objects.filter(hour="6", minute="0").exists()


def test_a_schedule_in_another_zone_keeps_it_when_edited(client_for, support_user):
    schedule = CrontabSchedule.objects.create(minute="15", hour="2", timezone="America/New_York")
    page = (
        client_for(support_user)
        .get(reverse("admin:django_celery_beat_crontabschedule_change", args=[schedule.pk]))
        .content.decode()
    )
    assert "America/New_York" in _zone_options(page)
    assert re.search(r'<option value="America/New_York" selected>', page)


def test_beat_schedules_stay_support_only(client_for, practice_admin):
    response = client_for(practice_admin).get(
        reverse("admin:django_celery_beat_crontabschedule_add")
    )
    assert response.status_code == 404
