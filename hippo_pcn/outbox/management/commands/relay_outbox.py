"""Publish the outbox's due rows to Celery: for cron, next to (or instead of) beat.

* * * * * cd /srv/hippo-pcn && .venv/bin/python manage.py relay_outbox
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from hippo_pcn.outbox.selectors import outbox_stats
from hippo_pcn.outbox.services import outbox_relay


class Command(BaseCommand):
    help = "Publish the outbox's due rows to Celery and prune old published rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="At most this many rows.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = outbox_relay(limit=options["limit"])
        stats = outbox_stats()
        self.stdout.write(
            f"Published {result.published}, not accepted {result.failed}, pruned "
            f"{result.pruned}; {stats.unpublished} unpublished left."
        )
        if result.error:
            self.stderr.write(f"Broker error: {result.error}")
