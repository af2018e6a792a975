"""The tracing dashboard: a panel per PCN with its figures and a chart of the
last days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.selectors import UserLike

from ..models import (
    TaskStatus,
    TracingTask,
    TracingTaskQuerySet,
)
from .health import PollHealth, poll_health
from .tasks import pcns_for_user


@dataclass
class DayBar:
    day: date
    found: int
    traced: int


# Chart geometry (SVG user units): a left margin for the value axis, room below
# for the day labels and above for the bars' values.
CHART_BAR_WIDTH = 14
CHART_GAP = 6
CHART_PLOT_HEIGHT = 100
CHART_LEFT = 30
CHART_TOP = 14
CHART_BOTTOM = 34


@dataclass
class PcnPanel:
    pcn: Organisation
    open: int
    overdue: int
    traced_today: int
    before_appointment_rate: float | None
    median_hours_to_trace: float | None
    days: list[DayBar]
    health: list[PollHealth]
    # What the median counts from: tasks with a booking made through hippo-pcn
    # count from the booking; the others (booked directly in EMIS) from when the
    # poller found them.
    median_from_booking: int = 0
    median_from_found: int = 0

    @property
    def median_label(self) -> str:
        if self.median_from_booking and not self.median_from_found:
            return "Median time from booking to trace"
        if self.median_from_found and not self.median_from_booking:
            return "Median time from finding the booking in EMIS to trace"
        if self.median_from_booking and self.median_from_found:
            return (
                "Median time from booking to trace (from when it was found in EMIS for "
                f"{self.median_from_found} booked outside hippo-pcn)"
            )
        return "Median time from booking to trace"

    @property
    def chart(self) -> dict[str, Any]:
        """Geometry for a small server-rendered SVG bar chart with a value axis
        (0, half and top), the day under each pair of bars and each bar's value
        above it. Colours come from CSS classes (no inline style under the CSP)."""
        width, gap, height = CHART_BAR_WIDTH, CHART_GAP, CHART_PLOT_HEIGHT
        top = max([1, *[max(d.found, d.traced) for d in self.days]])
        if top > 1 and top % 2:
            top += 1  # a whole number half-way up the axis
        baseline = CHART_TOP + height
        bars = []
        for index, day in enumerate(self.days):
            x = CHART_LEFT + gap + index * (2 * width + gap)
            found_h = round(height * day.found / top)
            traced_h = round(height * day.traced / top)
            bars.append(
                {
                    "day": day,
                    "x_found": x,
                    "x_traced": x + width,
                    "y_found": baseline - found_h,
                    "y_traced": baseline - traced_h,
                    "h_found": found_h,
                    "h_traced": traced_h,
                    "value_x_found": x + width // 2,
                    "value_x_traced": x + width + width // 2,
                    "value_y_found": baseline - found_h - 3,
                    "value_y_traced": baseline - traced_h - 3,
                    "label_x": x + width,
                }
            )
        plot_right = CHART_LEFT + gap + len(self.days) * (2 * width + gap)
        ticks = [
            {"value": value, "y": baseline - round(height * value / top)}
            for value in sorted({0, top // 2, top})
        ]
        return {
            "bars": bars,
            "ticks": ticks,
            "width": plot_right + gap,
            "height": baseline + CHART_BOTTOM,
            "bar_width": width,
            "top": top,
            "left": CHART_LEFT,
            "right": plot_right,
            "baseline": baseline,
            "plot_top": CHART_TOP,
            "day_label_y": baseline + 13,
            "axis_title_y": baseline + 28,
            "axis_title_x": (CHART_LEFT + plot_right) // 2,
            "tick_label_x": CHART_LEFT - 4,
        }


def _median_hours(durations: list[float]) -> float | None:
    if not durations:
        return None
    durations = sorted(durations)
    middle = len(durations) // 2
    seconds = (
        durations[middle] if len(durations) % 2 else (durations[middle - 1] + durations[middle]) / 2
    )
    return round(seconds / 3600, 1)


def tracing_dashboard(
    *, user: UserLike, now: datetime | None = None, days: int = 14, limit: int | None = None
) -> list[PcnPanel]:
    """Per PCN the user may see: open/overdue/traced today, the share of the last
    30 days' appointments traced before they started, median time from booking
    to trace (from Booking.booked_at where the booking was made through hippo-pcn, else
    from when the poller found the appointment), tasks found and traced per day,
    and poll health. Open and overdue are TracingTaskQuerySet's rules."""
    from booking.models import Booking

    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    month_ago = now - timedelta(days=30)
    visible = pcns_for_user(user=user).order_by("name")
    pcns = list(visible[:limit] if limit is not None else visible)
    health_by_pcn: dict[str, list[PollHealth]] = {}
    for item in poll_health(now=now, pcn_ids=[p.pk for p in pcns]):
        health_by_pcn.setdefault(item.ods_code, []).append(item)
    panels: list[PcnPanel] = []
    done_statuses = (TaskStatus.TRACED, TaskStatus.NOT_NEEDED)
    rules = TracingTaskQuerySet
    booked_at = (
        Booking.objects.filter(tracing_task_id=OuterRef("pk"))
        .order_by("booked_at")
        .values("booked_at")[:1]
    )
    for pcn in pcns:
        tasks = TracingTask.objects.filter(pcn=pcn)
        counts = tasks.aggregate(
            open=Count("pk", filter=rules.active_q()),
            overdue=Count("pk", filter=rules.overdue_q(now)),
            traced_today=Count("pk", filter=Q(status=TaskStatus.TRACED, done_at__gte=today)),
            past=Count(
                "pk",
                filter=Q(appointment_start__gte=month_ago, appointment_start__lt=now)
                & ~Q(status=TaskStatus.CANCELLED),
            ),
            in_time=Count(
                "pk",
                filter=Q(
                    appointment_start__gte=month_ago,
                    appointment_start__lt=now,
                    status__in=done_statuses,
                    done_at__lte=F("appointment_start"),
                ),
            ),
        )
        durations: list[float] = []
        from_booking = from_found = 0
        for done, found_at, booked in (
            tasks.filter(status=TaskStatus.TRACED, done_at__gte=month_ago)
            .annotate(booked_at=Subquery(booked_at))
            .values_list("done_at", "created_at", "booked_at")
        ):
            if done is None:
                continue
            if booked is not None:
                from_booking += 1
            else:
                from_found += 1
            durations.append((done - (booked or found_at)).total_seconds())
        first_day = (today - timedelta(days=days - 1)).date()
        found = dict(
            tasks.filter(created_at__gte=today - timedelta(days=days - 1))
            .annotate(day=TruncDate("created_at"))
            .values_list("day")
            .annotate(n=Count("pk"))
            .values_list("day", "n")
        )
        traced = dict(
            tasks.filter(status=TaskStatus.TRACED, done_at__gte=today - timedelta(days=days - 1))
            .annotate(day=TruncDate("done_at"))
            .values_list("day")
            .annotate(n=Count("pk"))
            .values_list("day", "n")
        )
        bars = [
            DayBar(day=d, found=found.get(d, 0), traced=traced.get(d, 0))
            for d in (first_day + timedelta(days=i) for i in range(days))
        ]
        rate = round(100 * counts["in_time"] / counts["past"], 1) if counts["past"] else None
        panels.append(
            PcnPanel(
                pcn=pcn,
                open=counts["open"],
                overdue=counts["overdue"],
                traced_today=counts["traced_today"],
                before_appointment_rate=rate,
                median_hours_to_trace=_median_hours(durations),
                days=bars,
                health=health_by_pcn.get(pcn.ods_code, []),
                median_from_booking=from_booking,
                median_from_found=from_found,
            )
        )
    return panels
