"""The Celery application: configured from Django settings (CELERY_* names) and
finding tasks in every installed app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hippo_pcn.settings.local")

app = Celery("hippo_pcn")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
