"""The transactional outbox: write, publish, relay, prune.

* ``outbox_enqueue`` / ``outbox_enqueue_many`` write rows in the caller's
  transaction and, once it commits, try to publish them at once (the fast path,
  ``transaction.on_commit(..., robust=True)``): bounded by a short broker timeout,
  and skipped for a while in this process after the broker failed, so a web
  request never raises or hangs because the broker is down or hung.
* ``outbox_relay`` (a beat task every OUTBOX_RELAY_INTERVAL_SECONDS, and
  ``manage.py relay_outbox`` for cron) publishes what is due, oldest first, and
  prunes old published rows.

Publishing claims rows with SELECT ... FOR UPDATE SKIP LOCKED and a short lease
(``available_at`` moves forward), commits, and only then talks to the broker: no
transaction is held open across broker I/O, and two publishers never take the same
row. A row is marked published once the broker has accepted it; on a broker error
it records the error and backs off (exponentially, up to
OUTBOX_RETRY_BACKOFF_MAX_SECONDS) and is tried again until accepted. A publisher
that dies between "accepted" and "marked" publishes the row again after the
lease: delivery is at least once, so every task behind the outbox is idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import OutboxMessage

logger = logging.getLogger(__name__)

ERROR_MAX_LENGTH = 500
PRUNE_BATCH_SIZE = 5_000

# The fast path is skipped in this process until this monotonic time, after the
# broker failed: one slow request per outage and process, not one per request.
_fast_path_paused_until = 0.0


@dataclass
class PublishResult:
    published: int = 0
    failed: int = 0
    error: str = ""


@dataclass
class RelayResult:
    published: int = 0
    failed: int = 0
    pruned: int = 0
    error: str = ""


# --- Writing ------------------------------------------------------------------------------


def outbox_enqueue(
    *,
    task: str,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    dedupe_key: str = "",
    delay: timedelta | None = None,
) -> OutboxMessage | None:
    """Write one task to the outbox in the caller's transaction; it is published
    after the commit (or, with a ``delay``, by the relay once that has passed).
    With a ``dedupe_key``, nothing is written (None) when an unpublished row with
    that key exists already: that one will do."""
    row = OutboxMessage(
        task=task, args=list(args), kwargs=dict(kwargs or {}), dedupe_key=dedupe_key
    )
    if delay is not None:
        row.available_at = timezone.now() + delay
    if dedupe_key:
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            return None
    else:
        row.save()
    if delay is None:
        _publish_on_commit([row.pk])
    return row


def outbox_enqueue_many(*, task: str, args_list: Iterable[Sequence[Any]]) -> list[OutboxMessage]:
    """Write one row per args (same task) in the caller's transaction."""
    rows = OutboxMessage.objects.bulk_create(
        [OutboxMessage(task=task, args=list(args)) for args in args_list]
    )
    _publish_on_commit([row.pk for row in rows])
    return rows


def _publish_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: outbox_try_publish(ids=ids), robust=True)


# --- Publishing ---------------------------------------------------------------------------


def _claim(*, ids: Sequence[int] | None, limit: int, now: datetime) -> list[OutboxMessage]:
    """Take up to `limit` due rows (of `ids`, if given) for publishing: rows another
    publisher holds are skipped, and the taken ones are leased (moved out of "due")
    before the lock is released."""
    lease = timedelta(seconds=settings.OUTBOX_PUBLISH_LEASE_SECONDS)
    with transaction.atomic():
        due = OutboxMessage.objects.due(now=now)
        if ids is not None:
            due = due.filter(pk__in=list(ids))
        rows = list(due.select_for_update(skip_locked=True).order_by("available_at", "id")[:limit])
        if rows:
            OutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(
                available_at=now + lease, attempts=F("attempts") + 1
            )
            for row in rows:
                row.attempts += 1
    return rows


def _backoff(attempts: int) -> timedelta:
    base = settings.OUTBOX_RETRY_BACKOFF_SECONDS
    seconds = min(base * 2 ** max(attempts - 1, 0), settings.OUTBOX_RETRY_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds)


def _celery_app() -> Any:
    from hippo_pcn.celery import app

    return app


def _registered_task(app: Any, name: str) -> Any:
    if name not in app.tasks:
        app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    return app.tasks[name]


