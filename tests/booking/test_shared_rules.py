"""Rules booking needs in several places live once: the active booking
(Booking.objects.active()), the campaign's window (Campaign.full_window and
bookable_window) and local time (settings.TIME_ZONE through django.utils.timezone)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from booking import invites, services
from booking.invites.eligibility import campaign_full_window
from booking.models import ACTIVE_BOOKING_STATUSES, Booking, BookingStatus, Campaign
from booking.selectors import LONDON, campaign_window
from emis_integration.models import EmisConnection

from .factories import PatientFactory

UK = ZoneInfo("Europe/London")


def test_local_time_is_the_uk_zone_from_settings():
    assert settings.TIME_ZONE == "Europe/London"
    assert timezone.get_current_timezone() == UK
    assert LONDON == UK
    assert invites.LONDON is LONDON


def test_the_active_booking_names_are_one_rule():
    assert invites.ACTIVE_BOOKING is ACTIVE_BOOKING_STATUSES
    assert services.ACTIVE_BOOKING is ACTIVE_BOOKING_STATUSES
    assert set(ACTIVE_BOOKING_STATUSES) == {"pending", "outcome_unknown", "booked"}


def test_active_bookings_are_the_ones_that_hold_a_slot(campaign, practice_a, emis_world):
    connection = EmisConnection.objects.get(organisation=practice_a)
    start = timezone.now() + timedelta(days=2)
    made = {}
    for n, status in enumerate(BookingStatus):
        made[status] = Booking.objects.create(
            campaign=campaign,
            patient=PatientFactory(practice=practice_a),
            practice=practice_a,
            connection=connection,
            emis_slot_id=f"S{n}",
            start=start,
            end=start + timedelta(minutes=10),
            status=status,
            booked_via="staff",
        )
    active = set(Booking.objects.active().values_list("status", flat=True))
    assert active == set(ACTIVE_BOOKING_STATUSES)
    assert set(Booking.objects.filter(Booking.objects.active_q()).values_list("pk", flat=True)) == {
        made[s].pk for s in ACTIVE_BOOKING_STATUSES
    }


def _campaign(start: date, end: date) -> Campaign:
    return Campaign(name="Window", appointment_type="Flu", start_date=start, end_date=end)


@pytest.mark.parametrize(
    ("first", "last", "hours"),
    [
        (date(2026, 11, 25), date(2026, 11, 25), 24),
        (date(2026, 3, 29), date(2026, 3, 29), 23),  # the clocks go forward
        (date(2026, 10, 25), date(2026, 10, 25), 25),  # the clocks go back
        (date(2026, 3, 28), date(2026, 3, 30), 71),
    ],
)
def test_the_campaign_window_is_its_local_days(first, last, hours):
    campaign = _campaign(first, last)
    start, end = campaign.full_window()
    assert start == datetime(first.year, first.month, first.day, tzinfo=UK)
    after = last + timedelta(days=1)
    assert end == datetime(after.year, after.month, after.day, tzinfo=UK)
    # Elapsed time (same-zone subtraction in Python would give wall-clock time).
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    # The old names are the same rule.
    assert campaign_full_window(campaign) == (start, end)


def test_the_bookable_window_never_starts_before_now():
    campaign = _campaign(date(2026, 10, 24), date(2026, 10, 26))
    start, end = campaign.full_window()
    with time_machine.travel(datetime(2026, 10, 25, 12, 0, tzinfo=UK), tick=False):
        now = timezone.now()
        assert campaign.bookable_window() == (now, end)
        assert campaign_window(campaign) == (now, end)
    with time_machine.travel(datetime(2026, 10, 1, 12, 0, tzinfo=UK), tick=False):
        assert campaign.bookable_window() == (start, end)
    later = datetime(2026, 10, 26, 9, 0, tzinfo=UK)
    assert campaign.bookable_window(now=later) == (later, end)
