"""Check the scheduler and every live PCN connection's polling, raising (once)
or clearing the alerts, as beat and the workers do: for cron, so support is told
even when beat and every worker have stopped.

    * * * * * cd /srv/hippo-pcn && .venv/bin/python manage.py check_poll_health

Exit status: 0 when all is well; 1 when the scheduler or a connection's polling
is unhealthy (whether or not this run is the one that sent the alert)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from hippo_pcn.health.alerts import health_alerts_run, scheduler_state
from tracing.selectors import poll_health


class Command(BaseCommand):
    help = (
        "Check Celery beat, the workers and each live PCN connection's polling; alert "
        "support once and clear alerts on recovery. Exits 1 when anything is unhealthy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="Print only what is unhealthy.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        health_alerts_run(runner="check_poll_health command", now=now)
        unhealthy = 0
        scheduler = scheduler_state(now=now)
        if scheduler.ok:
            if not options["quiet"]:
                self.stdout.write(f"Scheduler: {scheduler.summary}")
        else:
            unhealthy += 1
            self.stderr.write(f"Scheduler: {scheduler.summary}")
        for health in poll_health(now=now):
            since = (
                f"{timezone.localtime(health.last_success_at):%d %b %H:%M}"
                if health.last_success_at
                else "never"
            )
            line = f"{health.organisation} ({health.ods_code}): last successful poll {since}"
            if health.healthy:
                if not options["quiet"]:
                    self.stdout.write(f"{line}: OK")
            else:
                unhealthy += 1
                self.stderr.write(
                    f"{line}: NOT POLLING"
                    + (f" ({health.last_error})" if health.last_error else "")
                )
        if unhealthy:
            raise SystemExit(1)
