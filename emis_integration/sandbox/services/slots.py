"""Slots and the sessions that hold them. EMIS groups slots into appointment
sessions; in the sandbox a session is one schedule's UK local day (its site, its
practitioner as the holder, its service as the one slot type), created with the
day's first slot and widened to cover every slot added later.

The functions that migration 0003 runs take the model classes as arguments, so
the migration can pass its historical models."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import AppointmentSession, Schedule, Slot

LAST_TIME_OF_DAY = time(23, 59)


def _local(value: datetime) -> datetime:
    return timezone.localtime(value, timezone.get_default_timezone())


def local_day(value: datetime) -> date:
    """The UK local date a slot starting at `value` belongs to."""
    return _local(value).date()


def _day_spans(bounds: Iterable[tuple[datetime, datetime]]) -> dict[date, tuple[time, time, int]]:
    """Per local day of the starts: (first start, last end, first slot's minutes),
    as local times. A slot running past midnight ends its session at 23:59."""
    spans: dict[date, tuple[time, time, int]] = {}
    for start, end in bounds:
        local_start, local_end = _local(start), _local(end)
        day = local_start.date()
        end_time = local_end.time() if local_end.date() == day else LAST_TIME_OF_DAY
        if day in spans:
            first, last, minutes = spans[day]
            spans[day] = (min(first, local_start.time()), max(last, end_time), minutes)
        else:
            minutes = max(1, round((end - start).total_seconds() / 60))
            spans[day] = (local_start.time(), end_time, minutes)
    return spans


def _sessions_for_days(
    session_model: Any, *, schedule: dict[str, Any], spans: dict[date, tuple[time, time, int]]
) -> dict[date, Any]:
    """The schedule's sessions on the days of `spans`: the existing ones, widened
    where a span reaches outside them, and new ones for the other days.
    `schedule` holds the session's fields: organisation_id, schedule_id, site_id,
    holder_id and name."""
    if not spans:
        return {}
    days = sorted(spans)
    in_range = session_model.objects.filter(
        schedule_id=schedule["schedule_id"], date__gte=days[0], date__lte=days[-1]
    )
    sessions = {session.date: session for session in in_range}
    missing = [
        session_model(date=day, start_time=first, end_time=last, slot_minutes=minutes, **schedule)
        for day, (first, last, minutes) in spans.items()
        if day not in sessions
    ]
    if missing:
        # Read back rather than trust bulk_create's primary keys (SQLite before 3.35).
        session_model.objects.bulk_create(missing, batch_size=500)
        sessions = {session.date: session for session in in_range.all()}
    widened = []
    for day, (first, last, _) in spans.items():
        session = sessions[day]
        if first < session.start_time or last > session.end_time:
            session.start_time = min(first, session.start_time)
            session.end_time = max(last, session.end_time)
            widened.append(session)
    if widened:
        session_model.objects.bulk_update(widened, ["start_time", "end_time"], batch_size=500)
    return sessions


def _session_fields(
    *,
    organisation_id: int,
    schedule_id: int,
    site_id: int,
    practitioner_id: int | None,
    service_type: str,
) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id,
        "schedule_id": schedule_id,
        "site_id": site_id,
        "holder_id": practitioner_id,
        "name": service_type[:100],
    }


def slots_create(
    *,
    schedule: Schedule,
    starts: list[datetime],
    minutes: int,
    allowed_ods: list[str],
    allowed_org_types: list[str],
) -> list[Slot]:
    """Slots of `minutes` at `starts` in `schedule`, each in the schedule's
    session on its local day (made, or widened, to cover them). Booking
    restrictions as on Slot: empty lists mean anyone may book."""
    if minutes < 1:
        raise ValueError("A slot lasts at least one minute.")
    if not starts:
        return []
    length = timedelta(minutes=minutes)
    with transaction.atomic():
        sessions = _sessions_for_days(
            AppointmentSession,
            schedule=_session_fields(
                organisation_id=schedule.organisation_id,
                schedule_id=schedule.pk,
                site_id=schedule.site_id,
                practitioner_id=schedule.practitioner_id,
                service_type=schedule.service_type,
            ),
            spans=_day_spans((start, start + length) for start in starts),
        )
        return Slot.objects.bulk_create(
            [
                Slot(
                    organisation_id=schedule.organisation_id,
                    schedule=schedule,
                    session=sessions[local_day(start)],
                    start=start,
                    end=start + length,
                    allowed_ods=list(allowed_ods),
                    allowed_org_types=list(allowed_org_types),
                )
                for start in starts
            ],
            batch_size=1000,
        )


def slot_sessions_assign(*, session_model: Any = AppointmentSession, slot_model: Any = Slot) -> int:
    """Put every slot that has no session into its schedule's session on its
    local day, making the sessions needed. Returns how many slots it placed.
    Migration 0003 runs it with its historical models; run again, it does nothing."""
    by_schedule: dict[int, dict[str, Any]] = {}
    bounds: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    slot_ids: dict[tuple[int, date], list[int]] = defaultdict(list)
    rows = (
        slot_model.objects.filter(session__isnull=True)
        .order_by("schedule_id", "start", "pk")
        .values_list(
            "pk",
            "start",
            "end",
            "schedule_id",
            "schedule__organisation_id",
            "schedule__site_id",
            "schedule__practitioner_id",
            "schedule__service_type",
        )
    )
    for pk, start, end, schedule_id, org_id, site_id, practitioner_id, service in rows.iterator(
        chunk_size=2000
    ):
        if schedule_id not in by_schedule:
            by_schedule[schedule_id] = _session_fields(
                organisation_id=org_id,
                schedule_id=schedule_id,
                site_id=site_id,
                practitioner_id=practitioner_id,
                service_type=service,
            )
        bounds[schedule_id].append((start, end))
        slot_ids[(schedule_id, local_day(start))].append(pk)
    placed = 0
    with transaction.atomic():
        for schedule_id, fields in by_schedule.items():
            sessions = _sessions_for_days(
                session_model, schedule=fields, spans=_day_spans(bounds[schedule_id])
            )
            for day, session in sessions.items():
                ids = slot_ids.get((schedule_id, day), [])
                for offset in range(0, len(ids), 500):
                    placed += slot_model.objects.filter(pk__in=ids[offset : offset + 500]).update(
                        session_id=session.pk
                    )
    return placed
