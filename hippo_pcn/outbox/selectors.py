"""Reads for the outbox: what support sees at the top of its admin page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from .models import OutboxMessage


@dataclass(frozen=True)
class OutboxStats:
    unpublished: int
    due: int
    failing: int
    oldest_unpublished_at: datetime | None

    @property
    def oldest_age(self) -> timedelta | None:
        if self.oldest_unpublished_at is None:
            return None
        return timezone.now() - self.oldest_unpublished_at


def outbox_stats(*, now: datetime | None = None) -> OutboxStats:
    """Unpublished rows: how many, how many due now, how many with a broker error,
    and when the oldest was written (one query)."""
    now = now or timezone.now()
    found = OutboxMessage.objects.unpublished().aggregate(
        unpublished=Count("pk"),
        due=Count("pk", filter=Q(available_at__lte=now)),
        failing=Count("pk", filter=~Q(last_error="")),
        oldest=Min("created_at"),
    )
    return OutboxStats(
        unpublished=found["unpublished"],
        due=found["due"],
        failing=found["failing"],
        oldest_unpublished_at=found["oldest"],
    )
