"""The production process layout, for real: every line of Procfile.production (gunicorn
with two workers, one Celery worker per queue and one beat with the database scheduler)
runs as its own process against PostgreSQL and Redis. A practice admin signs in and
books a patient into a PCN slot over HTTP through gunicorn (whose app also serves the
EMIS sandbox); the slot refresh runs on the `default` worker, the patient's confirmation
on the `messages` worker, and beat's poll fan-out on the `poll` worker, which polls the
PCN's EMIS and records the poll."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from booking.models import Booking, BookingStatus, Campaign
from booking.selectors import campaign_offerable_slots
from emis_integration.sandbox import models as sandbox
from tests.booking.factories import PatientFactory
from tests.emis_world import EmisWorld, at
from tests.factories import TEST_PASSWORD
from tracing.models import PollRun, PollRunStatus

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60  # the longest any one step may take


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile.production").read_text().splitlines()
    found = (re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line) for line in lines)
    return {match.group(1): match.group(2) for match in found if match}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(what: str, check: Callable[[], Any], stack: Stack) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        stack.assert_running()
        time.sleep(0.3)
    pytest.fail(f"waited {WAIT_SECONDS} s for {what}\n{stack.tails()}")


@dataclass
class Stack:
    """The processes of Procfile.production, each logging to its own file."""

    base_url: str
    logs: Path
    messages_file: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)[-2500:]}" for name in self.processes)

    def assert_running(self) -> None:
        stopped = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if stopped:
            pytest.fail(f"processes stopped: {stopped}\n{self.tails()}")

    def messages(self) -> list[dict[str, Any]]:
        if not self.messages_file.exists():
            return []
        return [json.loads(line) for line in self.messages_file.read_text().splitlines()]


def _start(name: str, command: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    # At a lower CPU priority: on a two-core machine they start while the other test
    # worker runs tests with tight time bounds, which must not be slowed by these.
    nice = [found, "-n", "10"] if (found := shutil.which("nice")) else []
    with (logs / f"{name}.log").open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own Procfile, run as a Procfile runner would
            [*nice, "/bin/sh", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each main process, as a supervisor stops them (gunicorn's master
    stops its workers, a Celery worker its pool); what is left after 20 s is killed."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes.values():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def stack(transactional_db, tmp_path) -> Iterator[Stack]:
    """Procfile.production's processes against this test's (committed) database and
    Redis, under a broker key prefix of their own; stopped, and their keys deleted,
    whatever the test does."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    broker_prefix = f"hippo-e2e-{uuid.uuid4().hex[:12]}:"
    logs = tmp_path / "logs"
    logs.mkdir()
    db = db_connection.settings_dict
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
        + os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "tests.e2e.production_processes_settings",
        "TEST_DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**db),
        "HIPPO_E2E_BROKER_PREFIX": broker_prefix,
        "HIPPO_E2E_BASE_URL": base_url,
        "HIPPO_E2E_MESSAGES_FILE": str(tmp_path / "messages.jsonl"),
        # gunicorn: two workers on a loopback port, quick to stop.
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
        "GUNICORN_GRACEFUL_TIMEOUT": "2",
        # One pool process per queue's worker: this runs on two cores beside other tests.
        "POLL_WORKER_CONCURRENCY": "1",
        "MESSAGES_WORKER_CONCURRENCY": "1",
        "DEFAULT_WORKER_CONCURRENCY": "1",
        # Beat fans the polls out every 2 seconds.
        "TRACING_POLL_INTERVAL_SECONDS": "2",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "PORT"):
        env.pop(name, None)
    made = Stack(base_url=base_url, logs=logs, messages_file=tmp_path / "messages.jsonl")
    try:
        for name, command in _procfile().items():
            made.processes[name] = _start(name, command, env, logs)
        yield made
    finally:
        _stop(made.processes)
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        try:
            keys = list(broker.scan_iter(match=f"{broker_prefix}*", count=500))
            if keys:
                broker.delete(*keys)
        finally:
            broker.close()


def _web_ready(stack: Stack, client: httpx.Client) -> None:
    """gunicorn answers. The workers need no waiting for: what is queued before one is
    up waits in its queue, and each step below waits for its result."""

    def answers() -> bool:
        try:
            return client.get("/accounts/login/").status_code == 200
        except httpx.TransportError:
            return False

    _wait_for("gunicorn to answer", answers, stack)


def _post(client: httpx.Client, path: str, data: dict[str, Any]) -> httpx.Response:
    token = client.cookies.get("csrftoken")
    assert token, "no CSRF cookie yet"
    return client.post(path, data={**data, "csrfmiddlewaretoken": token})


