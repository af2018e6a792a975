"""Reads for tracing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Membership, Organisation
from hippo_pcn.organisations.roles import PCN_ROLES, OrganisationKind, Role
from hippo_pcn.organisations.selectors import UserLike, organisations_for_user, user_is_support

from .models import (
    PolicyMode,
    PollCursor,
    TaskStatus,
    TracingPolicy,
    TracingTask,
    TracingTaskQuerySet,
    Weekday,
)
from .planning import PolicyView, batch_after_appointment
from .planning import task_owner as task_owner  # a policy rule: re-exported for old callers

LONDON = ZoneInfo("Europe/London")


def _user_pk(user: UserLike) -> int:
    return int(user.pk or 0)


def policy_for_pcn(*, pcn: Organisation) -> TracingPolicy:
    """The PCN's policy, or the recommended default (PCN-led daily batch at 08:00)
    when the PCN has not chosen one yet."""
    policy = TracingPolicy.objects.filter(pcn=pcn).first()
    return policy if policy is not None else TracingPolicy(pcn=pcn)


def policy_view(policy: TracingPolicy) -> PolicyView:
    return PolicyView(
        mode=policy.mode,
        batch_time=policy.batch_time,
        batch_weekday=policy.batch_weekday,
        practice_working_hours=policy.practice_working_hours,
    )


def tracing_policy_warning(*, policy: TracingPolicy, now: datetime | None = None) -> str:
    """A warning in words when a weekly batch falls after most (or all) of the
    PCN's upcoming appointments still to trace, planned from when each was
    found as the re-plan does: those patients would be traced only on the day.
    Empty when there is nothing to warn about."""
    if policy.mode != PolicyMode.PCN_BATCH_WEEKLY:
        return ""
    now = now or timezone.now()
    view = policy_view(policy)
    upcoming = list(
        TracingTask.objects.active()
        .filter(pcn_id=policy.pcn_id, appointment_start__gt=now)
        .values_list("created_at", "appointment_start")
    )
    late = sum(
        batch_after_appointment(policy=view, found_at=found, appointment_start=start)
        for found, start in upcoming
    )
    if not upcoming or late * 2 <= len(upcoming):
        return ""
    share = f"all {len(upcoming)}" if late == len(upcoming) else f"{late} of the {len(upcoming)}"
    noun = "appointment" if len(upcoming) == 1 else "appointments"
    return (
        f"The weekly batch on {Weekday(policy.batch_weekday).label} at "
        f"{policy.batch_time:%H:%M} comes after {share} upcoming {noun} still to trace "
        f"at {policy.pcn.name}, so those patients will only be traced on the day of their "
        "appointment. The policy is saved. To trace patients before they arrive, choose a "
        "daily batch or a weekday earlier in the week."
    )


def live_pcn_connection_ids() -> list[int]:
    return list(
        EmisConnection.objects.filter(
            system=EmisSystem.EMIS_COMMUNITY, status=ConnectionStatus.LIVE
        ).values_list("pk", flat=True)
    )


def tracing_tasks_for_user(*, user: UserLike) -> QuerySet[TracingTask]:
    """The tasks a user may see: support all; PCN staff their PCN's; practice
    staff those their practice owns (practice-led) or booked."""
    qs = TracingTask.objects.all()
    if user_is_support(user=user):
        return qs
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return qs.none()
    pcn_ids: list[int] = []
    practice_ids: list[int] = []
    for organisation_id, role in Membership.objects.filter(user_id=_user_pk(user)).values_list(
        "organisation_id", "role"
    ):
        (pcn_ids if role in PCN_ROLES else practice_ids).append(organisation_id)
    scope = Q(pk__in=[])
    if pcn_ids:
        scope |= Q(pcn_id__in=pcn_ids)
    if practice_ids:
        scope |= Q(owner_id__in=practice_ids) | Q(booking_organisation_id__in=practice_ids)
    return qs.filter(scope)


def pcns_for_user(*, user: UserLike) -> QuerySet[Organisation]:
    """The PCNs whose tracing a user may look at (dashboard, policies)."""
    if user_is_support(user=user):
        return Organisation.objects.filter(kind=OrganisationKind.PCN)
    return organisations_for_user(user=user).filter(kind=OrganisationKind.PCN)


def pcns_administered_by(*, user: UserLike) -> QuerySet[Organisation]:
    """PCNs whose tracing policy the user may change: PCN admins' own, support all."""
    if user_is_support(user=user):
        return Organisation.objects.filter(kind=OrganisationKind.PCN)
    if not getattr(user, "is_authenticated", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(
        kind=OrganisationKind.PCN,
        pk__in=Membership.objects.filter(user_id=_user_pk(user), role=Role.PCN_ADMIN).values(
            "organisation_id"
        ),
    )


def task_history(*, task: TracingTask) -> QuerySet[AuditEntry]:
    """The task's audit entries, oldest first."""
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(TracingTask), object_id=str(task.pk)
    ).order_by("created_at", "id")


