"""Reads for tracing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Membership, Organisation
from hippo_pcn.organisations.roles import PCN_ROLES, OrganisationKind, Role
from hippo_pcn.organisations.selectors import UserLike, organisations_for_user, user_is_support

from .models import ACTIVE_STATUSES, PollCursor, TaskStatus, TracingPolicy, TracingTask
from .planning import PolicyView

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


def task_owner(
    *,
    policy: TracingPolicy,
    pcn: Organisation,
    booking_organisation: Organisation | None,
    registered_practice: Organisation | None,
) -> Organisation:
    """Practice-led: the booking practice (or, for bookings made by the PCN
    itself, the patient's registered practice) when it is a member of the PCN.
    Otherwise, and in every other mode, the PCN."""
    if policy.mode == "practice_led":
        for candidate in (booking_organisation, registered_practice):
            if (
                candidate is not None
                and candidate.kind == OrganisationKind.PRACTICE
                and candidate.pcn_id == pcn.pk
            ):
                return candidate
    return pcn


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

    @property
    def chart(self) -> dict[str, Any]:
        """Bar geometry for a small server-rendered SVG chart."""
        width, height, gap = 14, 80, 4
        top = max([1, *[max(d.found, d.traced) for d in self.days]])
        bars = []
        for index, day in enumerate(self.days):
            x = index * (2 * width + gap)
            found_h = round(height * day.found / top)
            traced_h = round(height * day.traced / top)
            bars.append(
                {
                    "day": day,
                    "x_found": x,
                    "x_traced": x + width,
                    "y_found": height - found_h,
                    "y_traced": height - traced_h,
                    "h_found": found_h,
                    "h_traced": traced_h,
                    "label_x": x + width,
                }
            )
        return {
            "bars": bars,
            "width": len(self.days) * (2 * width + gap),
            "height": height,
            "bar_width": width,
            "top": top,
        }


def tracing_dashboard(
    *, user: UserLike, now: datetime | None = None, days: int = 14, limit: int | None = None
) -> list[PcnPanel]:
    """Per PCN the user may see: open/overdue/traced today, the share of the last
    30 days' appointments traced before they started, median booking-to-trace
    time, tasks found and traced per day, and poll health."""
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
    for pcn in pcns:
        tasks = TracingTask.objects.filter(pcn=pcn)
        counts = tasks.aggregate(
            open=Count("pk", filter=Q(status__in=ACTIVE_STATUSES)),
            overdue=Count("pk", filter=Q(status__in=ACTIVE_STATUSES, due_at__lt=now)),
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
        durations = sorted(
            (done - created).total_seconds()
            for done, created in tasks.filter(
                status=TaskStatus.TRACED, done_at__gte=month_ago
            ).values_list("done_at", "created_at")
            if done is not None
        )
        median = None
        if durations:
            middle = len(durations) // 2
            seconds = (
                durations[middle]
                if len(durations) % 2
                else (durations[middle - 1] + durations[middle]) / 2
            )
            median = round(seconds / 3600, 1)
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
                median_hours_to_trace=median,
                days=bars,
                health=health_by_pcn.get(pcn.ods_code, []),
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
