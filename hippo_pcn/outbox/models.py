"""The transactional outbox: Celery tasks to run after a commit, written as rows in
the same transaction as the change that calls for them, so a broker that is down
or hung at commit time loses nothing. A relay (hippo_pcn/outbox/services.py)
publishes them to Celery and retries until the broker accepts them."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class OutboxMessageQuerySet(models.QuerySet["OutboxMessage"]):
    def unpublished(self) -> OutboxMessageQuerySet:
        return self.filter(published_at__isnull=True)

    def due(self, *, now: object = None) -> OutboxMessageQuerySet:
        """Unpublished and due: not waiting for a back-off or another publisher's lease."""
        return self.unpublished().filter(available_at__lte=now or timezone.now())


class OutboxMessage(models.Model):
    """One Celery task to publish: its registered name, JSON args and kwargs."""

    task = models.CharField(max_length=200, help_text="The Celery task's registered name.")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # Optional: at most one unpublished row per key (e.g. one slot refresh per campaign).
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    # The Celery task id it is published with: the same on every try.
    task_id = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # When it may next be published: now, after a back-off, or after a publisher's lease.
    available_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    objects = OutboxMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outbox message"
        indexes = [
            # The relay's query: unpublished, due, oldest first.
            models.Index(
                fields=["available_at", "id"],
                condition=models.Q(published_at__isnull=True),
                name="outbox_unpublished_due",
            ),
            # Pruning published rows by age.
            models.Index(
                fields=["published_at"],
                condition=models.Q(published_at__isnull=False),
                name="outbox_published_at",
            ),
            models.Index(fields=["created_at", "id"], name="outbox_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=models.Q(published_at__isnull=True) & ~models.Q(dedupe_key=""),
                name="outbox_one_unpublished_per_dedupe_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None