# --- poll health -------------------------------------------------------------------------


@dataclass(frozen=True)
class PollHealth:
    connection_id: int
    organisation: str
    ods_code: str
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    healthy: bool
    alert_raised_at: datetime | None
    # What the poll's age counts from: the last successful poll, or going live.
    counted_from: datetime | None = None


def poll_health(
    *, now: datetime | None = None, pcn_ids: list[int] | None = None
) -> list[PollHealth]:
    """Every live PCN connection's poll health: unhealthy when it has had no
    successful poll for TRACING_POLL_ALERT_AFTER_SECONDS (a connection never
    polled counts from when it went live)."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.TRACING_POLL_ALERT_AFTER_SECONDS)
    connections = EmisConnection.objects.filter(
        system=EmisSystem.EMIS_COMMUNITY, status=ConnectionStatus.LIVE
    ).select_related("organisation", "poll_cursor")
    if pcn_ids is not None:
        connections = connections.filter(organisation_id__in=pcn_ids)
    result: list[PollHealth] = []
    for connection in connections.order_by("organisation__name"):
        cursor = getattr(connection, "poll_cursor", None)
        last_success = cursor.last_success_at if cursor else None
        since = last_success or connection.status_changed_at or connection.created_at
        result.append(
            PollHealth(
                connection_id=connection.pk,
                organisation=connection.organisation.name,
                ods_code=connection.organisation.ods_code,
                last_success_at=last_success,
                last_error=cursor.last_error if cursor else "",
                last_error_at=cursor.last_error_at if cursor else None,
                healthy=since >= limit,
                alert_raised_at=cursor.alert_raised_at if cursor else None,
                counted_from=since,
            )
        )
    return result


def poll_alerts_raised() -> list[PollCursor]:
    """Connections support is currently alerted about (the admin banner)."""
    return list(
        PollCursor.objects.filter(
            alert_raised_at__isnull=False,
            connection__status=ConnectionStatus.LIVE,
            connection__system=EmisSystem.EMIS_COMMUNITY,
        ).select_related("connection__organisation")
    )


# --- dashboard -----------------------------------------------------------------------------


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
            .annotate(day=TruncDate("created_at", tzinfo=LONDON))
            .values_list("day")
            .annotate(n=Count("pk"))
            .values_list("day", "n")
        )
        traced = dict(
            tasks.filter(status=TaskStatus.TRACED, done_at__gte=today - timedelta(days=days - 1))
            .annotate(day=TruncDate("done_at", tzinfo=LONDON))
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


def poll_health_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """For /healthz. One PCN's EMIS being down is that PCN's outage, reported but
    not failing the service; every live connection stale means the poller itself
    (worker or beat) is down, which fails the check."""
    items = poll_health(now=now)
    stale = [item for item in items if not item.healthy]
    return {
        "ok": not items or len(stale) < len(items),
        "live_connections": len(items),
        "stale_connections": [
            {
                "connection": item.connection_id,
                "ods_code": item.ods_code,
                "last_success": item.last_success_at.isoformat() if item.last_success_at else None,
            }
            for item in stale
        ],
        "alert_after_s": settings.TRACING_POLL_ALERT_AFTER_SECONDS,
    }


def tracing_tasks_search(*, queryset: QuerySet[TracingTask], term: str) -> QuerySet[TracingTask]:
    """The worklist's search, for the admin and the API: an NHS number with or
    without spaces or dashes matches exactly; otherwise every word must start the
    patient's given or family name."""
    digits = term.replace(" ", "").replace("-", "")
    if digits.isdigit():
        return queryset.filter(patient_nhs_number=digits)
    term = term.strip()
    if not term:
        return queryset
    query = Q()
    for word in term.split():
        query &= Q(patient_family_name__istartswith=word) | Q(patient_given_name__istartswith=word)
    return queryset.filter(query)