def test_one_booking_and_one_poll_through_the_production_processes(
    stack, practice_admin, pcn_a, practice_a, practice_a2
):
    world = EmisWorld(base_url=stack.base_url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    world.slots("A10001", [at(2, 9)])
    world.slots("U10001", [at(2, 10)])
    patient = PatientFactory(practice=practice_a)
    pcn_connection = world.connections["U10001"]

    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        _web_ready(stack, client)

        # The practice admin signs in with their password (no second factor in tests).
        signed_in = _post(
            client,
            "/accounts/login/",
            {"username": practice_admin.username, "password": TEST_PASSWORD},
        )
        assert signed_in.status_code == 302, signed_in.text[-2000:]

        # A campaign offering the PCN's flu slots: its slot refresh is queued through
        # the outbox and runs on the `default` worker.
        today = timezone.localdate()
        created = _post(
            client,
            "/booking/practices/A10001/campaigns/new/",
            {
                "name": "Production flu clinic",
                "appointment_type": "Flu vaccination",
                "start_date": today.isoformat(),
                "end_date": (today + timedelta(days=10)).isoformat(),
                "use_pcn_slots": "on",
                "slot_service_types": "Flu vaccination",
                "status": "active",
                "message_patients_on_staff_changes": "on",
            },
        )
        assert created.status_code == 302, created.text[-2000:]
        campaign = Campaign.objects.get(name="Production flu clinic")
        pcn_slot = _wait_for(
            "the default worker to mirror the PCN's slots",
            lambda: campaign_offerable_slots(campaign=campaign).filter(is_pcn=True).first(),
            stack,
        )
        added = _post(client, f"/booking/campaigns/{campaign.pk}/add-all-patients/", {})
        assert added.status_code == 302

        # Book the patient into the PCN's slot, with their consent, through gunicorn.
        booked_at = timezone.now()
        booked = _post(
            client,
            f"/booking/campaigns/{campaign.pk}/patients/{patient.pk}/book/",
            {"slot": pcn_slot.pk, "pcn_consent": "on"},
        )
        assert booked.status_code == 302, booked.text[-2000:]

        # An invitation link's token never reaches gunicorn's access log.
        secret = "T" * 43
        client.get(f"/book/{secret}/")

    booking = Booking.objects.get(campaign=campaign, patient=patient)
    assert booking.status == BookingStatus.BOOKED
    assert booking.emis_appointment_id
    in_emis = sandbox.Appointment.objects.get(pk=int(booking.emis_appointment_id))
    assert in_emis.status == sandbox.AppointmentStatus.BOOKED
    assert in_emis.organisation.ods_code == "U10001"
    assert in_emis.patient_nhs_number == patient.nhs_number

    # The patient's confirmation went through the outbox to the `messages` worker.
    confirmation = _wait_for(
        "the messages worker to send the confirmation",
        lambda: [m for m in stack.messages() if m["kind"] == "confirmation"],
        stack,
    )
    assert len(confirmation) == 1

    # Beat's fan-out reached the `poll` worker, which polled the PCN's EMIS after the
    # booking was made.
    poll = _wait_for(
        "a poll of the PCN's EMIS after the booking",
        lambda: PollRun.objects.filter(
            connection=pcn_connection,
            status=PollRunStatus.SUCCEEDED,
            started_at__gte=booked_at,
        ).first(),
        stack,
    )
    assert poll.emis_calls >= 1

    # Each task ran on its own queue's worker, and only there. A worker writes its
    # "succeeded" line after the task's effects are visible, so wait for each line.
    ran = {
        "worker_poll": "tracing.tasks.poll_pcn_connection",
        "worker_messages": "booking.tasks.send_booking_message",
        "worker_default": "booking.tasks.refresh_campaign_slots",
    }
    for worker, task in ran.items():
        pattern = re.compile(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded")
        _wait_for(
            f"{worker} to log {task} succeeded",
            lambda worker=worker, pattern=pattern: pattern.search(stack.log(worker)),
            stack,
        )
    logs = {name: stack.log(name) for name in stack.processes}
    assert re.search(r"\.> poll\s+exchange=poll", logs["worker_poll"])
    assert re.search(r"\.> messages\s+exchange=messages", logs["worker_messages"])
    assert re.search(r"\.> default\s+exchange=default", logs["worker_default"])
    for worker, task in ran.items():
        assert re.search(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded", logs[worker]), worker
        for other in set(ran) - {worker}:
            assert f"Task {task}[" not in logs[other], (task, other)
    assert "Sending due task tracing-poll-all-pcn-connections" in logs["beat"]
    assert "DatabaseScheduler" in logs["beat"]

    # gunicorn's access log (stdout) has the requests, with the link's token redacted.
    assert re.search(r'"POST /booking/campaigns/\d+/patients/\d+/book/ HTTP/1.1" 302', logs["web"])
    assert "/book/[redacted]" in logs["web"]
    assert secret not in logs["web"]
