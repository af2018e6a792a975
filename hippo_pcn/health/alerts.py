"""Alerts that do not depend on the part that failed.

Support must hear when the scheduler (Celery beat), the workers or the broker
stop, and when a PCN's appointments stop being read. The check behind those
alerts must therefore not run only as a beat task on a worker: it runs

* in the beat process, in a thread of its own (`start_alert_thread`, from the
  `beat_init` signal), which needs no broker and no worker;
* in the worker's main process, the same way (`worker_ready`), which needs no
  beat;
* from cron, `python manage.py check_poll_health`, which needs neither;
* and as the beat task `tracing.tasks.check_poll_health`, as before.

Whichever sees a problem first raises the alert: one log line at ERROR and one
email to support, deduplicated by a compare-and-swap on a `HealthAlert` row, so
the others never send it again. The pages (the admin banner, /healthz) do not
read these rows: they compute the same state live from the heartbeats and the
last successful polls, so the web process alone shows it.

Apps add their own checks with `register_alert_check` (tracing adds the poll
health of each PCN connection); this module never imports them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import close_old_connections, connection
from django.utils import timezone

from .models import HealthAlert, Heartbeat
from .services import BEAT_HEARTBEAT, heartbeat_touch

logger = logging.getLogger(__name__)

BEAT_PROCESS = "beat-process"
WORKER_PROCESS = "worker-process"
# When the beat process last started (its alert thread writes it once).
BEAT_STARTED = "beat-started"
SCHEDULER_ALERT = "scheduler"

AlertCheck = Callable[..., object]
_ALERT_CHECKS: list[AlertCheck] = []


def register_alert_check(check: AlertCheck) -> None:
    """Add a check run with the scheduler's: `check(now=..., runner=...)`."""
    if check not in _ALERT_CHECKS:
        _ALERT_CHECKS.append(check)


