"""The slot picker: a day first, then that day's times, at most about
TIMES_PER_PAGE at once, grouped by site.

Self-booking (patients, mostly on phones) shows the days on a page of their own
and then one day's times; staff booking shows the week's days as a row of links
above the chosen day's times. Both read their pages from here, over the slots
the campaign offers (`selectors.campaign_offerable_slots`), in two queries: the
free days (with their counts and first and last times), then the chosen day's
slots.

Paging follows one rule for days and for times: a page holds whole groups (a
day, or every time that starts in the same minute), "Later" begins just after
the page ends and "Earlier" ends just before it begins, so each link always
moves on even when the free times changed since the page was drawn (a day
filled up, or today's last time passed). Every link is a plain GET, so none of
it needs JavaScript (the NHS.UK pattern)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar

from django.db.models import Count, Max, Min, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Slot
from .selectors import LONDON

# Days with free times on one page of days (self-booking) or one row of day links
# (staff booking).
DAYS_PER_PAGE = 7
# Choices on one page of a day's times. Times that start in the same minute stay
# on one page, so a page may hold a few more.
TIMES_PER_PAGE = 20

K = TypeVar("K", date, time)


@dataclass(frozen=True)
class Window:
    """Groups `start` to `end` (exclusive) of a sequence, as indexes."""

    start: int
    end: int


@dataclass(frozen=True)
class Pages:
    """The window a page shows and the windows its "Earlier" and "Later" links open."""

    shown: Window
    earlier: Window | None
    later: Window | None


def _forward_end(sizes: Sequence[int], start: int, *, max_groups: int, max_items: int) -> int:
    """The index just after the last group of the page that begins at `start`."""
    end, items = start, 0
    while end < len(sizes) and end - start < max_groups:
        if end > start and items + sizes[end] > max_items:
            break
        end, items = end + 1, items + sizes[end]
    return end


def _backward_start(sizes: Sequence[int], end: int, *, max_groups: int, max_items: int) -> int:
    """The index of the first group of the page that ends just before `end`."""
    start, items = end, 0
    while start > 0 and end - start < max_groups:
        if start < end and items + sizes[start - 1] > max_items:
            break
        start, items = start - 1, items + sizes[start - 1]
    return start


def paginate(
    keys: Sequence[K],
    sizes: Sequence[int],
    *,
    starting: K | None,
    keep_in_view: Sequence[K] = (),
    max_groups: int,
    max_items: int,
) -> Pages | None:
    """Which of the sorted groups `keys` (each holding `sizes` items) a page shows.

    The page begins at the first group at or after `starting`: the first of all
    when `starting` is None or no group follows it. It begins at the first of
    `keep_in_view` instead when it would not show all of them. A page holds up to
    `max_groups` groups and stops adding groups once it holds `max_items` items; a
    group is never split, so a group bigger than that is a page of its own."""
    if not keys:
        return None

    def page_from(anchor: K | None) -> Window:
        first = bisect_left(keys, anchor) if anchor is not None else 0
        first = first if first < len(keys) else 0
        return Window(first, _forward_end(sizes, first, max_groups=max_groups, max_items=max_items))

    shown = page_from(starting)
    if keep_in_view and not all(key in keys[shown.start : shown.end] for key in keep_in_view):
        shown = page_from(min(keep_in_view))
    earlier = None
    if shown.start > 0:
        # Named by what its link shows: the page that begins where this one's
        # earlier page begins.
        begin = _backward_start(sizes, shown.start, max_groups=max_groups, max_items=max_items)
        earlier = Window(
            begin, _forward_end(sizes, begin, max_groups=max_groups, max_items=max_items)
        )
    later = None
    if shown.end < len(keys):
        later = Window(
            shown.end,
            _forward_end(sizes, shown.end, max_groups=max_groups, max_items=max_items),
        )
    return Pages(shown, earlier, later)


# --- days -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    @property
    def label(self) -> str:
        """ "Wed 9 Dec to Fri 11 Dec" (or one day)."""
        first = f"{self.first:%a} {self.first.day} {self.first:%b}"
        if self.last == self.first:
            return first
        return f"{first} to {self.last:%a} {self.last.day} {self.last:%b}"


@dataclass(frozen=True)
class DayPages:
    """The days a page shows, and the days its "Earlier" and "Later" links open."""

    days: DayRange | None
    earlier: DayRange | None = None
    later: DayRange | None = None


def day_pages(
    days: Sequence[date], *, starting: date | None = None, keep_in_view: Sequence[date] = ()
) -> DayPages:
    """Which of the days with free times (in order) a page of days shows: up to
    DAYS_PER_PAGE of them, beginning on the first on or after `starting` (see
    `paginate`)."""
    pages = paginate(
        days,
        [1] * len(days),
        starting=starting,
        keep_in_view=keep_in_view,
        max_groups=DAYS_PER_PAGE,
        max_items=DAYS_PER_PAGE,
    )
    if pages is None:
        return DayPages(None)

    def span(window: Window | None) -> DayRange | None:
        return None if window is None else DayRange(days[window.start], days[window.end - 1])

    return DayPages(span(pages.shown), span(pages.earlier), span(pages.later))


@dataclass(frozen=True)
class FreeDay:
    """A day with free times: how many, and the first and last of them."""

    day: date
    count: int
    first: datetime
    last: datetime


def free_days(slots: QuerySet[Slot]) -> list[FreeDay]:
    """The days (in Europe/London) the slots fall on, in order: one query."""
    rows = (
        slots.order_by()
        .annotate(day=TruncDate("start", tzinfo=LONDON))
        .values("day")
        .annotate(n=Count("id"), first=Min("start"), last=Max("start"))
        .order_by("day")
    )
    return [FreeDay(row["day"], row["n"], row["first"], row["last"]) for row in rows]


@dataclass(frozen=True)
class DaysPage:
    """A page of days to choose from. `gone` is the day asked for when it has no
    free times (any more)."""

    days: list[FreeDay]
    earlier: DayRange | None
    later: DayRange | None
    gone: date | None = None

    @property
    def range(self) -> DayRange | None:
        return DayRange(self.days[0].day, self.days[-1].day) if self.days else None

    # The `from` values of the "Earlier days" and "Later days" links.
    @property
    def earlier_from(self) -> str:
        return self.earlier.first.isoformat() if self.earlier else ""

    @property
    def later_from(self) -> str:
        return self.later.first.isoformat() if self.later else ""


def days_page(
    free: Sequence[FreeDay], *, starting: date | None, gone: date | None = None
) -> DaysPage:
    pages = day_pages([d.day for d in free], starting=starting)
    if pages.days is None:
        return DaysPage([], None, None, gone)
    return DaysPage([d for d in free if d.day in pages.days], pages.earlier, pages.later, gone)


# --- one day's times ----------------------------------------------------------------------


@dataclass(frozen=True)
class SiteTimes:
    """The times of one site on a page, in time order."""

    is_pcn: bool
    site_name: str
    site_address: str
    slots: list[Slot]


@dataclass(frozen=True)
class TimePage:
    """A page of one day's times, grouped by site (the practice's first).

    `earlier_at`/`later_at` open the earlier and later times of the same day;
    `previous_day`/`next_day` are the nearest days with free times."""

    day: date
    sites: list[SiteTimes]
    count: int
    day_count: int
    at: time
    earlier_at: time | None
    later_at: time | None
    previous_day: date | None
    next_day: date | None

    @property
    def slots(self) -> list[Slot]:
        return sorted((s for site in self.sites for s in site.slots), key=lambda s: (s.start, s.pk))

    @property
    def whole_day(self) -> bool:
        return self.earlier_at is None and self.later_at is None

    # The query values of the page's links (`day`, `at`).
    @property
    def day_value(self) -> str:
        return self.day.isoformat()

    @property
    def earlier_at_value(self) -> str:
        return f"{self.earlier_at:%H:%M}" if self.earlier_at else ""

    @property
    def later_at_value(self) -> str:
        return f"{self.later_at:%H:%M}" if self.later_at else ""

    @property
    def previous_day_value(self) -> str:
        return self.previous_day.isoformat() if self.previous_day else ""

    @property
    def next_day_value(self) -> str:
        return self.next_day.isoformat() if self.next_day else ""


def local_minute(moment: datetime) -> time:
    return timezone.localtime(moment).time().replace(second=0, microsecond=0)


def _site_key(slot: Slot) -> tuple[bool, str, str]:
    return (slot.is_pcn, slot.site_name, slot.site_address)


def _one_per_time_and_site(slots: list[Slot]) -> list[Slot]:
    """The first of each set of interchangeable slots: the same site, start, end
    and delivery channel (parallel clinics, several vaccinators). A patient
    chooses a time and a place, not a clinician."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for slot in slots:
        key = (*_site_key(slot), slot.connection_id, slot.start, slot.end, slot.delivery_channel)
        if key not in seen:
            seen.add(key)
            kept.append(slot)
    return kept


