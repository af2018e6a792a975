"""Celery's three queues: every task of the project is routed on purpose to `poll`,
`messages` or `default`, the poller and reconciliation on `poll`, patient messages and
the outbox relay on `messages`; and the process files consume every queue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from celery.app.routes import Router, prepare

from hippo_pcn.celery import app
from hippo_pcn.settings import base

ROOT = Path(__file__).resolve().parent.parent
QUEUES = {"default", "poll", "messages"}
# Celery's router with the routes every environment but the tests uses (the test
# settings keep every task on the default queue, for the outbox tests' worker).
ROUTER = Router(prepare(base.CELERY_TASK_ROUTES), app.amqp.queues, create_missing=True, app=app)


def _project_tasks() -> list[str]:
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def _queue_of(name: str) -> str:
    return ROUTER.route({}, name)["queue"].name


def test_the_project_has_tasks_to_route():
    # Guards the tests below against passing on an empty list.
    assert len(_project_tasks()) >= 15


def test_every_task_is_named_in_the_routes_and_lands_on_one_of_the_three_queues():
    tasks = _project_tasks()
    unrouted = [name for name in tasks if name not in base.CELERY_TASK_ROUTES]
    assert unrouted == [], "add these to CELERY_TASK_ROUTES (hippo_pcn/settings/base.py)"
    stale = sorted(set(base.CELERY_TASK_ROUTES) - set(tasks))
    assert stale == [], "CELERY_TASK_ROUTES names tasks that do not exist"
    assert {name: _queue_of(name) for name in tasks if _queue_of(name) not in QUEUES} == {}
    # Each queue on its own exchange and routing key: a message goes to one queue only.
    assert {(q.name, q.exchange.name, q.routing_key) for q in app.conf.task_queues} == {
        (queue, queue, queue) for queue in QUEUES
    }
    assert app.conf.task_default_queue == base.CELERY_TASK_DEFAULT_QUEUE == "default"


@pytest.mark.parametrize(
    "name",
    [
        "tracing.tasks.poll_all_pcn_connections",  # beat's fan-out
        "tracing.tasks.poll_pcn_connection",  # one poll of one PCN connection
        "booking.tasks.reconcile_emis_bookings",  # settles bookings of unknown outcome
        "tracing.tasks.auto_verify_due_tasks",  # asks EMIS about soon-due tasks
    ],
)
def test_the_poller_and_reconciliation_go_to_poll(name):
    assert _queue_of(name) == "poll"


@pytest.mark.parametrize(
    "name",
    [
        "booking.tasks.send_invites",
        "booking.tasks.send_reminder",
        "booking.tasks.send_booking_message",
        "booking.tasks.send_campaign_wave",
        "booking.tasks.send_invite_waves",
        "booking.tasks.send_campaign_reminders",
        "booking.tasks.send_invite_reminders",
        "hippo_pcn.outbox.tasks.relay_outbox",
    ],
)
def test_patient_messages_and_the_outbox_relay_go_to_messages(name):
    assert _queue_of(name) == "messages"


@pytest.mark.parametrize(
    "name",
    [
        "booking.tasks.refresh_campaign_slots",
        "hippo_pcn.health.tasks.beat_heartbeat",
        "tracing.tasks.send_tracing_digests",
        "emis_integration.tasks.send_onboarding_live_email",
    ],
)
def test_everything_else_goes_to_default(name):
    assert _queue_of(name) == "default"


def test_a_task_published_by_name_is_routed_like_the_task_itself():
    # The outbox relay publishes by name (app.send_task): the same router applies.
    options = ROUTER.route({}, "booking.tasks.send_booking_message", args=[1, 2, "x"])
    assert options["queue"].name == "messages"
    assert options["queue"].routing_key == "messages"


def _procfile(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if re.match(r"^[A-Za-z0-9_-]+:", line.strip()))


def _queues_consumed(command: str) -> set[str]:
    found = re.search(r"(?:-Q|--queues)[ =](\S+)", command)
    assert found, command
    return set(found.group(1).split(","))


def test_the_demo_worker_consumes_every_queue():
    demo = _procfile("Procfile")
    workers = [command for name, command in demo.items() if " worker " in command]
    assert len(workers) == 1
    assert _queues_consumed(workers[0]) == QUEUES


def test_production_runs_a_worker_per_queue_web_under_gunicorn_and_one_beat():
    production = _procfile("Procfile.production")
    assert set(production) == {"web", "worker_poll", "worker_messages", "worker_default", "beat"}
    assert production["web"].split()[0] == "gunicorn"
    for queue in QUEUES:
        command = production[f"worker_{queue}"]
        assert _queues_consumed(command) == {queue}
        assert "--max-tasks-per-child" in command
        assert "--prefetch-multiplier=1" in command
    beats = [command for command in production.values() if " beat" in command]
    assert len(beats) == 1
    assert "django_celery_beat.schedulers:DatabaseScheduler" in beats[0]
