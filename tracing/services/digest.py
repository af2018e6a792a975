"""The tracing digest: open, overdue and due-soon tasks emailed to each owner."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from hippo_pcn.audit.services import (
    audit_record,
    system_actor,
)
from hippo_pcn.organisations.models import Organisation

from ..models import (
    DigestSent,
    TracingTask,
    TracingTaskQuerySet,
)
from ..planning import is_batch_day
from ..selectors import policy_for_pcn

logger = logging.getLogger(__name__)

# --- digest ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestCounts:
    due_today: int
    overdue: int
    next_24h_untraced: int
    # Practice-led owners: tasks that arrived since the last hourly digest.
    new_since_last: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.due_today or self.overdue or self.next_24h_untraced or self.new_since_last)


PRACTICE_DIGEST_EVERY = timedelta(hours=1)
# Send-once marks older than this are of no more use (a beat runs hourly).
DIGEST_MARKS_KEPT = timedelta(days=2)


def tracing_digest_counts(*, owner: Organisation, now: datetime) -> DigestCounts:
    """What the owner's digest reports, by TracingTaskQuerySet's rules at `now`
    (the same rules as the worklist's "due" filter, so each figure equals the
    count of the worklist link beside it). A practice (practice-led tracing)
    also hears about tasks created in the last hour, whatever their due time:
    that is its "after bookings" digest."""
    rules = TracingTaskQuerySet
    new_filter = (
        Q(created_at__gte=now - PRACTICE_DIGEST_EVERY, created_at__lte=now)
        if owner.is_practice
        else Q(pk__in=[])
    )
    counts = TracingTask.objects.filter(owner=owner).aggregate(
        due_today=Count("pk", filter=rules.due_today_q(now)),
        overdue=Count("pk", filter=rules.overdue_q(now)),
        soon=Count("pk", filter=rules.within_24h_q(now)),
        new=Count("pk", filter=rules.active_q() & new_filter),
    )
    return DigestCounts(counts["due_today"], counts["overdue"], counts["soon"], counts["new"])


def tracing_digest_links(*, owner: Organisation) -> dict[str, str]:
    """The worklist, filtered to the owner, and to each of the digest's figures
    (the status filter's default, to do, applies to each)."""
    from django.urls import reverse

    base = (
        f"{settings.PUBLIC_BASE_URL.rstrip('/')}"
        f"{reverse('admin:tracing_tracingtask_changelist')}?owner={owner.pk}"
    )
    return {
        "worklist": base,
        "overdue": f"{base}&due=overdue",
        "due_today": f"{base}&due=today",
        "next_24h_untraced": f"{base}&due=soon",
    }


def _tracer_emails(owner: Organisation) -> list[str]:
    from django.contrib.auth import get_user_model

    return sorted(
        set(
            get_user_model()
            .objects.filter(memberships__organisation=owner, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def tracing_digest_send(*, owner: Organisation, now: datetime | None = None) -> bool:
    """One email to the owner organisation's tracers: tasks due today, overdue,
    and appointments in the next 24 hours still untraced, with a link to the
    filtered worklist. Nothing is sent when there is nothing to do."""
    from django.core.mail import send_mail

    now = now or timezone.now()
    counts = tracing_digest_counts(owner=owner, now=now)
    recipients = _tracer_emails(owner)
    if not counts.anything or not recipients:
        return False
    links = tracing_digest_links(owner=owner)
    soon = counts.next_24h_untraced
    send_mail(
        subject=(
            f"Tracing for {owner.name}: {counts.overdue} overdue, {counts.due_today} due today, "
            f"{soon} {'appointment' if soon == 1 else 'appointments'} in 24 hours not traced"
        ),
        message=(
            f"Tracing worklist for {owner.name} ({owner.ods_code}), "
            f"{timezone.localtime(now):%A %d %B %Y %H:%M}:\n\n"
            + (
                f"  New bookings to trace in the last hour: {counts.new_since_last}\n"
                if owner.is_practice
                else ""
            )
            + f"  Overdue: {counts.overdue}\n    {links['overdue']}\n"
            f"  Due today (from now until midnight): {counts.due_today}\n"
            f"    {links['due_today']}\n"
            f"  Appointments in the next 24 hours not traced yet: {soon}\n"
            f"    {links['next_24h_untraced']}\n\n"
            f"Open the worklist: {links['worklist']}\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )
    audit_record(
        actor=system_actor("digest"),
        action="tracing_digest.sent",
        organisation=owner,
        details={
            "due_today": counts.due_today,
            "overdue": counts.overdue,
            "next_24h_untraced": counts.next_24h_untraced,
            "new_since_last": counts.new_since_last,
            "recipients": len(recipients),
        },
    )
    return True


def _digest_due_now(*, owner: Organisation, now: datetime) -> bool:
    local = timezone.localtime(now)
    if owner.is_practice:
        # Practice-led: batched hourly, only when new tasks arrived in the last hour.
        return (
            TracingTask.objects.active()
            .filter(
                owner=owner,
                created_at__gte=now - PRACTICE_DIGEST_EVERY,
                created_at__lte=now,
            )
            .exists()
        )
    policy = policy_for_pcn(pcn=owner)
    if local.hour != policy.batch_time.hour:
        return False
    return is_batch_day(
        mode=policy.mode,
        batch_time=policy.batch_time,
        batch_weekday=policy.batch_weekday,
        day=local.date(),
    )


def tracing_digests_send(*, now: datetime | None = None) -> int:
    """Hourly: each owner organisation whose batch time it is gets its digest.
    Returns how many emails went out."""
    now = now or timezone.now()
    owner_ids = TracingTask.objects.active().values_list("owner_id", flat=True).distinct()
    sent = 0
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    DigestSent.objects.filter(hour__lt=hour - DIGEST_MARKS_KEPT).delete()
    for owner in Organisation.objects.filter(pk__in=owner_ids):
        if not _digest_due_now(owner=owner, now=now):
            continue
        # Send once an hour whatever runs this (two beats, a redelivered task): the
        # mark and the send share a transaction, so a failed send leaves no mark
        # and a second run waits for the first's mark and then sends nothing.
        with transaction.atomic():
            _, first = DigestSent.objects.get_or_create(owner=owner, hour=hour)
            if first and tracing_digest_send(owner=owner, now=now):
                sent += 1
    return sent
