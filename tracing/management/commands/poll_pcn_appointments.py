"""Poll PCN EMIS Community connections once, with the same code as the beat task.

Exit status: 0 when every poll succeeded; 1 when any failed; 3 when none failed
but one was skipped because another poll of that connection held its lease (so
an outside monitor can tell a skipped poll from a good one)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emis_integration.client import EmisError
from emis_integration.models import EmisConnection
from tracing.models import PollRunStatus
from tracing.poller import PollRefused, live_pcn_connections, poll_connection

EXIT_SKIPPED = 3


class Command(BaseCommand):
    help = "Poll live PCN EMIS Community connections for new, moved and cancelled appointments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--connection", type=int, help="Poll only this EMIS connection (its id)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["connection"] is not None:
            connection = (
                EmisConnection.objects.select_related("organisation")
                .filter(pk=options["connection"])
                .first()
            )
            if connection is None:
                raise CommandError(f"There is no EMIS connection with id {options['connection']}.")
            connections = [connection]
        else:
            connections = live_pcn_connections()
            if not connections:
                self.stdout.write("There are no live PCN connections to poll.")
                return
        failed = skipped = 0
        for connection in connections:
            label = f"{connection.organisation.ods_code} (connection {connection.pk})"
            try:
                run = poll_connection(connection=connection)
            except PollRefused as exc:
                raise CommandError(str(exc)) from exc
            except EmisError as exc:
                failed += 1
                self.stderr.write(
                    f"{label}: EMIS failed: {exc}. Nothing was changed for what was not read."
                )
                continue
            if run.status == PollRunStatus.FAILED:
                failed += 1
                self.stderr.write(f"{label}: failed: {run.error}.")
            elif run.status == PollRunStatus.SKIPPED:
                skipped += 1
                self.stderr.write(f"{label}: skipped: {run.error}")
            else:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{label}: {run.sessions_listed} sessions listed, "
                        f"{run.sessions_fetched} read, {run.appointments_seen} booked slots seen; "
                        f"tasks: {run.created} created, {run.cancelled} cancelled, "
                        f"{run.moved} re-dated, {run.updated} otherwise updated "
                        f"({run.emis_calls} EMIS calls)."
                    )
                )
        if failed:
            raise CommandError(f"{failed} of {len(connections)} polls failed.")
        if skipped:
            self.stderr.write(
                f"{skipped} of {len(connections)} polls skipped: nothing was read for "
                f"{'it' if skipped == 1 else 'them'} this time."
            )
            raise SystemExit(EXIT_SKIPPED)
