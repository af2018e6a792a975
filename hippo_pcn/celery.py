"""The Celery application: configured from Django settings (CELERY_* names) and
finding tasks in every installed app."""

import os

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hippo_pcn.settings.local")

app = Celery("hippo_pcn")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tune_gc_in_pool_process(**_: object) -> None:
    # Each prefork pool process, once set up: see hippo_pcn/gc_tuning.py.
    from hippo_pcn.gc_tuning import tune_gc_for_worker

    tune_gc_for_worker()


@setup_logging.connect
def _use_django_logging(**_: object) -> None:
    """The worker and beat log through Django's LOGGING (its redacting handler)
    instead of installing their own, unfiltered, handlers on the root logger."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@beat_init.connect
def _alerts_in_beat(**_: object) -> None:
    """Beat checks the health alerts in a thread of its own: a dead worker or
    broker cannot stop it telling support (hippo_pcn/health/alerts.py)."""
    from hippo_pcn.health.alerts import start_alert_thread

    start_alert_thread(runner="beat")


@worker_ready.connect
def _alerts_in_worker(**_: object) -> None:
    """And so does each worker's main process: a dead beat cannot stop it."""
    from hippo_pcn.health.alerts import start_alert_thread

    start_alert_thread(runner="worker")
