"""The scheduled digest's send-once mark."""

from __future__ import annotations

from django.db import models


class DigestSent(models.Model):
    """One row per owner organisation and hour in which the scheduled digest went
    out, written in the same transaction as the send. A second beat (there must
    be one; if two run for a while) or a redelivered task finds the row and sends
    nothing, so staff never get the same digest twice."""

    owner = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField(help_text="The start of the hour (UTC) the digest is for.")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "digest sent"
        verbose_name_plural = "digests sent"
        constraints = [
            models.UniqueConstraint(fields=["owner", "hour"], name="digest_sent_once_an_hour")
        ]

    def __str__(self) -> str:
        return f"Digest for organisation {self.owner_id} at {self.hour:%Y-%m-%d %H:00} UTC"