def _publish_rows(
    rows: list[OutboxMessage], *, timeout: float, now: datetime | None = None
) -> PublishResult:
    """Publish claimed rows in order on one broker connection bounded by `timeout`
    (connect, each socket operation; no retries). The first broker error stops the
    batch: the rest back off. In eager mode (tests, no broker) the task runs here:
    a task that fails has still been delivered."""
    result = PublishResult()
    if not rows:
        return result
    app = _celery_app()
    eager = bool(app.conf.task_always_eager)
    connection = None
    if not eager:
        connection = app.connection_for_write(
            connect_timeout=timeout,
            transport_options={
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                "max_retries": 0,
            },
        )
    try:
        for index, row in enumerate(rows):
            try:
                if eager:
                    _registered_task(app, row.task).apply_async(
                        args=row.args, kwargs=row.kwargs, task_id=str(row.task_id)
                    )
                else:
                    app.send_task(
                        row.task,
                        args=row.args,
                        kwargs=row.kwargs,
                        task_id=str(row.task_id),
                        connection=connection,
                        retry=False,
                    )
            except Exception as exc:
                if eager:
                    logger.exception("Outbox %s: task %s failed when run eagerly", row.pk, row.task)
                else:
                    result.error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX_LENGTH]
                    result.failed = len(rows) - index
                    _record_failure(rows[index:], error=result.error, now=now)
                    logger.warning(
                        "Outbox: broker refused %s message(s), will retry: %s",
                        result.failed,
                        result.error,
                    )
                    break
            OutboxMessage.objects.filter(pk=row.pk).update(
                published_at=timezone.now(), last_error=""
            )
            result.published += 1
    finally:
        if connection is not None:
            connection.release()
    return result


def _record_failure(rows: list[OutboxMessage], *, error: str, now: datetime | None) -> None:
    now = max(now or timezone.now(), timezone.now())
    for row in rows:
        OutboxMessage.objects.filter(pk=row.pk, published_at__isnull=True).update(
            available_at=now + _backoff(row.attempts), last_error=error
        )


def outbox_try_publish(*, ids: Sequence[int]) -> PublishResult | None:
    """The fast path, run on commit: publish these rows now if the broker answers
    quickly. Never raises; what is not published is left to the relay."""
    global _fast_path_paused_until
    if not ids or time.monotonic() < _fast_path_paused_until:
        return None
    try:
        rows = _claim(ids=ids, limit=len(ids), now=timezone.now())
        result = _publish_rows(rows, timeout=settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("Outbox: could not publish on commit; the relay will")
        _fast_path_paused_until = time.monotonic() + settings.OUTBOX_FAST_PATH_PAUSE_SECONDS
        return None
    if result.failed:
        _fast_path_paused_until = time.monotonic() + settings.OUTBOX_FAST_PATH_PAUSE_SECONDS
    return result


def outbox_fast_path_resume() -> None:
    """Let the fast path try the broker again at once (after an outage, and in tests)."""
    global _fast_path_paused_until
    _fast_path_paused_until = 0.0


def outbox_relay(*, limit: int | None = None, now: datetime | None = None) -> RelayResult:
    """Publish every due row, oldest first, in batches, until none is due, the
    broker fails, or `limit` rows were taken; then prune old published rows."""
    result = RelayResult()
    batch = max(int(settings.OUTBOX_RELAY_BATCH_SIZE), 1)
    remaining = limit if limit is not None else None
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        rows = _claim(ids=None, limit=size, now=now or timezone.now())
        if not rows:
            break
        if remaining is not None:
            remaining -= len(rows)
        published = _publish_rows(
            rows, timeout=settings.OUTBOX_RELAY_PUBLISH_TIMEOUT_SECONDS, now=now
        )
        result.published += published.published
        result.failed += published.failed
        if published.failed:
            result.error = published.error
            break
    if result.published:
        outbox_fast_path_resume()
    result.pruned = outbox_prune(now=now)
    return result


def outbox_publish_now(*, ids: Sequence[int]) -> PublishResult:
    """Support's "publish now": the chosen unpublished rows, back-off or not."""
    now = timezone.now()
    OutboxMessage.objects.unpublished().filter(pk__in=list(ids)).update(available_at=now)
    rows = _claim(ids=ids, limit=len(ids), now=now)
    return _publish_rows(rows, timeout=settings.OUTBOX_RELAY_PUBLISH_TIMEOUT_SECONDS)


def outbox_prune(*, now: datetime | None = None) -> int:
    """Delete rows published more than OUTBOX_KEEP_PUBLISHED_DAYS ago (a batch per call)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_KEEP_PUBLISHED_DAYS)
    old = list(
        OutboxMessage.objects.filter(published_at__lt=cutoff).values_list("pk", flat=True)[
            :PRUNE_BATCH_SIZE
        ]
    )
    if not old:
        return 0
    deleted, _ = OutboxMessage.objects.filter(pk__in=old).delete()
    return deleted