def group_by_site(slots: Sequence[Slot]) -> list[SiteTimes]:
    groups: dict[tuple[bool, str, str], list[Slot]] = {}
    for slot in sorted(slots, key=lambda s: (s.start, s.pk)):
        groups.setdefault(_site_key(slot), []).append(slot)
    return [
        SiteTimes(is_pcn, name, address, group)
        for (is_pcn, name, address), group in sorted(
            groups.items(), key=lambda item: (item[0][0], item[0][1].lower(), item[0][2])
        )
    ]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(day, time.min, tzinfo=LONDON),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=LONDON),
    )


def time_page(
    slots: QuerySet[Slot],
    free: Sequence[FreeDay],
    *,
    day: date,
    at: time | None = None,
    per_page: int = TIMES_PER_PAGE,
    one_per_time_and_site: bool = False,
) -> TimePage | None:
    """The page of `day`'s times that begins at the first time at or after `at`
    (the day's first when `at` is None or no time follows it); None when the day
    has no free times."""
    days = [d.day for d in free]
    position = bisect_left(days, day)
    if position >= len(days) or days[position] != day:
        return None
    begin, end = _day_bounds(day)
    day_slots = list(slots.filter(start__gte=begin, start__lt=end))
    if one_per_time_and_site:
        day_slots = _one_per_time_and_site(day_slots)
    if not day_slots:
        return None
    by_minute: dict[time, list[Slot]] = {}
    for slot in day_slots:
        by_minute.setdefault(local_minute(slot.start), []).append(slot)
    minutes = sorted(by_minute)
    pages = paginate(
        minutes,
        [len(by_minute[m]) for m in minutes],
        starting=at,
        max_groups=len(minutes),
        max_items=per_page,
    )
    assert pages is not None  # the day has slots
    shown = [s for m in minutes[pages.shown.start : pages.shown.end] for s in by_minute[m]]
    return TimePage(
        day=day,
        sites=group_by_site(shown),
        count=len(shown),
        day_count=len(day_slots),
        at=minutes[pages.shown.start],
        earlier_at=minutes[pages.earlier.start] if pages.earlier else None,
        later_at=minutes[pages.later.start] if pages.later else None,
        previous_day=days[position - 1] if position > 0 else None,
        next_day=days[position + 1] if position + 1 < len(days) else None,
    )


