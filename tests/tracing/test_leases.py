"""Leases that recover: a poll renews its lease on the connection after every
page, so a poll whose process was killed is taken over within two pages' time;
the run a dead process left `running` is marked failed with the reason; a
skipped poll exits with its own status; a success clears the last error."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.utils import timezone

from tracing.models import PollCursor, PollRun, PollRunStatus
from tracing.poller import poll_connection
from tracing.poller.sweep import Lease, LeaseLost, lease_span

from .helpers import simulate

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
import django
django.setup()
from django.utils import timezone
from tracing.models import PollCursor
from tracing.poller.sweep import Lease

cursor = PollCursor.objects.get(pk=int(sys.argv[1]))
lease = Lease.acquire(cursor=cursor, now=timezone.now())
print("held" if lease else "refused", flush=True)
while lease:
    time.sleep(0.1)
    lease.beat()  # one "page" every 0.1 s, renewed at most once a second
"""


def _holder(cursor_id: int, page_seconds: float) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hippo_pcn.settings.test",
        "TEST_DATABASE_URL": (
            "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**db_connection.settings_dict)
        ),
        "TRACING_POLL_PAGE_SECONDS": str(page_seconds),
    }
    process = subprocess.Popen(  # noqa: S603 - our own code
        [sys.executable, "-c", HOLDER, str(cursor_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def _take_over_within(cursor: PollCursor, seconds: float) -> float | None:
    """Seconds until a new lease is won, or None if not within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        lease = Lease.acquire(cursor=cursor, now=timezone.now())
        if lease is not None:
            lease.release()
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_a_killed_polls_lease_is_taken_over_within_two_pages_time(
    transactional_db, settings, live_pcn_a
):
    page = 1.0  # seconds: the lease holds for 2 s without a heartbeat
    settings.TRACING_POLL_PAGE_SECONDS = page
    cursor, _ = PollCursor.objects.get_or_create(connection=live_pcn_a)
    holder = _holder(cursor.pk, page)
    try:
        # While the holder beats, nobody takes its lease, even after several spans.
        assert _take_over_within(cursor, 3 * 2 * page) is None
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        waited = _take_over_within(cursor, 2 * page + 1.5)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert waited is not None, "the dead poll's lease was not taken over in time"
    assert waited <= 2 * page + 1.0


def test_a_lease_taken_over_makes_the_old_poll_stop_saving(db, settings, live_pcn_a):
    settings.TRACING_POLL_PAGE_SECONDS = 0.05
    cursor, _ = PollCursor.objects.get_or_create(connection=live_pcn_a)
    old = Lease.acquire(cursor=cursor, now=timezone.now())
    assert old is not None
    later = timezone.now() + lease_span() + timedelta(seconds=1)
    new = Lease.acquire(cursor=cursor, now=later)
    assert new is not None
    with pytest.raises(LeaseLost):
        old.renew(now=later)


def test_a_run_left_running_by_a_dead_process_is_marked_failed(pcn_connection, settings):
    simulate(2)
    now = timezone.now()
    dead = PollRun.objects.create(connection=pcn_connection, started_at=now - timedelta(minutes=7))
    assert dead.status == PollRunStatus.RUNNING
    run = poll_connection(connection=pcn_connection)
    assert run.status == PollRunStatus.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == PollRunStatus.FAILED
    assert dead.finished_at is not None
    assert "stopped without finishing" in dead.error
    assert not PollRun.objects.filter(status=PollRunStatus.RUNNING).exists()


def test_a_success_clears_the_last_error_which_stays_in_the_runs(pcn_connection, pcn_world):
    simulate(2)
    pcn_world.faults("U10001", reject_auth=True)
    failed = poll_connection(connection=pcn_connection)
    assert failed.status == PollRunStatus.FAILED
    cursor = PollCursor.objects.get(connection=pcn_connection)
    assert cursor.last_error == failed.error and cursor.last_error_at is not None
    pcn_world.faults("U10001", reject_auth=False)
    assert poll_connection(connection=pcn_connection).status == PollRunStatus.SUCCEEDED
    cursor.refresh_from_db()
    assert (cursor.last_error, cursor.last_error_at) == ("", None)
    # The history keeps it.
    assert PollRun.objects.get(pk=failed.pk).error == failed.error


def test_a_skipped_poll_exits_with_its_own_status_and_says_why(pcn_connection):
    simulate(1)
    PollCursor.objects.update_or_create(
        connection=pcn_connection,
        defaults={
            "lease_token": "someone-else",
            "lease_until": timezone.now() + timedelta(minutes=5),
        },
    )
    err = io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command(
            "poll_pcn_appointments",
            "--connection",
            str(pcn_connection.pk),
            stdout=io.StringIO(),
            stderr=err,
        )
    assert stopped.value.code == 3
    assert "skipped: Another poll of this connection is running" in err.getvalue()
    assert "lease holds until" in err.getvalue()