def support_emails() -> list[str]:
    """Who is emailed about alerts: active superusers and the support group."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    users = get_user_model().objects.filter(
        Q(is_superuser=True) | Q(groups__name=settings.SUPPORT_GROUP_NAME), is_active=True
    )
    return sorted(set(users.exclude(email="").values_list("email", flat=True)))


def alert_raise(*, name: str, detail: str, runner: str, now: datetime) -> bool:
    """Mark the alert raised; True only for the one caller that raised it."""
    HealthAlert.objects.get_or_create(name=name)
    return (
        HealthAlert.objects.filter(name=name, raised_at__isnull=True).update(
            raised_at=now, raised_by=runner[:40], detail=detail
        )
        == 1
    )


def alert_clear(*, name: str) -> bool:
    """Clear the alert; True only for the one caller that cleared it."""
    return (
        HealthAlert.objects.filter(name=name, raised_at__isnull=False).update(
            raised_at=None, raised_by="", detail=""
        )
        == 1
    )


# --- the scheduler ------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerState:
    """Whether beat's heartbeat task still runs, and if not, which part stopped,
    from the heartbeats of the beat task and of the beat and worker processes."""

    ok: bool
    summary: str
    last_task_at: datetime | None
    beat_seen_at: datetime | None
    worker_seen_at: datetime | None


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return f"{timezone.localtime(moment):%a %d %b %H:%M}"


def scheduler_state(*, now: datetime | None = None) -> SchedulerState:
    now = now or timezone.now()
    max_age = timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS)
    seen = dict(
        Heartbeat.objects.filter(
            name__in=[BEAT_HEARTBEAT, BEAT_PROCESS, WORKER_PROCESS, BEAT_STARTED]
        ).values_list("name", "last_seen")
    )
    task, beat, worker = (seen.get(n) for n in (BEAT_HEARTBEAT, BEAT_PROCESS, WORKER_PROCESS))
    beat_started = seen.get(BEAT_STARTED)

    def fresh(moment: datetime | None) -> bool:
        return moment is not None and now - moment <= max_age

    if fresh(task):
        return SchedulerState(True, "Celery beat and the workers are running.", task, beat, worker)
    grace = timedelta(seconds=settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS)
    if (
        beat_started is not None
        and now - beat_started <= grace
        and (task is None or task < beat_started)
    ):
        # Beat has just (re)started: its first heartbeat task has not come round
        # yet. Not a stopped scheduler; the grace ends it if nothing runs.
        return SchedulerState(
            True,
            "Celery beat has just started; its first tasks have not run yet.",
            task,
            beat,
            worker,
        )
    if task is None and beat is None and worker is None:
        # A new installation whose scheduler has not started yet: /healthz's
        # startup grace covers this; the alert waits for a first heartbeat.
        return SchedulerState(True, "Celery beat has not started yet.", task, beat, worker)
    since = f"since {_when(task)}" if task else "yet"
    if fresh(beat):
        summary = (
            f"Celery beat is running, but its tasks have not run {since}: no worker is "
            "running, or the broker is down."
        )
    elif fresh(worker):
        summary = f"Celery beat is not running: its tasks have not run {since}."
    else:
        summary = (
            f"Neither Celery beat nor any worker is running: scheduled tasks have not run {since}."
        )
    return SchedulerState(False, summary, task, beat, worker)


def scheduler_alert_check(*, now: datetime, runner: str, starting: bool = False) -> bool | None:
    """Raise (True) or clear (False) the scheduler alert; None when unchanged.
    A runner still `starting` (its process started less than
    HEALTH_BEAT_STARTUP_GRACE_SECONDS ago, when the others may be starting too)
    only clears, never raises."""
    state = scheduler_state(now=now)
    if state.ok:
        if alert_clear(name=SCHEDULER_ALERT):
            logger.warning("Scheduler recovered: %s (seen by %s)", state.summary, runner)
            return False
        return None
    if starting:
        return None
    if not alert_raise(name=SCHEDULER_ALERT, detail=state.summary, runner=runner, now=now):
        return None
    logger.error("Scheduler alert (raised by %s): %s", runner, state.summary)
    recipients = support_emails()
    if recipients:
        send_mail(
            subject="hippo-pcn: scheduled work has stopped",
            message=(
                f"{state.summary}\n\n"
                "While this lasts, PCN appointments are not polled, so new bookings do not "
                "reach the tracing worklist, and reminders and digests are not sent. "
                f"Noticed by the {runner}. This alert is sent once; it clears by itself when "
                "the scheduled tasks run again."
            ),
            from_email=None,
            recipient_list=recipients,
        )
    return True


def health_alerts_run(
    *, runner: str, now: datetime | None = None, starting: bool = False
) -> list[object]:
    """Every alert check, once: the scheduler's, then each app's."""
    now = now or timezone.now()
    results: list[object] = [scheduler_alert_check(now=now, runner=runner, starting=starting)]
    for check in _ALERT_CHECKS:
        results.append(check(now=now, runner=runner))
    return results


# --- the threads in the beat and worker processes -----------------------------------------


def _alert_loop_once(runner: str, *, starting: bool) -> None:
    close_old_connections()
    try:
        heartbeat_touch(name=f"{runner}-process")
        health_alerts_run(runner=runner, starting=starting)
    except Exception:  # the loop must survive a database that is down for a while
        logger.exception("Health alert check in the %s failed; trying again later.", runner)
    finally:
        connection.close()


def start_alert_thread(*, runner: str, stop: threading.Event | None = None) -> threading.Thread:
    """Run the checks every HEALTH_HEARTBEAT_INTERVAL_SECONDS in a daemon thread
    of this process (the beat or a worker's main process)."""
    stop = stop or threading.Event()
    interval = settings.HEALTH_HEARTBEAT_INTERVAL_SECONDS
    started = time.monotonic()

    def loop() -> None:
        if runner == "beat":
            # Mark the start, so the banner and /healthz give beat's first round
            # the same grace before calling the scheduler stopped.
            try:
                close_old_connections()
                heartbeat_touch(name=BEAT_STARTED)
            except Exception:  # the checks below retry the database on their own
                logger.exception("Could not record beat's start; carrying on.")
        while True:
            # Just started: beat's first heartbeat may not have run yet (or an old
            # one is left from before a restart). Wait before raising.
            starting = time.monotonic() - started < settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS
            _alert_loop_once(runner, starting=starting)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name=f"health-alerts-{runner}", daemon=True)
    thread.start()
    return thread