# --- reading the query ------------------------------------------------------------------


def parse_day(value: str | None) -> date | None:
    """A `day` or `from` query value: a date (YYYY-MM-DD), or None for anything else."""
    if not value or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_time(value: str | None) -> time | None:
    """An `at` query value: a time of day (HH:MM), or None for anything else."""
    if not value or len(value) != 5:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


# --- the pages each journey shows -------------------------------------------------------


def patient_picker(
    slots: QuerySet[Slot],
    *,
    day: date | None,
    at: time | None,
    starting: date | None,
) -> DaysPage | TimePage:
    """What a patient's link shows: the times of `day` when it has free times, or
    of the only day that has any; otherwise a page of days to choose from, which
    says when the day asked for has no free times left."""
    free = free_days(slots)
    if day is None and len(free) == 1:
        day = free[0].day
    if day is not None:
        page = time_page(slots, free, day=day, at=at, one_per_time_and_site=True)
        if page is not None:
            return page
    return days_page(free, starting=starting or day, gone=day)


@dataclass(frozen=True)
class StaffPicker:
    """Staff booking: the row of days around the chosen day, and its times."""

    days: DaysPage
    times: TimePage | None


def staff_picker(
    slots: QuerySet[Slot], *, day: date | None, at: time | None, starting: date | None
) -> StaffPicker:
    """The chosen day (the first free day on or after `starting` by default) with
    every free slot of it (staff see each clinician), and the days around it."""
    free = free_days(slots)
    days = [d.day for d in free]
    wanted = day if day in days else None
    row = days_page(free, starting=starting or day)
    if wanted is not None and (starting is None or row.range is None or wanted not in row.range):
        # The row of days a week of free days at a time from the first, that holds
        # the day: the same row whichever of its days is open.
        index = days.index(wanted)
        row = days_page(free, starting=days[index - index % DAYS_PER_PAGE])
    chosen = wanted if wanted is not None else (row.days[0].day if row.days else None)
    times = time_page(slots, free, day=chosen, at=at) if chosen is not None else None
    gone = day if day is not None and wanted is None else None
    return StaffPicker(DaysPage(row.days, row.earlier, row.later, gone), times)
