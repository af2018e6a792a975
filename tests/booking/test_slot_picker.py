"""The picker's paging rules, on their own (booking/slot_picker.py)."""

from datetime import date, time, timedelta

from booking.slot_picker import (
    DAYS_PER_PAGE,
    DayPages,
    DayRange,
    Pages,
    Window,
    day_pages,
    paginate,
    parse_day,
    parse_time,
)

FIRST = date(2026, 12, 1)


def day(n):
    return FIRST + timedelta(days=n)


def test_day_pages_hold_a_week_of_free_days():
    ten = [day(i) for i in range(10)]
    assert day_pages(ten) == DayPages(
        DayRange(FIRST, day(DAYS_PER_PAGE - 1)), later=DayRange(day(DAYS_PER_PAGE), day(9))
    )
    assert day_pages(ten, starting=day(DAYS_PER_PAGE)) == DayPages(
        DayRange(day(DAYS_PER_PAGE), day(9)), earlier=DayRange(FIRST, day(DAYS_PER_PAGE - 1))
    )
    assert day_pages([]) == DayPages(None)


def test_day_pages_begin_at_the_first_free_day_on_or_after_from():
    # Free times on days 0-3 and 10-20: day 5 has none, so its page begins on day 10.
    days = [day(i) for i in [*range(4), *range(10, 21)]]
    assert day_pages(days, starting=day(5)) == DayPages(
        DayRange(day(10), day(16)),
        earlier=DayRange(FIRST, day(12)),  # what its link shows: from day 0, 7 free days
        later=DayRange(day(17), day(20)),
    )
    # Before the first free day, after the last, or none: the first page.
    for starting in (None, day(-30), day(21), day(400)):
        assert day_pages(days, starting=starting).days == DayRange(FIRST, day(12))
    # "Later" opens the days after the page it was on even when a day before has
    # gone since (today's last time passed): the first page was days 0 to 12 and
    # its link says day 13; the first page is now days 1 to 13, but the link still
    # moves on.
    assert day_pages(days, starting=FIRST).later == DayRange(day(13), day(19))
    assert day_pages(days[1:], starting=day(13)).days == DayRange(day(13), day(19))


def test_day_pages_move_to_show_every_day_they_must():
    days = [day(i) for i in range(20)]
    assert day_pages(days, keep_in_view=[day(3)]).days == DayRange(FIRST, day(6))
    assert day_pages(days, keep_in_view=[day(6), day(8)]).days == DayRange(day(6), day(12))


def test_pages_of_items_never_split_a_group_and_always_move_on():
    # Times of one day: 9:00 has 3 choices (three sites), the rest one each.
    keys = [time(9, 0), time(9, 10), time(9, 20), time(9, 30), time(9, 40)]
    sizes = [3, 1, 1, 1, 1]
    pages = paginate(keys, sizes, starting=None, max_groups=len(keys), max_items=4)
    assert pages == Pages(Window(0, 2), None, Window(2, 5))
    # A group bigger than a page is a page of its own.
    big = paginate(keys, [9, 1, 1, 1, 1], starting=None, max_groups=5, max_items=4)
    assert big == Pages(Window(0, 1), None, Window(1, 5))
    # From a time between two groups: the page begins at the next.
    assert paginate(keys, sizes, starting=time(9, 15), max_groups=5, max_items=4) == Pages(
        Window(2, 5), Window(0, 2), None
    )
    assert paginate([], [], starting=None, max_groups=5, max_items=4) is None


def test_query_values_are_read_strictly():
    assert parse_day("2026-12-01") == date(2026, 12, 1)
    for bad in (None, "", "2026-02-30", "2026-12-1", "2026-12-01T00:00", "garbage"):
        assert parse_day(bad) is None
    assert parse_time("09:30") == time(9, 30)
    for bad in (None, "", "9:30", "25:00", "09:60", "09:30:00", "garbage"):
        assert parse_time(bad) is None
