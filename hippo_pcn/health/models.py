from django.db import models


class Heartbeat(models.Model):
    """The last time a periodic job proved it runs: beat schedules the
    heartbeat task, a worker runs it, and the row's time moves on."""

    name = models.CharField(max_length=64, primary_key=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%Y-%m-%d %H:%M:%S}"


class HealthAlert(models.Model):
    """One alert support is told about once: `raised_at` is set (compare-and-swap,
    so whichever of beat, a worker or the cron command sees the problem first
    sends the email, and nobody sends it twice) and cleared when it recovers."""

    name = models.CharField(max_length=64, primary_key=True)
    raised_at = models.DateTimeField(null=True, blank=True)
    raised_by = models.CharField(
        max_length=40, blank=True, help_text="Which process raised it: beat, worker or command."
    )
    detail = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {'raised' if self.raised_at else 'clear'}"
