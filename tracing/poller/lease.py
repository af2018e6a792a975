"""A poll's lease on its connection: one poll of a connection at a time, and a
dead poll taken over within two pages' time."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from emis_integration.models import EmisConnection

from ..models import PollCursor, PollRun, PollRunStatus


class LeaseLost(Exception):
    """Another worker took over this connection's poll (our lease expired)."""


def lease_span() -> timedelta:
    """How long a poll's lease holds without a heartbeat: two pages' time (a page
    is one EMIS call, at most TRACING_POLL_PAGE_SECONDS). A poll beats after every
    page, so a lease whose holder stopped beating for two pages' time belongs to
    a dead process and may be taken over at once."""
    return timedelta(seconds=2 * settings.TRACING_POLL_PAGE_SECONDS)


class Lease:
    """A poll's hold on its connection's PollCursor (compare-and-swap on
    `lease_token`), renewed by `beat` after every page read."""

    # Beats closer together than this are skipped: a fast EMIS answering many
    # small pages needs no database write for each.
    MIN_BEAT_GAP = timedelta(seconds=1)

    def __init__(self, *, cursor_id: int, token: str, taken_at: datetime) -> None:
        self.cursor_id = cursor_id
        self.token = token
        self.last_beat = taken_at

    @classmethod
    def acquire(cls, *, cursor: PollCursor, now: datetime) -> Lease | None:
        token = str(uuid.uuid4())
        won = PollCursor.objects.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=cursor.pk
        ).update(lease_token=token, lease_until=now + lease_span())
        return cls(cursor_id=cursor.pk, token=token, taken_at=now) if won == 1 else None

    def beat(self) -> None:
        """Renew the lease; raise LeaseLost if another poll has taken it over."""
        now = timezone.now()
        if now - self.last_beat < self.MIN_BEAT_GAP:
            return
        self.renew(now=now)

    def renew(self, *, now: datetime, **moves: Any) -> None:
        if (
            PollCursor.objects.filter(pk=self.cursor_id, lease_token=self.token).update(
                lease_until=now + lease_span(), **moves
            )
            != 1
        ):
            raise LeaseLost(
                "Another worker took over this connection's poll (this one stopped beating "
                "for two pages' time); this poll's changes were not saved."
            )
        self.last_beat = now

    def release(self) -> None:
        PollCursor.objects.filter(pk=self.cursor_id, lease_token=self.token).update(
            lease_token="", lease_until=None
        )


def runs_abandoned_fail(*, connection: EmisConnection, now: datetime) -> int:
    """Mark failed the runs a dead process left `running`. Called by the poll
    that has just taken the lease: while it holds it, no other run of the
    connection can still be alive."""
    stamp = f"{timezone.localtime(now):%d %b %Y %H:%M}"
    return PollRun.objects.filter(connection=connection, status=PollRunStatus.RUNNING).update(
        status=PollRunStatus.FAILED,
        finished_at=now,
        error=(
            "The process running this poll stopped without finishing (it stopped renewing "
            f"its lease); marked failed at {stamp} by the next poll."
        ),
    )
